"""``localctl chats``: list, export (Markdown) and delete saved conversations."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from localctl.conversations import Conversation


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``chats`` verb and its ``list``, ``export`` and ``delete`` actions."""
    parser = subparsers.add_parser(
        "chats",
        help="list, export or delete saved conversations",
        description="Conversations are saved as you chat (TUI and `localctl chat`). "
        "ID may be a unique prefix of a conversation id, or `last` for the newest.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="saved conversations, newest first")
    listing.add_argument("--json", action="store_true", help="print one JSON document")
    listing.set_defaults(run=run_list)
    export = actions.add_parser("export", help="a conversation as Markdown (or JSON)")
    export.add_argument("id", metavar="ID")
    export.add_argument(
        "-o", "--output", metavar="FILE", help="write to FILE (mode 0600) instead of stdout"
    )
    export.add_argument("--json", action="store_true", help="one JSON document, not Markdown")
    export.add_argument("--force", action="store_true", help="overwrite an existing FILE")
    export.set_defaults(run=run_export)
    delete = actions.add_parser("delete", help="delete a conversation")
    delete.add_argument("id", metavar="ID")
    delete.add_argument("--json", action="store_true", help="print one JSON document")
    delete.set_defaults(run=run_delete)


def resolve_path(conversation_id: str) -> Path:
    """The file of conversation ``conversation_id`` (exact id, unique prefix or ``last``).

    Raises:
        BadInputError: no conversation matches, or the prefix matches several.
    """
    from localctl import paths
    from localctl.errors import BadInputError

    folder = paths.conversations_dir()
    files = sorted(folder.glob("*.jsonl"), reverse=True) if folder.is_dir() else []
    if conversation_id == "last":
        if not files:
            raise BadInputError("no saved conversations")
        return files[0]
    if not conversation_id or "/" in conversation_id or conversation_id.startswith("."):
        raise BadInputError(f"no saved conversation {conversation_id!r}")
    exact = [f for f in files if f.stem == conversation_id]
    matches = exact or [f for f in files if f.stem.startswith(conversation_id)]
    if not matches:
        raise BadInputError(
            f"no saved conversation {conversation_id!r} (see `localctl chats list`)"
        )
    if len(matches) > 1:
        ids = ", ".join(f.stem for f in matches[:3])
        more = ", …" if len(matches) > 3 else ""
        raise BadInputError(
            f"{conversation_id!r} matches {len(matches)} conversations: {ids}{more}"
        )
    return matches[0]


def load_conversation(conversation_id: str) -> Conversation:
    """Load conversation ``conversation_id`` (see :func:`resolve_path`).

    Raises:
        BadInputError: no such conversation.
        ChatError: the file is corrupt or unreadable.
    """
    from localctl.conversations import load
    from localctl.errors import ChatError

    path = resolve_path(conversation_id)
    try:
        return load(path)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as error:
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ChatError(f"conversation {path.stem} is corrupt or unreadable: {detail}") from error


def _summary(conversation: Conversation) -> dict[str, Any]:
    from localctl.conversations import summary_document

    return {
        **summary_document(conversation),
        "messages": len(conversation.messages),
        "path": str(conversation.path),
    }


def run_list(args: argparse.Namespace) -> int:
    """Run ``localctl chats list``."""
    from localctl.conversations import list_conversations, started
    from localctl.output import emit_json, table

    conversations, warnings = list_conversations()
    for warning in warnings:
        print(f"localctl: {warning}", file=sys.stderr)
    if args.json:
        emit_json({"conversations": [_summary(c) for c in conversations], "warnings": warnings})
        return 0
    if not conversations:
        print("no saved conversations")
        return 0
    rows = [
        [
            c.id,
            started(c),
            c.model or "-",
            c.status or "-",
            str(len(c.messages)),
            " ".join((c.title or "").split())[:60],
        ]
        for c in conversations
    ]
    print(table(rows, ["ID", "date", "model", "status", "messages", "title"]))
    return 0


def run_export(args: argparse.Namespace) -> int:
    """Run ``localctl chats export``."""
    import json
    import os

    from localctl import paths
    from localctl.conversations import export_document, export_markdown
    from localctl.errors import BadInputError, LocalctlError

    conversation = load_conversation(args.id)
    if args.json:
        text = json.dumps(export_document(conversation), indent=2, sort_keys=True) + "\n"
    else:
        text = export_markdown(conversation)
    if args.output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return 0
    target = Path(args.output).expanduser()
    if target.exists() and not args.force:
        raise BadInputError(f"{target} exists; pass --force to overwrite it")
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | (0 if args.force else os.O_EXCL)
        with os.fdopen(paths.open_private(target, flags), "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as error:
        raise LocalctlError(f"cannot write {target}: {error.strerror or error}") from error
    print(f"exported to {target}", file=sys.stderr)
    return 0


def run_delete(args: argparse.Namespace) -> int:
    """Run ``localctl chats delete``."""
    from localctl.output import emit_json

    path = resolve_path(args.id)
    path.unlink(missing_ok=True)
    if args.json:
        emit_json({"deleted": path.stem})
    else:
        print(f"deleted {path.stem}")
    return 0

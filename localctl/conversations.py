"""Conversations saved as you go: one append-only JSONL file each, mode 0600.

Line 1 is a header (``{"type": "conversation", "id", "created", "title"}``); each
later line is a message (``{"type": "message", "role", "content"}``) or, while a
reply streams, a delta (``{"type": "delta", "text"}``) closed by an ``end`` line
carrying the reply's status. A kill mid-reply loses only the text not yet flushed;
loading folds unclosed deltas into a reply marked ``interrupted``. A corrupt file is
reported and skipped; a truncated last line is ignored.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localctl import paths
from localctl.sanitize import printable

FLUSH_INTERVAL_S = 0.25


@dataclass(slots=True)
class Conversation:
    """A saved conversation."""

    id: str
    path: Path
    title: str = ""
    messages: list[dict[str, str]] = field(default_factory=list)
    skipped_lines: int = 0
    """Lines of the file that were not readable records (see :func:`load`)."""
    _pending: list[str] = field(default_factory=list)
    _last_flush: float = 0.0

    @classmethod
    def new(cls, title: str = "") -> Conversation:
        """Start a conversation file in the data dir."""
        folder = paths.ensure_private_dir(paths.conversations_dir())
        conv_id = time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)
        conversation = cls(id=conv_id, path=folder / f"{conv_id}.jsonl", title=title)
        conversation._append(
            {"type": "conversation", "id": conv_id, "created": time.time(), "title": title}
        )
        return conversation

    def _append(self, record: dict[str, Any]) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    def add(self, role: str, content: str, status: str = "complete") -> None:
        """Append a whole message."""
        self.messages.append({"role": role, "content": content})
        self._append({"type": "message", "role": role, "content": content, "status": status})

    def delta(self, text: str) -> None:
        """Record streamed reply text; flushed to disk at most every 0.25 s."""
        self._pending.append(text)
        now = time.monotonic()
        if now - self._last_flush >= FLUSH_INTERVAL_S:
            self.flush()
            self._last_flush = now

    def flush(self) -> None:
        """Write pending reply text now."""
        if self._pending:
            self._append({"type": "delta", "text": "".join(self._pending)})
            self._pending.clear()

    def end_reply(self, text: str, status: str) -> None:
        """Close a streamed reply with its final text and status."""
        self.flush()
        self.messages.append({"role": "assistant", "content": text})
        self._append({"type": "end", "text": text, "status": status})


def load(path: Path) -> Conversation:
    """Read a conversation file.

    Its text was written by a model or a user: it comes back cleaned of terminal
    control sequences (:func:`localctl.sanitize.printable`). A line that is not a
    record of the expected shape (cut short by a crash, or damaged) is skipped.

    Raises:
        ValueError: the file is not a conversation (bad header or unreadable).
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    try:
        header = json.loads(lines[0]) if lines else {}
    except json.JSONDecodeError:
        header = None
    if not isinstance(header, dict) or header.get("type") != "conversation":
        raise ValueError(f"{path.name}: not a conversation file")
    conversation = Conversation(
        id=printable(header.get("id", path.stem)),
        path=path,
        title=printable(header.get("title", "")),
    )
    partial: list[str] = []
    for line in lines[1:]:
        record = _record(line)
        if record is None:
            conversation.skipped_lines += 1
            continue
        kind = record["type"]
        if kind == "message":
            conversation.messages.append({"role": record["role"], "content": record["content"]})
        elif kind == "delta":
            partial.append(record["text"])
        elif kind == "end":
            conversation.messages.append({"role": "assistant", "content": record["text"]})
            partial.clear()
    if partial:
        conversation.messages.append(
            {"role": "assistant", "content": "".join(partial), "status": "interrupted"}
        )
    return conversation


_FIELDS = {"message": ("role", "content"), "delta": ("text",), "end": ("text",)}


def _record(line: str) -> dict[str, str] | None:
    """One line as a record with cleaned string fields, or None when it is not one."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(record, dict) or record.get("type") not in _FIELDS:
        return None
    kind = record["type"]
    fields = _FIELDS[kind]
    if not all(isinstance(record.get(name), str) for name in fields):
        return None
    return {"type": kind, **{name: printable(record[name]) for name in fields}}


def list_conversations() -> tuple[list[Conversation], list[str]]:
    """Every readable conversation (newest first) and one warning per corrupt file."""
    folder = paths.conversations_dir()
    found: list[Conversation] = []
    warnings: list[str] = []
    for path in sorted(folder.glob("*.jsonl"), reverse=True) if folder.is_dir() else []:
        try:
            conversation = load(path)
        except (OSError, ValueError, UnicodeDecodeError) as error:
            warnings.append(f"skipped corrupt conversation {path.name}: {error}")
            continue
        found.append(conversation)
        if conversation.skipped_lines:
            warnings.append(
                f"conversation {conversation.id}: skipped {conversation.skipped_lines} "
                "damaged line(s)"
            )
    return found, warnings


def delete(conversation: Conversation) -> None:
    """Remove a conversation file."""
    conversation.path.unlink(missing_ok=True)


def export_markdown(conversation: Conversation) -> str:
    """The conversation as Markdown."""
    out = [f"# {conversation.title or conversation.id}", ""]
    for message in conversation.messages:
        out += [f"**{message['role']}**", "", message["content"], ""]
    return "\n".join(out)


def save_messages(
    conversation_id: str | None, messages: list[dict[str, str]], model: str = ""
) -> str:
    """Write a whole conversation at once (atomically, 0600); return its id.

    Used by callers that keep the history themselves (the TUI saves after each reply).
    """
    from localctl.config import atomic_write

    folder = paths.ensure_private_dir(paths.conversations_dir())
    if conversation_id is None:
        conversation_id = time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)
    title = next((m["content"] for m in messages if m.get("role") == "user"), "")[:60]
    header = {"type": "conversation", "id": conversation_id, "created": time.time(), "title": title}
    if model:
        header["model"] = model
    lines = [json.dumps(header)]
    lines += [
        json.dumps({"type": "message", "role": m["role"], "content": m["content"]})
        for m in messages
    ]
    atomic_write(folder / f"{conversation_id}.jsonl", ("\n".join(lines) + "\n").encode("utf-8"))
    return conversation_id


def open_conversation(conversation_id: str) -> Conversation:
    """Saved conversation ``conversation_id``, to read or to continue (appends go to its file).

    Raises:
        ChatError: no such conversation, or it is unreadable.
    """
    from localctl.errors import ChatError

    path = paths.conversations_dir() / f"{conversation_id}.jsonl"
    if "/" in conversation_id or not path.is_file():
        raise ChatError(f"no saved conversation {conversation_id!r}")
    try:
        return load(path)
    except (OSError, ValueError, KeyError) as error:
        raise ChatError(f"cannot read conversation {conversation_id}: {error}") from error

"""Conversations saved as you go: one append-only JSONL file each, mode 0600.

Line 1 is a header (``{"type": "conversation", "id", "created", "title"}``); each
later line is a message (``{"type": "message", "role", "content"}``) or, while a
reply streams, a delta (``{"type": "delta", "text"}``) closed by an ``end`` line
carrying the reply's status. A kill mid-reply loses only the text not yet flushed;
loading folds unclosed deltas into a reply marked ``interrupted``. A corrupt file is
reported and skipped; a truncated last line is ignored.

A turn reaches the disk once its reply does: the prompt is held until the first
reply text arrives (or the reply ends complete), and a request that fails before
any text is dropped with its prompt, so a refused or unreachable server leaves no
conversation behind. The header carries ``created`` (epoch seconds) and ``model``;
a reply's status (``stopped``, ``interrupted``) survives a reload.
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
    """``role``/``content`` dicts; a reply that did not complete also has ``status``."""
    skipped_lines: int = 0
    """Lines of the file that were not readable records (see :func:`load`)."""
    created: float = 0.0
    """Epoch seconds when it was started."""
    model: str = ""
    """The model it was held with (set before the first reply reaches the disk)."""
    _pending: list[str] = field(default_factory=list)
    _last_flush: float = 0.0
    _held: list[dict[str, Any]] = field(default_factory=list)
    """Records of the turn in progress, written once its reply produces text."""
    _saved: bool = True
    """False until the file exists (the header is written with the first turn)."""

    @classmethod
    def new(cls, title: str = "", model: str = "") -> Conversation:
        """Start a conversation; its file appears with the first reply (see the module doc)."""
        conv_id = time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)
        path = paths.conversations_dir() / f"{conv_id}.jsonl"
        return cls(
            id=conv_id, path=path, title=title, created=time.time(), model=model, _saved=False
        )

    @property
    def on_disk(self) -> bool:
        """True once the file exists (its first reply has begun)."""
        return self._saved

    @property
    def status(self) -> str:
        """Status of the last reply (``complete``, ``stopped``, ``interrupted``); empty if none."""
        for message in reversed(self.messages):
            if message["role"] == "assistant":
                return message.get("status", "complete")
        return ""

    def _append(self, record: dict[str, Any]) -> None:
        records = [record]
        if not self._saved:
            paths.ensure_private_dir(self.path.parent)
            header = {
                "type": "conversation",
                "id": self.id,
                "created": self.created,
                "title": self.title,
                "model": self.model,
            }
            records.insert(0, header)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write("".join(json.dumps(r) + "\n" for r in records))
        self._saved = True

    def _release(self) -> None:
        """Write the held records of this turn: its reply has begun."""
        held, self._held = self._held, []
        for record in held:
            self._append(record)

    def add(self, role: str, content: str, status: str = "complete") -> None:
        """Add a whole message; it reaches the disk with the reply that follows it."""
        message = {"role": role, "content": content}
        if status != "complete":
            message["status"] = status
        self.messages.append(message)
        self._held.append({"type": "message", "role": role, "content": content, "status": status})

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
            self._release()
            self._append({"type": "delta", "text": "".join(self._pending)})
            self._pending.clear()

    def end_reply(self, text: str, status: str) -> None:
        """Close a streamed reply with its final text and status.

        A reply that failed before any text (``status`` not ``complete``) drops its
        turn: nothing of it is written and the prompt leaves ``messages``.
        """
        if not text and status != "complete" and not self._pending:
            self.discard_turn()
            return
        self.flush()
        self._release()
        message = {"role": "assistant", "content": text}
        if status != "complete":
            message["status"] = status
        self.messages.append(message)
        self._append({"type": "end", "text": text, "status": status})

    def discard_turn(self) -> None:
        """Forget the turn in progress (its request failed): nothing of it is saved.

        A system prompt not yet written stays held for the next turn.
        """
        dropped = [r for r in self._held if r["role"] != "system"]
        self._held = [r for r in self._held if r["role"] == "system"]
        if dropped:
            del self.messages[-len(dropped) :]
        self._pending.clear()


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
    created = header.get("created")
    conversation = Conversation(
        id=printable(header.get("id", path.stem)),
        path=path,
        title=printable(header.get("title", "")),
        created=float(created) if isinstance(created, int | float) else path.stat().st_mtime,
        model=printable(header.get("model") or ""),
    )
    partial: list[str] = []

    def message(role: str, content: str, status: object) -> dict[str, str]:
        item = {"role": role, "content": content}
        if isinstance(status, str) and status and status != "complete":
            item["status"] = status
        return item

    for line in lines[1:]:
        record = _record(line)
        if record is None:
            conversation.skipped_lines += 1
            continue
        kind = record["type"]
        if kind == "message":
            conversation.messages.append(
                message(record["role"], record["content"], record.get("status"))
            )
        elif kind == "delta":
            partial.append(record["text"])
        elif kind == "end":
            conversation.messages.append(message("assistant", record["text"], record.get("status")))
            partial.clear()
    if partial:
        conversation.messages.append(message("assistant", "".join(partial), "interrupted"))
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
    cleaned = {"type": kind, **{name: printable(record[name]) for name in fields}}
    if record.get("status") in _STATUSES:
        cleaned["status"] = record["status"]
    return cleaned


_STATUSES = frozenset({"complete", "stopped", "interrupted"})
"""How a reply ended, as the file records it."""


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


def started(conversation: Conversation) -> str:
    """When ``conversation`` was started, local time, ``YYYY-MM-DD HH:MM``."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(conversation.created))


def export_markdown(conversation: Conversation) -> str:
    """The conversation as Markdown; a reply that did not complete says so after its role."""
    out = [f"# {conversation.title or conversation.id}", ""]
    about = [started(conversation)]
    if conversation.model:
        about.append(f"model {conversation.model}")
    out += [f"_{' · '.join(about)}_", ""]
    for message in conversation.messages:
        status = message.get("status", "complete")
        mark = f" ({status})" if status != "complete" else ""
        out += [f"**{message['role']}**{mark}", "", message["content"], ""]
    return "\n".join(out)


def summary_document(conversation: Conversation) -> dict[str, Any]:
    """What ``chats list --json`` and ``chats export --json`` say of a conversation."""
    return {
        "id": conversation.id,
        "title": conversation.title,
        "created": started(conversation),
        "created_s": conversation.created,
        "model": conversation.model,
        "status": conversation.status,
    }


def export_document(conversation: Conversation) -> dict[str, Any]:
    """The conversation as a JSON-ready document (``chats export --json``)."""
    return {
        **summary_document(conversation),
        "messages": [
            {
                "role": m["role"],
                "content": m["content"],
                "status": m.get("status", "complete"),
            }
            for m in conversation.messages
        ],
    }


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

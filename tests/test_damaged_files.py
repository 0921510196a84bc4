"""Damaged files on disk cost only themselves: no traceback, nothing else lost (issue 16)."""

from __future__ import annotations

import json

import pytest

from localctl.cli import main
from localctl.conversations import Conversation


def test_a_corrupt_conversation_line_is_skipped(capsys: pytest.CaptureFixture[str]) -> None:
    conversation = Conversation.new(title="tides")
    conversation.add("user", "hi")
    conversation.end_reply("hello", "complete")
    with conversation.path.open("a", encoding="utf-8") as handle:
        for line in ("5", "[1]", '"x"', "null", '{"type": "message", "role": 5}', '{"type": 3}'):
            handle.write(line + "\n")
        handle.write(json.dumps({"type": "message", "role": "user", "content": "after"}) + "\n")
    assert main(["chats", "list", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["conversations"][0]["messages"] == 3
    assert doc["warnings"] == [f"conversation {conversation.id}: skipped 6 damaged line(s)"]
    assert main(["chats", "export", "last"]) == 0
    assert "after" in capsys.readouterr().out

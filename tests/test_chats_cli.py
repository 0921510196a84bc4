"""``localctl chats``: list, export to Markdown, delete, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from localctl.cli import main
from localctl.conversations import Conversation, save_messages


def _saved(title: str = "Tell me about tides") -> Conversation:
    conversation = Conversation.new(title=title)
    conversation.add("user", title)
    conversation.delta("Tides come ")
    conversation.end_reply("Tides come from the **moon**.", "complete")
    return conversation


def _folder(home: Path) -> Path:
    return home / "data" / "conversations"


def test_list_shows_saved_conversations_newest_first(
    isolated_dirs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    older = save_messages("20240101-000000-aaaaaa", [{"role": "user", "content": "old one"}])
    newer = _saved()
    assert main(["chats", "list"]) == 0
    out = capsys.readouterr().out
    assert out.index(newer.id) < out.index(older)
    assert "Tell me about tides" in out
    assert main(["chats", "list", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [c["id"] for c in doc["conversations"]] == [newer.id, older]
    assert doc["conversations"][0]["messages"] == 2 and doc["warnings"] == []


def test_list_with_nothing_saved(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chats", "list"]) == 0
    assert capsys.readouterr().out.strip() == "no saved conversations"


def test_export_prints_markdown_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    conversation = _saved()
    assert main(["chats", "export", conversation.id]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Tell me about tides\n")
    assert "**user**" in out and "**assistant**" in out
    assert "Tides come from the **moon**." in out


def test_export_to_a_private_file_by_prefix_and_last(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conversation = _saved()
    target = tmp_path / "out.md"
    assert main(["chats", "export", conversation.id[:-2], "-o", str(target)]) == 0
    assert "Tides come from the **moon**." in target.read_text(encoding="utf-8")
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    assert capsys.readouterr().out == ""
    assert main(["chats", "export", "last"]) == 0
    assert "# Tell me about tides" in capsys.readouterr().out


def test_unknown_id_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    _saved()
    for argv in (["chats", "export", "nope"], ["chats", "delete", "nope"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "no saved conversation 'nope'" in err


def test_ambiguous_prefix_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    save_messages("20240101-000000-aaaaaa", [{"role": "user", "content": "a"}])
    save_messages("20240101-000000-bbbbbb", [{"role": "user", "content": "b"}])
    assert main(["chats", "export", "20240101"]) == 2
    assert "matches 2 conversations" in capsys.readouterr().err


@pytest.mark.parametrize(
    "content",
    [
        "not json at all\n",
        '{"type": "message", "role": "user", "content": "no header"}\n',
        "[]\n",
    ],
)
def test_corrupt_file_is_one_line_exit_1_and_still_deletable(
    isolated_dirs: Path, content: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _folder(isolated_dirs)
    folder.mkdir(parents=True)
    (folder / "20240101-000000-badbad.jsonl").write_text(content)
    assert main(["chats", "export", "20240101-000000-badbad"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is corrupt or unreadable" in err
    assert main(["chats", "list"]) == 0
    assert "skipped corrupt conversation" in capsys.readouterr().err
    assert main(["chats", "delete", "20240101-000000-badbad"]) == 0
    assert not any(folder.iterdir())


def test_delete_removes_the_file(isolated_dirs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conversation = _saved()
    assert main(["chats", "delete", conversation.id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"deleted": conversation.id}
    assert not conversation.path.exists()


def test_path_like_id_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chats", "delete", "../../etc/passwd"]) == 2
    assert "no saved conversation" in capsys.readouterr().err


def test_cli_subprocess_export_roundtrip() -> None:
    conversation = _saved("Subprocess export")
    result = subprocess.run(
        [sys.executable, "-m", "localctl", "chats", "export", conversation.id],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.startswith("# Subprocess export")

"""Text from outside reaches the terminal inert: no control sequences (issue 16 #2, #13)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from localctl.cli import main
from localctl.conversations import Conversation, load
from localctl.sanitize import guard_terminal, printable
from tests.fakesse import ESCAPES, HOSTILE_TOKENS, serve_fake_sse
from tests.fit_helpers import TinyModel, kv_str

CONTROL = ("\x1b", "\x07", "\x9b", "\x9d", "\r")


def assert_inert(text: str) -> None:
    assert not any(c in text for c in CONTROL), repr(text)


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain [b]text[/b]\n\tindented", "plain [b]text[/b]\n\tindented"),
        ("a\x1b[2Jb", "ab"),
        ("a\x1b[38;2;1;2;3mb\x1b[0m", "ab"),
        ("t\x1b]0;title\x07x", "tx"),
        ("t\x1b]52;c;Zm9v\x1b\\x", "tx"),
        ("t\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\", "tlink"),
        ("a\x1bPq#0;2;0;0;0\x1b\\b", "ab"),
        ("a\x9b2Jb\x9d0;t\x9cc", "abc"),
        ("a\x1bcb\x1b7c\x1b(Bd", "abcd"),
        ("bell\x07 bs\x08 nul\x00 del\x7f", "bell bs nul del"),
        ("line\r\nnext\rover", "line\nnextover"),
        ("unterminated \x1b]0;rest of it", "unterminated "),
        ("ünïcode 漢字 🙂", "ünïcode 漢字 🙂"),
    ],
)
def test_printable_removes_control_sequences_keeps_text(raw: str, shown: str) -> None:
    assert printable(raw) == shown


def test_terminal_writer_cleans_everything_but_progress_returns() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    stream = guard_terminal(tty)
    stream.write(f"\rdownloading 50%{ESCAPES}\n")
    assert tty.getvalue() == "\rdownloading 50%\n"
    piped = io.StringIO()
    assert guard_terminal(piped) is piped


def test_chat_reply_reaches_the_terminal_inert(capsys: pytest.CaptureFixture[str]) -> None:
    with serve_fake_sse("hostile") as url:
        assert main(["chat", "--url", url, "--prompt", "hi", "--api-key", "k"]) == 0
    out, err = capsys.readouterr()
    assert_inert(out + err)
    assert "[bold red]loud[/]" in out and out.startswith("safe ")
    saved = load(_latest())
    assert_inert(json.dumps(saved.messages, ensure_ascii=False))


def _latest() -> Path:
    from localctl import paths

    return sorted(paths.conversations_dir().glob("*.jsonl"))[-1]


def test_chat_json_text_is_clean(capsys: pytest.CaptureFixture[str]) -> None:
    with serve_fake_sse("hostile") as url:
        assert main(["chat", "--url", url, "--prompt", "hi", "--json", "--no-save"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["text"] == "safe " + "".join(HOSTILE_TOKENS[2:])


@pytest.mark.parametrize("mode", ["hostile_error", "http_error"])
def test_server_error_text_is_one_clean_line(mode: str, capsys: pytest.CaptureFixture[str]) -> None:
    with serve_fake_sse(mode) as url:
        code = main(["chat", "--url", url, "--prompt", "hi", "--no-save"])
    out, err = capsys.readouterr()
    assert code == 1
    assert_inert(out + err)
    assert err.count("\n") == 1 and len(err) < 400, err
    assert "[/]" in err


def test_hostile_chunk_shapes_are_skipped_not_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with serve_fake_sse("shapes", tokens=4) as url:
        code = main(["chat", "--url", url, "--prompt", "hi", "--json", "--no-save"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    assert doc["text"] == "w0 w1 w2 w3 "


def test_fit_shows_gguf_metadata_inert(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = TinyModel()
    kvs = [kv for kv in model.kvs() if b"general.name" not in kv]
    kvs.append(kv_str("general.name", f"tiny{ESCAPES}[/]"))
    path = tmp_path / "hostile.gguf"
    path.write_bytes(model.build(kvs=kvs))
    assert main(["fit", str(path), "--hw", "rtx4090"]) == 0
    out = capsys.readouterr().out
    assert_inert(out)
    assert out.startswith("tiny[/] ")


def test_chats_export_shows_stored_replies_inert(capsys: pytest.CaptureFixture[str]) -> None:
    conversation = Conversation.new(title=f"title{ESCAPES}")
    conversation.add("user", "hi")
    conversation.end_reply(f"reply{ESCAPES}done", "complete")
    assert main(["chats", "list"]) == 0
    assert main(["chats", "export", "last"]) == 0
    out = capsys.readouterr().out
    assert_inert(out)
    assert "replydone" in out


def test_local_rows_carry_gguf_metadata_and_file_names_inert(tmp_path: Path) -> None:
    from localctl import library
    from localctl.config import Config

    model = TinyModel()
    kvs = [kv for kv in model.kvs() if b"general.name" not in kv]
    kvs += [kv_str("general.name", f"name{ESCAPES}"), kv_str("general.license", ESCAPES)]
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "evil\x1b]0;t\x07.gguf").write_bytes(model.build(kvs=kvs))
    config = Config(model_folders=(str(folder),))
    rows = [r for r in library.local_targets(set(), config) if r.model.name.startswith("name")]
    assert len(rows) == 1
    spec = rows[0].model
    for text in (spec.id, spec.name, spec.license, spec.notes, spec.repo):
        assert_inert(text)

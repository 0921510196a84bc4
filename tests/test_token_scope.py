"""The Hugging Face token goes only to the hub it belongs to (issue 16 #1)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from localctl.auth import bearer_headers, token_belongs_to
from localctl.cli import main
from tests.fakehub import FakeFile, FakeHub, FakeRepo
from tests.fit_helpers import TinyModel

TOKEN = "hf_secret_token_of_the_user"
REPO = "someone/tiny-GGUF"


@pytest.fixture
def other_host() -> Iterator[FakeHub]:
    """A server that is not the hub (it logs every Authorization header it gets)."""
    tiny = FakeFile(path="tiny.gguf", size=0, data=TinyModel().build())
    tiny.size = len(tiny.data or b"")
    with FakeHub([FakeRepo(REPO, [tiny])]) as hub:
        yield hub


def _fit(url: str) -> int:
    return main(["fit", url, "--hw", "rtx4090", "--json"])


def test_fit_of_a_url_on_another_host_sends_no_token(
    other_host: FakeHub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    assert _fit(f"{other_host.url}/{REPO}/resolve/main/tiny.gguf") == 0
    assert other_host.requests, "the file was read from the server"
    assert all(r.authorization is None for r in other_host.requests)
    assert '"model": "tiny"' in capsys.readouterr().out


def test_token_file_is_not_sent_to_another_host(
    other_host: FakeHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    token_file = monkeypatch_token_file(monkeypatch, tmp_path)
    assert token_file.read_text() == TOKEN
    assert _fit(f"{other_host.url}/{REPO}/resolve/main/tiny.gguf") == 0
    assert all(r.authorization is None for r in other_host.requests)


def monkeypatch_token_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN)
    monkeypatch.setenv("HF_TOKEN_PATH", str(path))
    return path


def test_fit_of_a_url_on_the_configured_endpoint_sends_the_token(
    other_host: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("HF_ENDPOINT", other_host.url)
    assert _fit(f"{other_host.url}/{REPO}/resolve/main/tiny.gguf") == 0
    assert {r.authorization for r in other_host.requests} == {f"Bearer {TOKEN}"}


def test_token_goes_to_huggingface_over_https_only(monkeypatch: pytest.MonkeyPatch) -> None:
    assert token_belongs_to("https://huggingface.co/org/repo/resolve/main/x.gguf")
    assert not token_belongs_to("http://huggingface.co/org/repo/resolve/main/x.gguf")
    assert not token_belongs_to("https://huggingface.co.evil.example/x.gguf")
    assert not token_belongs_to("https://evil.example/huggingface.co/x.gguf")
    assert not token_belongs_to("https://user@evil.example:443/x.gguf")
    assert not token_belongs_to("file:///etc/passwd")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9999/")
    assert token_belongs_to("http://127.0.0.1:9999/org/repo/resolve/main/x.gguf")
    assert not token_belongs_to("http://127.0.0.1:9998/x.gguf")
    assert not token_belongs_to("https://127.0.0.1:9999/x.gguf")
    assert bearer_headers(None) == {} and bearer_headers("") == {}
    assert bearer_headers("k") == {"Authorization": "Bearer k"}

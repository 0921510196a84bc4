"""Remote GGUF headers over HTTP range requests, against a real server on loopback."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from catalog.gguf import read_gguf
from localctl.errors import DownloadError, GgufError
from localctl.remote_gguf import read_remote_gguf, read_remote_gguf_set
from tests.fit_helpers import UINT16, TinyModel, kv_scalar


@dataclass
class FileServer:
    """What the test server serves and what it saw."""

    files: dict[str, bytes]
    honour_range: bool = True
    requests: list[dict[str, str]] = field(default_factory=list)
    bytes_sent: int = 0
    url: str = ""


def _handler(state: FileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            state.requests.append(
                {"path": self.path, **{k.lower(): v for k, v in self.headers.items()}}
            )
            if self.path.startswith("/redirect/"):
                self.send_response(302)
                self.send_header("Location", "/files/" + self.path.split("/", 2)[2])
                self.end_headers()
                return
            if self.path == "/gated.gguf":
                self.send_response(401)
                self.end_headers()
                return
            data = state.files.get(self.path.removeprefix("/files/"))
            if data is None:
                self.send_response(404)
                self.end_headers()
                return
            match = re.fullmatch(r"bytes=(\d+)-(\d+)", self.headers.get("Range", ""))
            if match and state.honour_range:
                start, end = int(match.group(1)), min(int(match.group(2)), len(data) - 1)
                body = data[start : end + 1]
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            else:
                body = data
                self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                for i in range(0, len(body), 1 << 16):
                    self.wfile.write(body[i : i + (1 << 16)])
                    state.bytes_sent += len(body[i : i + (1 << 16)])
            except (BrokenPipeError, ConnectionResetError):
                pass

    return Handler


@pytest.fixture
def file_server(smollm2_path: Path) -> Iterator[FileServer]:
    state = FileServer(files={"smol.gguf": smollm2_path.read_bytes(), "bad.gguf": b"NOPE" * 64})
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_remote_header_matches_local_read_without_downloading(
    file_server: FileServer, smollm2_path: Path
) -> None:
    remote = read_remote_gguf(f"{file_server.url}/files/smol.gguf")
    local = read_gguf(smollm2_path)
    assert remote.arch == local.arch
    assert remote.tensor_bytes == local.tensor_bytes == 96_576_768
    assert remote.file_type == "Q4_1"
    assert remote.file_size == smollm2_path.stat().st_size
    assert all("range" in r for r in file_server.requests)
    assert file_server.bytes_sent < 8 << 20  # the header is 1.8 MB of a 98 MB file


def test_follows_redirects_and_sends_hf_token(
    file_server: FileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    monkeypatch.setenv("HF_ENDPOINT", file_server.url)  # the token goes only to its hub
    info = read_remote_gguf(f"{file_server.url}/redirect/smol.gguf")
    assert info.arch.n_layers == 30
    assert file_server.requests[0]["path"] == "/redirect/smol.gguf"
    assert all(r.get("authorization") == "Bearer hf_secret" for r in file_server.requests)


def test_server_without_range_support_is_read_as_a_stream(file_server: FileServer) -> None:
    file_server.honour_range = False
    info = read_remote_gguf(f"{file_server.url}/files/smol.gguf")
    assert info.arch.n_vocab == 49152
    assert file_server.bytes_sent < 98_362_432


def test_header_larger_than_cap_is_refused(file_server: FileServer) -> None:
    with pytest.raises(GgufError, match="larger than 1 MiB"):
        read_remote_gguf(f"{file_server.url}/files/smol.gguf", max_bytes=1 << 20)


def test_remote_garbage_is_a_gguf_error(file_server: FileServer) -> None:
    with pytest.raises(GgufError, match="not a GGUF file"):
        read_remote_gguf(f"{file_server.url}/files/bad.gguf")


def test_http_errors_are_download_errors(file_server: FileServer) -> None:
    with pytest.raises(DownloadError, match="not found"):
        read_remote_gguf(f"{file_server.url}/files/absent.gguf")
    with pytest.raises(DownloadError, match="HF_TOKEN"):
        read_remote_gguf(f"{file_server.url}/gated.gguf")


def test_fit_cli_plans_a_remote_file(
    file_server: FileServer, capsys: pytest.CaptureFixture[str]
) -> None:
    from localctl.cli import main

    url = f"{file_server.url}/files/smol.gguf"
    assert main(["fit", url, "--ctx", "2048", "--hw", "cpu-64", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["kv_bytes"] == 45 << 20
    assert doc["weights_bytes"] == 96_576_768
    assert doc["source"] == url


def test_remote_split_set_reads_every_part(file_server: FileServer) -> None:
    model = TinyModel()
    file_server.files["m-00001-of-00002.gguf"] = model.build(
        kvs=[*model.kvs(), kv_scalar("split.count", UINT16, 2)]
    )
    file_server.files["m-00002-of-00002.gguf"] = model.build(
        kvs=[kv_scalar("split.count", UINT16, 2)],
        tensors=[("blk.1.ffn_up.weight", (64, 64), 1, 0)],
    )
    gguf_set = read_remote_gguf_set(f"{file_server.url}/files/m-00001-of-00002.gguf")
    assert len(gguf_set.parts) == 2
    assert gguf_set.tensor_bytes == gguf_set.first.tensor_bytes + 64 * 64 * 2

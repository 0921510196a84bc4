"""`localctl serve` end to end: refusals, crash causes, signals, keys."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from localctl import paths
from localctl.cli import main
from tests.server_helpers import FAKE_HTTP_SERVER, FAKE_SEGV, write_fake_exe


def _serve(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "localctl", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def _read_until_key(proc: subprocess.Popen[str], timeout_s: float = 120) -> list[str]:
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.startswith("API key: "):
            return lines
    proc.kill()
    _, err = proc.communicate(timeout=10)
    raise AssertionError(f"no API key line; stdout={lines} stderr={err[-2000:]}")


def _stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    return proc.returncode, err


def test_bad_model_file_is_refused_before_launch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"not a gguf at all" * 10)
    assert main(["serve", str(bad)]) == 2
    assert "localctl:" in capsys.readouterr().err
    assert not paths.logs_dir().exists() or not any(paths.logs_dir().iterdir())


def test_dangerous_passthrough_flags_are_refused(
    smollm2_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", str(smollm2_path), "--", "--host", "0.0.0.0"]) == 2
    assert "--host is not allowed" in capsys.readouterr().err
    assert main(["serve", str(smollm2_path), "--", "--api-key-file", "k"]) == 2


def test_native_crash_exits_nonzero_with_cause(
    smollm2_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("LOCALCTL_LLAMA_SERVER", str(write_fake_exe(tmp_path, FAKE_SEGV)))
    assert main(["serve", str(smollm2_path), "--backend", "llama-server"]) == 1
    err = capsys.readouterr().err
    assert "SIGSEGV" in err and "GGML_NATIVE=OFF" in err


def test_non_loopback_host_gets_a_generated_key_printed(smollm2_path: Path, tmp_path: Path) -> None:
    exe = write_fake_exe(tmp_path, FAKE_HTTP_SERVER)
    proc = _serve(
        str(smollm2_path), "--host", "0.0.0.0", "--backend", "llama-server", "--port", "0",
        env={"LOCALCTL_LLAMA_SERVER": str(exe)},
    )  # fmt: skip
    lines = _read_until_key(proc, 60)
    key = lines[-1].removeprefix("API key: ")
    assert len(key) >= 24
    assert lines[-2].startswith("http://127.0.0.1:")
    code, err = _stop(proc)
    assert code == 0
    assert "a key was generated" in err


@pytest.mark.slow
def test_sigterm_to_serve_leaves_no_child(smollm2_path: Path) -> None:
    proc = _serve(str(smollm2_path), "--ctx", "512", "--backend", "llama-cpp-python")
    lines = _read_until_key(proc)
    assert lines[0].startswith("http://127.0.0.1:")
    kids = psutil.Process(proc.pid).children(recursive=True)
    assert kids, "the server child should be running"
    code, err = _stop(proc)
    assert code == 0, err
    _gone, alive = psutil.wait_procs(kids, timeout=10)
    assert not alive
    assert "weights" in err  # plan beside llama.cpp's buffers
    assert paths.measurements_file().read_text(encoding="utf-8").strip()


def test_json_prints_one_document_with_url_key_and_plan_vs_measured(
    smollm2_path: Path, tmp_path: Path
) -> None:
    import json

    exe = write_fake_exe(tmp_path, FAKE_HTTP_SERVER)
    proc = _serve(
        str(smollm2_path), "--backend", "llama-server", "--port", "0", "--ctx", "1024", "--json",
        env={"LOCALCTL_LLAMA_SERVER": str(exe)},
    )  # fmt: skip
    assert proc.stdout is not None
    document = json.loads(proc.stdout.readline())
    assert document["url"].startswith("http://127.0.0.1:")
    assert len(document["api_key"]) >= 24 and document["backend"] == "llama-server"
    assert psutil.pid_exists(document["pid"])
    memory = document["memory"]
    assert memory["ctx"] == 1024 and memory["estimate_weights_bytes"] > 90 * 2**20
    assert memory["reported_model_bytes"] == pytest.approx(92.10 * 2**20, abs=2)
    assert memory["rss_bytes"] > 0
    code, _err = _stop(proc)
    assert code == 0

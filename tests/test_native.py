"""The native llama-server: found where the install puts it, chosen by ``auto``, explained."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from localctl.errors import BadInputError
from localctl.native import choose_backend, find_native

REPO = Path(__file__).resolve().parent.parent


def _fake_install(root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A venv-like layout: bin/python and bin/llama-server -> ../llama.cpp/bin/llama-server."""
    build = root / "llama.cpp" / "bin"
    build.mkdir(parents=True)
    binary = build / "llama-server"
    binary.write_text("#!/bin/sh\nexit 0\n")
    binary.chmod(0o755)
    (build / "build-info.json").write_text(
        json.dumps(
            {
                "source": "llama.cpp vendored in llama-cpp-python 0.3.36",
                "llama_cpp_version": "1 (abc)",
                "cmake_args": ["-DGGML_NATIVE=OFF", "-DLLAMA_CURL=OFF"],
            }
        )
    )
    (root / "bin").mkdir()
    (root / "bin" / "llama-server").symlink_to("../llama.cpp/bin/llama-server")
    monkeypatch.setattr(sys, "executable", str(root / "bin" / "python"))
    monkeypatch.delenv("LOCALCTL_LLAMA_SERVER", raising=False)
    monkeypatch.setenv("PATH", str(root / "empty"))
    return root / "bin" / "llama-server"


def test_auto_runs_the_native_server_the_install_built(tmp_path, monkeypatch) -> None:
    linked = _fake_install(tmp_path, monkeypatch)
    choice = choose_backend("auto")
    assert choice.backend == "llama-server"
    assert choice.native is not None and choice.native.path == linked
    assert choice.native.found_by == "install"
    assert "llama-cpp-python 0.3.36" in choice.native.describe()
    assert "-DGGML_NATIVE=OFF" in choice.native.describe()
    assert "auto picks the native server" in choice.reason


def test_auto_falls_back_to_llama_cpp_python_and_says_why(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "bin" / "python"))
    monkeypatch.delenv("LOCALCTL_LLAMA_SERVER", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    choice = choose_backend("auto")
    assert choice.backend == "llama-cpp-python" and choice.native is None
    assert "no native llama-server found" in choice.reason
    assert "install.sh" in choice.reason
    with pytest.raises(BadInputError, match="llama-server not found"):
        choose_backend("llama-server")


def test_the_environment_and_config_come_before_the_installed_binary(tmp_path, monkeypatch) -> None:
    _fake_install(tmp_path / "venv", monkeypatch)
    other = tmp_path / "mine"
    other.write_text("#!/bin/sh\n")
    other.chmod(0o755)
    native = find_native(str(other))
    assert native is not None and (native.path, native.found_by) == (other, "config")
    monkeypatch.setenv("LOCALCTL_LLAMA_SERVER", str(other))
    native = find_native("")
    assert native is not None and native.found_by == "LOCALCTL_LLAMA_SERVER"
    assert native.source == ""  # no build record beside it


def test_choosing_llama_cpp_python_explicitly_ignores_the_native_server(
    tmp_path, monkeypatch
) -> None:
    _fake_install(tmp_path, monkeypatch)
    choice = choose_backend("llama-cpp-python")
    assert choice.backend == "llama-cpp-python" and choice.native is None


def test_hw_says_which_server_runs_and_why(tmp_path) -> None:
    exe = tmp_path / "llama-server"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    env = {**os.environ, "LOCALCTL_LLAMA_SERVER": str(exe)}
    out = subprocess.run(
        [sys.executable, "-m", "localctl", "hw", "--hw", "cpu-64"],
        capture_output=True, text=True, env=env, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert "Server     llama-server: auto picks the native server" in out
    assert f"{exe} (found by LOCALCTL_LLAMA_SERVER)" in out
    doc = json.loads(
        subprocess.run(
            [sys.executable, "-m", "localctl", "hw", "--hw", "cpu-64", "--json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=True,
        ).stdout
    )
    assert doc["server_backend"]["backend"] == "llama-server"
    assert doc["server_backend"]["path"] == str(exe)


def test_build_script_is_idempotent_and_prints_the_binary(tmp_path) -> None:
    binary = tmp_path / "bin" / "llama-server"
    binary.parent.mkdir()
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    out = subprocess.run(
        ["bash", str(REPO / "scripts" / "build-llama-server.sh"), str(tmp_path)],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    assert out.strip().splitlines()[-1] == str(binary)


@pytest.mark.native
def test_the_built_native_server_runs_and_records_its_build(native_llama_server: Path) -> None:
    out = subprocess.run(
        [str(native_llama_server), "--version"], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0 and "version" in (out.stdout + out.stderr)
    native = find_native(str(native_llama_server))
    assert native is not None
    if native_llama_server.resolve().parent.joinpath("build-info.json").is_file():
        assert "-DGGML_NATIVE=OFF" in native.cmake_args

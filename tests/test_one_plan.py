"""One model, one config: every face plans it the same way, with and without llama-server.

``fit --json``, ``models --json``, ``cost --model``, ``serve``'s plan and the TUI's
catalog row all go through ``PlanRequest.from_config`` and ``localctl.library``; this
checks that they agree on backend, compute, KV and total for a GGUF file on disk that is
no catalog quant (listed as a local row), a catalog quant whose file is on disk (planned
from the file) and a catalog quant that is not downloaded (planned from catalog numbers).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from localctl import native as native_module
from localctl import paths
from localctl.cli import build_parser, main
from localctl.commands import serve
from localctl.config import load_config
from localctl.library import CatalogRow
from localctl.plan import MemoryPlan
from tui.app import make_app

CATALOG_REF = "llama-3.1-8b:Q4_K_M"
ON_DISK_REF = "smollm2-135m:Q4_1"
LOCAL_NAME = "my-smol.gguf"
FIELDS = ("backend", "flash_attn", "kv_type", "parallel", "ctx", "compute_bytes", "kv_bytes")


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    """Run a verb in this process (so the stand-in for the installed binary holds)."""
    capsys.readouterr()
    assert main(list(args)) == 0
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    return document


def _figures(source: dict[str, Any] | MemoryPlan) -> dict[str, Any]:
    get = source.get if isinstance(source, dict) else lambda key: getattr(source, key)
    return {key: get(key) for key in (*FIELDS, "total_bytes")}


@pytest.fixture(params=["native", "no-native"])
def native(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> bool:
    """With a ``llama-server`` on hand (never started: plans only look for it), or none
    anywhere localctl looks (environment, config, beside this Python, PATH)."""
    monkeypatch.setattr(native_module, "installed_binary", lambda: tmp_path / "not-installed")
    if request.param == "native":
        binary = tmp_path / "bin" / "llama-server"
        binary.parent.mkdir()
        binary.write_text("#!/bin/sh\nexit 1\n")
        binary.chmod(0o755)
        monkeypatch.setenv("LOCALCTL_LLAMA_SERVER", str(binary))
        return True
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("LOCALCTL_LLAMA_SERVER", "")
    monkeypatch.setenv("PATH", str(empty))
    return False


@pytest.fixture
def model_folder(tmp_path: Path, smollm2_path: Path) -> Path:
    """A configured model folder holding SmolLM2 (no catalog quant), and a config that is
    not the defaults (context, KV type, parallel sequences)."""
    folder = tmp_path / "my-models"
    folder.mkdir()
    (folder / smollm2_path.name).symlink_to(smollm2_path)  # the catalog quant's file name
    (folder / LOCAL_NAME).symlink_to(smollm2_path)  # a name no catalog quant has
    config = paths.config_file()
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        f'default_ctx = 3072\nkv_type = "q8_0"\nparallel = 2\nmodel_folders = ["{folder}"]\n'
    )
    return folder


async def _tui_rows(keys: set[str]) -> dict[str, MemoryPlan]:
    """The TUI catalog's planned rows for ``keys`` (local rows are keyed by file name)."""
    app = make_app(config=load_config())
    found: dict[str, MemoryPlan] = {}

    def key_of(row: CatalogRow) -> str:
        return row.local_path.name if row.model.source == "local" and row.local_path else row.key

    async with app.run_test(size=(150, 45)) as pilot:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            screen = app.catalog_screen
            if screen.all_rows and screen.planned_ctx == screen.ctx:
                found = {key_of(r): r.plan for r in screen.all_rows if key_of(r) in keys and r.plan}
                if set(found) == keys:
                    break
            await pilot.pause(0.1)
    assert set(found) == keys, "the TUI did not plan every row"
    return found


async def test_every_face_plans_a_local_file_and_a_catalog_quant_alike(
    native: bool, model_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = str(model_folder / LOCAL_NAME)
    refs = (file, ON_DISK_REF, CATALOG_REF)
    fit = {ref: _figures(_cli(capsys, "fit", ref, "--json")) for ref in refs}
    expected_backend = "llama-server" if native else "llama-cpp-python"
    assert {plan["backend"] for plan in fit.values()} == {expected_backend}
    assert (fit[file]["ctx"], fit[file]["kv_type"], fit[file]["parallel"]) == (3072, "q8_0", 2)
    assert fit[file] == fit[ON_DISK_REF]  # one file, planned from its header both ways

    listed = _cli(capsys, "models", "--json")["models"]
    local = [r for r in listed if r["local_file"] and r["path"] == file]
    assert len(local) == 1, "models --json lists the GGUF file on disk"
    by_key = {f"{r['model']}:{r['quant']}": r for r in listed if not r["local_file"]}
    assert by_key[ON_DISK_REF]["downloaded"] and not by_key[CATALOG_REF]["downloaded"]
    assert _figures(local[0]) == fit[file]
    assert _figures(by_key[ON_DISK_REF]) == fit[ON_DISK_REF]
    assert _figures(by_key[CATALOG_REF]) == fit[CATALOG_REF]

    for ref in refs:
        assert _figures(_cli(capsys, "cost", "--model", ref, "--json")["model"]) == fit[ref]

    for ref in (file, ON_DISK_REF):  # serving the third would download it
        args = build_parser().parse_args(["serve", ref])
        _, path, _, served = serve.planned_model(args, load_config())
        assert path.parent == model_folder
        assert _figures(served) == fit[ref]

    rows = await _tui_rows({LOCAL_NAME, ON_DISK_REF, CATALOG_REF})
    assert _figures(rows[LOCAL_NAME]) == fit[file]
    assert _figures(rows[ON_DISK_REF]) == fit[ON_DISK_REF]
    assert _figures(rows[CATALOG_REF]) == fit[CATALOG_REF]

"""The catalog as this machine sees it: catalog rows, files on disk, and their plans."""

from __future__ import annotations

import threading
from pathlib import Path

from localctl.config import Config
from localctl.library import LOCAL_SOURCE, catalog_rows, file_on_disk, plan_rows
from localctl.request import PlanRequest
from tests.tui_helpers import hardware, model


def test_catalog_rows_add_unknown_files_on_disk_and_mark_known_ones(
    smollm2_path: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "tiny-chat.Q4_1.gguf").symlink_to(smollm2_path)
    (folder / "big-Q8_0-00002-of-00002.gguf").symlink_to(smollm2_path)  # not a first part
    (folder / "broken.gguf").write_bytes(b"GGUF\x03\x00")  # unreadable header
    known = model("llama-3.1-8b", quants=1)
    with (folder / known.quants[0].files[0]).open("wb") as sparse:  # names and sizes count
        sparse.truncate(known.quants[0].size_bytes)
    config = Config(model_folders=(str(folder),))

    rows = catalog_rows(config, [known])
    assert [row.key for row in rows] == ["llama-3.1-8b:Q4_K_M", "tiny-chat.q4_1:Q4_1"]
    assert rows[0].local_path == folder / known.quants[0].files[0] and rows[0].quality
    local = rows[1]
    assert local.model.source == local.model.family == LOCAL_SOURCE
    assert local.local_path == (folder / "tiny-chat.Q4_1.gguf").absolute()
    assert local.model.arch.n_layers == 30 and local.plan is None
    assert [row.key for row in catalog_rows(config, [known], include_local=False)] == [rows[0].key]
    assert catalog_rows(Config(), [known], include_local=False)[0].local_path is None


def test_a_row_planned_before_the_folder_scan_still_finds_its_file_before_a_download(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    known = model("llama-3.1-8b", quants=1)
    config = Config(model_folders=(str(folder),))
    early = catalog_rows(config, [known], on_disk=False)[0]  # the first plan does not look
    with (folder / known.quants[0].files[0]).open("wb") as sparse:
        sparse.truncate(known.quants[0].size_bytes)
    assert early.local_path is None  # the row has not been scanned yet...
    assert file_on_disk(early.target, config) == folder / known.quants[0].files[0]  # ...the file is


def test_a_file_added_just_after_a_scan_is_found_before_a_download(tmp_path: Path) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    known = model("llama-3.1-8b", quants=1)
    config = Config(model_folders=(str(folder),))
    row = catalog_rows(config, [known])[0]  # scanned: nothing there yet
    assert row.local_path is None
    with (folder / known.quants[0].files[0]).open("wb") as sparse:  # a second later
        sparse.truncate(known.quants[0].size_bytes)
    assert file_on_disk(row.target, config) == folder / known.quants[0].files[0]


def test_plan_rows_plans_each_row_and_stops_when_cancelled(
    smollm2_path: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "tiny-chat.Q4_1.gguf").symlink_to(smollm2_path)
    rows = catalog_rows(Config(model_folders=(str(folder),)), [model("a"), model("b")])
    request = PlanRequest(ctx=2048)
    planned = list(plan_rows(rows, hardware(), request))
    assert [row.key for row in planned] == [row.key for row in rows]
    assert all(row.plan is not None and row.plan.request == request for row in planned)
    assert planned[-1].plan is not None and planned[-1].plan.weights_bytes > 90_000_000

    cancel = threading.Event()
    seen = []
    for row in plan_rows(rows, hardware(), request, cancel):
        seen.append(row)
        cancel.set()
    assert len(seen) == 1


def test_resolve_names_one_target_for_a_catalog_id_and_a_file(
    smollm2_path: Path, tmp_path: Path
) -> None:
    import pytest

    from localctl.errors import CatalogError, GgufError
    from localctl.library import resolve

    config = Config()
    catalog = resolve("llama-3.1-8b:Q4_K_M", config)
    assert (catalog.key, catalog.local_path, catalog.is_local_file) == (
        "llama-3.1-8b:Q4_K_M",
        None,
        False,
    )
    ref = catalog.hub_ref()  # what hub.pull takes: repo, files and hashes already resolved
    assert ref.repo == catalog.model.repo and ref.files == catalog.quant.files
    assert ref.sha256 == catalog.quant.sha256

    local = resolve(str(smollm2_path), config)
    assert local.is_local_file and local.local_path == smollm2_path
    assert local.label == smollm2_path.name and local.shape().arch.n_layers == 30

    with pytest.raises(GgufError, match="no such GGUF file"):
        resolve(str(tmp_path / "missing.gguf"), config)
    with pytest.raises(CatalogError):
        resolve("no-such-model:Q4_K_M", config)

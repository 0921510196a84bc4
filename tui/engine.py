"""The one place the TUI calls the localctl engine.

Every function here is plain (blocking or async) code with no Textual import;
screens wrap the blocking ones in thread workers. Keeping the calls in one module
means an engine API change touches one file of the UI.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import TYPE_CHECKING

from tui.rows import CatalogRow

if TYPE_CHECKING:
    from pathlib import Path

    from catalog.schema import ModelSpec, QuantSpec
    from localctl.hardware import Hardware
    from localctl.request import PlanRequest


def resolve_hardware(profile: str | None) -> Hardware:
    """The detected machine, or the simulated ``profile``.

    Raises:
        HardwareError: unknown profile.
    """
    from localctl import hardware

    return hardware.resolve_hardware(profile)


def load_models() -> list[ModelSpec]:
    """Every catalog model (curated plus the user's catalog file).

    Raises:
        CatalogError: a malformed catalog entry.
    """
    from localctl.snapshot import load_catalog

    return list(load_catalog().models)


def quality_note(quant: QuantSpec) -> str:
    """The quant table's quality note for ``quant``, or an empty string."""
    from catalog.quants import QUANT_TYPES

    spec = QUANT_TYPES.get(quant.name.upper())
    return spec.quality if spec is not None else ""


def find_local(model: ModelSpec, quant: QuantSpec) -> Path | None:
    """First file of ``model`` x ``quant`` when it is all on disk."""
    from localctl import inventory

    return inventory.find_local(model, quant)


def plan_row(row: CatalogRow, hw: Hardware, request: PlanRequest) -> CatalogRow:
    """``row`` with its plan computed for ``request`` (or the error that stopped it)."""
    from localctl.errors import LocalctlError
    from localctl.plan import plan
    from localctl.shape import shape_for_quant, shape_from_file

    try:
        if row.model.source == LOCAL_SOURCE and row.local_path is not None:
            shape = shape_from_file(row.local_path)
        else:
            shape = shape_for_quant(row.model, row.quant.name)
        memory_plan = plan(shape, hw, request)
    except (LocalctlError, NotImplementedError, ValueError) as error:
        return replace(row, plan=None, plan_error=str(error) or type(error).__name__)
    return replace(row, plan=memory_plan, plan_error="")


def build_rows(models: list[ModelSpec], *, include_local: bool = True) -> list[CatalogRow]:
    """Unplanned rows for every model x quant, then GGUF files on disk that no row covers.

    Args:
        models: The catalog.
        include_local: Also list local GGUF files (HF cache, model folders, LM Studio…)
            that are not catalog quants, as ``local`` family rows planned from their header.
    """
    rows = []
    for model in models:
        for quant in model.quants:
            rows.append(
                CatalogRow(
                    model=model,
                    quant=quant,
                    quality=quality_note(quant),
                    local_path=find_local(model, quant),
                )
            )
    if include_local:
        known = {row.local_path.absolute() for row in rows if row.local_path is not None}
        rows.extend(local_rows(known))
    return rows


LOCAL_SOURCE = "local"
"""``ModelSpec.source`` of rows made from a GGUF file on disk."""


def local_rows(known: set[Path]) -> list[CatalogRow]:
    """Rows for GGUF files on disk outside ``known`` (first part of a split set only).

    A file whose header cannot be read is left out (``localctl fit FILE`` says why).
    """
    import re

    from catalog.errors import GgufError
    from catalog.gguf import read_gguf
    from catalog.schema import ModelSpec, QuantSpec
    from localctl import inventory

    rows: list[CatalogRow] = []
    seen: set[Path] = set()
    for entry in inventory.scan_local_ggufs():
        path = entry.path.absolute()
        split = re.search(r"-(\d{5})-of-(\d{5})\.gguf$", path.name)
        if path in known or path in seen or (split and int(split.group(1)) != 1):
            continue
        seen.add(path)
        try:
            info = read_gguf(path)
        except (GgufError, OSError):
            continue
        stem = re.sub(r"-00001-of-\d{5}$", "", path.name.removesuffix(".gguf"))
        quant = QuantSpec(
            name=(entry.quant or info.file_type or "GGUF").upper(),
            files=(path.name,),
            size_bytes=info.file_size or entry.size_bytes,
        )
        license_ = info.metadata.get("general.license")
        model = ModelSpec(
            id=stem.lower(),
            name=info.name or stem,
            family=LOCAL_SOURCE,
            repo=entry.repo or str(path.parent),
            params=sum(t.n_elements for t in info.tensors),
            arch=info.arch,
            license=str(license_) if license_ else "",
            quants=(quant,),
            notes=f"local file ({entry.source}): {path}",
            source=LOCAL_SOURCE,
        )
        rows.append(CatalogRow(model, quant, quality_note(quant), local_path=path))
    return rows


def plan_rows(
    rows: list[CatalogRow],
    hw: Hardware,
    request: PlanRequest,
    *,
    cancel: threading.Event | None = None,
) -> list[CatalogRow]:
    """Every row planned for ``request``; stops early (returning what it has) on ``cancel``."""
    planned = []
    for row in rows:
        if cancel is not None and cancel.is_set():
            break
        planned.append(plan_row(row, hw, request))
    return planned

"""The catalog as this machine sees it: one row per model x quant, with what is on disk.

:func:`catalog_rows` lists every catalog quant (curated, the user's catalog and the last hub
listing laid over them), marks the ones whose files are all on disk, and adds a ``local``
row for each GGUF on disk that no catalog quant covers (Hugging Face cache, model folders,
LM Studio…), described from its own header. :func:`plan_rows` plans rows for one
:class:`~localctl.request.PlanRequest`, as an iterator that stops when asked to.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from catalog.filenames import split_part, split_stem
from localctl import inventory
from localctl.sanitize import printable

if TYPE_CHECKING:
    import threading
    from pathlib import Path

    from catalog.schema import ModelSpec, QuantSpec
    from localctl.hardware import Hardware
    from localctl.plan import MemoryPlan
    from localctl.request import PlanRequest

LOCAL_SOURCE = "local"
"""``ModelSpec.source`` (and family) of rows made from a GGUF file on disk."""


@dataclass(frozen=True, slots=True)
class CatalogRow:
    """One model x quant: what it is, whether it is on disk, and its plan here."""

    model: ModelSpec
    quant: QuantSpec
    quality: str = ""
    """Quality note of the quant type."""
    plan: MemoryPlan | None = None
    """Fit plan for the current request; None while computing or when planning failed."""
    plan_error: str = ""
    """One line saying why there is no plan."""
    local_path: Path | None = None
    """First file when every part is on disk."""
    pull_ref: str = ""
    """The pull reference when it is not ``model-id:QUANT`` (a hub search result:
    ``OWNER/REPO:QUANT`` or ``OWNER/REPO/FILE.gguf``)."""

    @property
    def key(self) -> str:
        """``model-id:QUANT`` (or ``pull_ref``), the row key and the pull reference."""
        return self.pull_ref or f"{self.model.id}:{self.quant.name}"

    @property
    def verdict(self) -> str:
        """``GPU``, ``partial N/M``, ``CPU``, ``won't fit``, ``…`` (computing) or ``?``."""
        if self.plan is not None:
            return self.plan.verdict()
        return "?" if self.plan_error else "…"

    @property
    def placement(self) -> str:
        """Plan placement, ``pending`` or ``error``."""
        if self.plan is not None:
            return self.plan.placement
        return "error" if self.plan_error else "pending"

    @property
    def fits(self) -> bool:
        """True when the plan places the model somewhere."""
        return self.plan is not None and self.plan.placement != "none"

    @property
    def downloaded(self) -> bool:
        """True when every file is on disk."""
        return self.local_path is not None


def load_models() -> list[ModelSpec]:
    """Every catalog model: curated, the user's catalog file, the last hub listing over them.

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


def catalog_rows(
    models: list[ModelSpec] | None = None, *, include_local: bool = True
) -> list[CatalogRow]:
    """Unplanned rows for every model x quant, then GGUF files on disk that no row covers.

    Args:
        models: The catalog; None loads it (:func:`load_models`).
        include_local: Also list GGUF files on disk that are not catalog quants.

    Raises:
        CatalogError: a malformed catalog entry.
    """
    rows = [
        CatalogRow(
            model=model,
            quant=quant,
            quality=quality_note(quant),
            local_path=inventory.find_local(model, quant),
        )
        for model in (load_models() if models is None else models)
        for quant in model.quants
    ]
    if include_local:
        known = {row.local_path.absolute() for row in rows if row.local_path is not None}
        rows.extend(local_rows(known))
    return rows


def local_rows(known: set[Path]) -> list[CatalogRow]:
    """Rows for GGUF files on disk outside ``known`` (the first part of a split set only).

    A file whose header cannot be read is left out (``localctl fit FILE`` says why).
    """
    from catalog.errors import GgufError
    from catalog.gguf import read_gguf
    from catalog.schema import ModelSpec, QuantSpec

    rows: list[CatalogRow] = []
    seen: set[Path] = set()
    for entry in inventory.scan_local_ggufs():
        path = entry.path.absolute()
        part = split_part(path.name)
        if path in known or path in seen or (part is not None and part[0] != 1):
            continue
        seen.add(path)
        try:
            info = read_gguf(path)
        except (GgufError, OSError):
            continue
        stem = split_stem(path.name)
        quant = QuantSpec(
            name=(entry.quant or info.file_type or "GGUF").upper(),
            files=(path.name,),
            size_bytes=info.file_size or entry.size_bytes,
        )
        license_ = info.metadata.get("general.license")
        # The header and the file name are someone else's text: shown, never obeyed.
        model = ModelSpec(
            id=printable(stem.lower()),
            name=printable(info.name or stem),
            family=LOCAL_SOURCE,
            repo=printable(entry.repo or str(path.parent)),
            params=sum(t.n_elements for t in info.tensors),
            arch=info.arch,
            license=printable(license_) if license_ else "",
            quants=(quant,),
            notes=printable(f"local file ({entry.source}): {path}"),
            source=LOCAL_SOURCE,
        )
        rows.append(CatalogRow(model, quant, quality_note(quant), local_path=path))
    return rows


def plan_row(row: CatalogRow, hw: Hardware, request: PlanRequest) -> CatalogRow:
    """``row`` with its plan for ``request`` on ``hw`` (or the one line that stopped it)."""
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


def plan_rows(
    rows: list[CatalogRow],
    hw: Hardware,
    request: PlanRequest,
    cancel: threading.Event | None = None,
) -> Iterator[CatalogRow]:
    """Each row planned for ``request``, in order; ends early once ``cancel`` is set."""
    for row in rows:
        if cancel is not None and cancel.is_set():
            return
        yield plan_row(row, hw, request)

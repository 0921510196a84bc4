"""Hub listings laid over the catalog: exact sizes and hashes, changed and vanished files.

Pure functions over values: the listings themselves are read (and stored) by
``localctl``; here they are only compared with the catalog's own facts
(:func:`compare`) and applied to it (:func:`apply_listings`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from catalog.loader import Catalog
    from catalog.schema import ModelSpec, QuantSpec

CONFIRMED = "confirmed"
"""Every file is on the hub with the size and sha256 the catalog gives."""
CHANGED = "changed"
"""Every file is on the hub, but a size or sha256 differs from the catalog's."""
VANISHED = "vanished"
"""At least one file is no longer on the hub."""


@dataclass(frozen=True, slots=True)
class ListedRepo:
    """The GGUF files of one repository as the hub listed them at one time."""

    repo: str
    files: dict[str, tuple[int, str]]
    """Path → (size in bytes, LFS sha256 or ``""``)."""
    checked_at: str
    """UTC time of the listing, ISO 8601."""
    commit: str = ""
    endpoint: str = ""


@dataclass(frozen=True, slots=True)
class QuantChange:
    """A catalog row the hub's listing contradicts."""

    model_id: str
    quant: str
    repo: str
    status: str
    """:data:`CHANGED` or :data:`VANISHED`."""
    detail: str
    """One line saying what differs."""
    catalog_bytes: int
    hub_bytes: int | None
    """Total size on the hub now; None when files vanished."""
    checked_at: str

    @property
    def key(self) -> str:
        """``model-id:QUANT``."""
        return f"{self.model_id}:{self.quant}"


def _judge(model: ModelSpec, quant: QuantSpec, listed: ListedRepo) -> tuple[str, str]:
    """(status, detail) of one row against one listing."""
    missing = [f for f in quant.files if f not in listed.files]
    if missing:
        more = f" (+{len(missing) - 1} more)" if len(missing) > 1 else ""
        return VANISHED, f"{missing[0]}{more} is no longer in {listed.repo}"
    sizes = [listed.files[f][0] for f in quant.files]
    hashes = [listed.files[f][1] for f in quant.files]
    if not quant.size_exact:
        return CONFIRMED, ""
    differences = []
    if sum(sizes) != quant.size_bytes:
        differences.append(f"size {quant.size_bytes:,} -> {sum(sizes):,} bytes")
    elif quant.file_sizes and tuple(sizes) != quant.file_sizes:
        moved = next(
            n for n, a, b in zip(quant.files, quant.file_sizes, sizes, strict=False) if a != b
        )
        differences.append(f"size of {moved} differs")
    pairs = zip(quant.files, quant.sha256, hashes, strict=False)
    changed = [name for name, old, new in pairs if old and new and old.lower() != new.lower()]
    if changed:
        differences.append(f"sha256 of {changed[0]} differs")
    if differences:
        return CHANGED, "; ".join(differences)
    return CONFIRMED, ""


def compare(catalog: Catalog, listings: dict[str, ListedRepo]) -> list[QuantChange]:
    """Every row of ``catalog`` whose files changed or vanished in ``listings``."""
    changes = []
    for model in catalog.models:
        listed = listings.get(model.repo)
        if listed is None:
            continue
        for quant in model.quants:
            status, detail = _judge(model, quant, listed)
            if status == CONFIRMED:
                continue
            hub_bytes = sum(listed.files[f][0] for f in quant.files) if status == CHANGED else None
            changes.append(
                QuantChange(
                    model_id=model.id,
                    quant=quant.name,
                    repo=model.repo,
                    status=status,
                    detail=detail,
                    catalog_bytes=quant.size_bytes,
                    hub_bytes=hub_bytes,
                    checked_at=listed.checked_at,
                )
            )
    return changes


def _applied(model: ModelSpec, quant: QuantSpec, listed: ListedRepo) -> QuantSpec:
    status, detail = _judge(model, quant, listed)
    date = listed.checked_at[:10]
    if status == VANISHED:
        return dataclasses.replace(
            quant, hub_status=status, hub_note=f"{detail} (hub listing of {date})"
        )
    sizes = tuple(listed.files[f][0] for f in quant.files)
    hashes = tuple(listed.files[f][1] for f in quant.files)
    note = f"{detail} (hub listing of {date})" if detail else f"checked on the hub {date}"
    return dataclasses.replace(
        quant,
        size_bytes=sum(sizes),
        size_exact=True,
        file_sizes=sizes,
        sha256=hashes if all(hashes) else quant.sha256,
        revision=listed.commit or quant.revision,
        fact_source=f"{listed.endpoint}/{listed.repo}/tree/{listed.commit or 'main'}",
        fact_date=date,
        hub_status=status,
        hub_note=note,
    )


def apply_listings(catalog: Catalog, listings: dict[str, ListedRepo]) -> Catalog:
    """``catalog`` with each listed row's facts taken from the hub and its status set.

    Rows whose files are all listed take the listed sizes and sha256 (exact), the
    listing's commit, source and date; rows with a file missing keep their facts and
    are marked :data:`VANISHED`. Repositories without a listing are left alone.
    """
    if not listings:
        return catalog
    models = []
    for model in catalog.models:
        listed = listings.get(model.repo)
        if listed is None:
            models.append(model)
            continue
        quants = tuple(_applied(model, q, listed) for q in model.quants)
        models.append(dataclasses.replace(model, quants=quants))
    return dataclasses.replace(catalog, models=tuple(models))

"""Catalog rows as the TUI shows them: filtered, sorted, and the context lengths offered.

Pure functions over plain values, so they are tested without a running app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from localctl.library import CatalogRow

SORT_KEYS: tuple[str, ...] = ("fit", "speed", "size", "name")
"""Orders the catalog table knows, the first being the default."""

CTX_CHOICES: tuple[int, ...] = (2048, 4096, 8192, 16384, 32768, 65536, 131072)
"""Context lengths offered by the context control."""


def ctx_choices(current: int) -> list[int]:
    """The context lengths offered while ``current`` is chosen (it is always one)."""
    return sorted({*CTX_CHOICES, current})


def step_ctx(current: int, direction: int) -> int:
    """The next offered context length up (``1``) or down (``-1``) from ``current``."""
    choices = ctx_choices(current)
    index = max(0, min(len(choices) - 1, choices.index(current) + direction))
    return choices[index]


_PLACEMENT_ORDER = {"gpu": 0, "partial": 1, "cpu": 2, "none": 3}


def matches(row: CatalogRow, query: str) -> bool:
    """True when every word of ``query`` appears in the row's id, name, family, quant or notes."""
    haystack = " ".join(
        (row.model.id, row.model.name, row.model.family, row.quant.name, row.model.repo)
    ).lower()
    return all(word in haystack for word in query.lower().split())


def select_rows(
    rows: list[CatalogRow],
    *,
    query: str = "",
    fits_only: bool = False,
    downloaded_only: bool = False,
    family: str = "",
    sort: str = "fit",
) -> list[CatalogRow]:
    """Rows kept by the filters, in ``sort`` order (``fit``, ``speed``, ``size`` or ``name``)."""
    kept = [
        row
        for row in rows
        if (not query or matches(row, query))
        and (not fits_only or row.fits)
        and (not downloaded_only or row.downloaded)
        and (not family or row.model.family == family)
    ]
    if sort == "speed":
        kept.sort(key=lambda r: (-(r.plan.predicted_tok_s if r.plan else -1.0), r.key))
    elif sort == "size":
        kept.sort(key=lambda r: (r.quant.size_bytes, r.key))
    elif sort == "name":
        kept.sort(key=lambda r: r.key)
    else:
        kept.sort(
            key=lambda r: (
                _PLACEMENT_ORDER.get(r.placement, 4),
                -(r.plan.predicted_tok_s if r.plan else 0.0),
                r.key,
            )
        )
    return kept


def families(rows: list[CatalogRow]) -> list[str]:
    """Distinct model families, sorted."""
    return sorted({row.model.family for row in rows})


def human_duration(seconds: float | None) -> str:
    """``1m05s`` style duration; ``--`` when unknown."""
    if seconds is None or seconds < 0 or seconds != seconds:
        return "--"
    whole = int(seconds + 0.5)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"

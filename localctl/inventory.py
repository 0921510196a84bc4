"""GGUF files already on this machine (HF cache and configured model folders)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from catalog.schema import ModelSpec, QuantSpec


def find_local(model: ModelSpec, quant: QuantSpec) -> Path | None:
    """First file of ``model``x``quant`` when every part is on disk, else None (stub)."""
    return None

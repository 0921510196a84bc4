"""The fit plan: memory needed by a model at a context, and where it goes on a machine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from pathlib import Path

    from catalog.schema import ModelSpec
    from localctl.hardware import Hardware

Placement = Literal["gpu", "partial", "cpu", "none"]


@dataclass(frozen=True, slots=True)
class MemoryPlan:
    """Memory estimate and placement of one model x quant x context on one machine."""

    weights_bytes: int
    kv_bytes: int
    compute_bytes: int
    overhead_bytes: int
    total_bytes: int
    placement: Placement
    gpu_layers: int
    n_layers: int
    ctx: int
    """Context per sequence."""
    parallel: int
    kv_type: str
    predicted_tok_s: float
    gpu_bytes: int
    """Part of ``total_bytes`` placed in VRAM."""
    cpu_bytes: int
    """Part of ``total_bytes`` placed in RAM."""
    reason: str = ""
    """One line explaining the verdict (why partial, why it won't fit)."""

    def verdict(self) -> str:
        """Short label for tables: ``GPU``, ``partial 40/80``, ``CPU`` or ``won't fit``."""
        if self.placement == "gpu":
            return "GPU"
        if self.placement == "partial":
            return f"partial {self.gpu_layers}/{self.n_layers}"
        if self.placement == "cpu":
            return "CPU"
        return "won't fit"


def plan_for_model(
    model: ModelSpec,
    quant: str,
    hw: Hardware,
    *,
    ctx: int,
    parallel: int = 1,
    kv_type: str = "f16",
) -> MemoryPlan:
    """Plan a catalog model x quant. Implemented by the fit engine owner."""
    raise NotImplementedError


def plan_for_file(
    path: Path,
    hw: Hardware,
    *,
    ctx: int,
    parallel: int = 1,
    kv_type: str = "f16",
) -> MemoryPlan:
    """Plan a local GGUF file (reads its header). Implemented by the fit engine owner."""
    raise NotImplementedError

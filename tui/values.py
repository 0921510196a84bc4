"""Plain values the meters show; no Textual here so the engine adapter can build them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class MeterSnapshot:
    """Figures of the last reply and of the session so far."""

    gen_tok_s: float = 0.0
    prompt_tok_s: float = 0.0
    ttft_s: float = 0.0
    session_prompt_tokens: int = 0
    session_completion_tokens: int = 0
    replies: int = 0
    gen_tok_s_history: tuple[float, ...] = ()
    """Generation tok/s of each reply, oldest first."""
    api_equivalent_usd: dict[str, float] = field(default_factory=dict)
    """Session tokens priced on each configured paid API model."""
    energy_usd: float = 0.0
    """Local electricity cost of the session's generation time."""
    energy_wh: float = 0.0
    energy_source: str = ""
    """Where the wattage behind ``energy_usd`` came from (``rapl``, ``nvml``, ``config``…)."""
    price_source: str = ""
    """Where the API prices come from, with their date."""


@dataclass(frozen=True, slots=True)
class SystemReading:
    """One sample of machine load."""

    cpu_percent: float = 0.0
    ram_used_bytes: int = 0
    ram_total_bytes: int = 1
    vram_used_bytes: int = 0
    vram_total_bytes: int = 0
    server_rss_bytes: int = 0
    """Resident memory of the model server (0 when none runs)."""
    gpu_util_percent: float = 0.0
    gpu_power_w: float | None = None

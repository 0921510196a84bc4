"""Session meters (token totals, rolling tok/s series, cost so far) and system meters.

``SessionMeters`` is plain state the TUI and the CLI feed with each reply's
``ReplyMetrics``; ``system_snapshot`` samples CPU, the server's RSS, RAM and, where
NVML exists, GPU utilisation, VRAM and power.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from localctl.chat import ReplyMetrics
    from localctl.hardware import GpuUsage

SERIES_LENGTH = 60


@dataclass(slots=True)
class SessionMeters:
    """Totals and rolling series over a chat session."""

    replies: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    generation_s: float = 0.0
    gen_tok_s_series: deque[float] = field(default_factory=lambda: deque(maxlen=SERIES_LENGTH))
    prompt_tok_s_series: deque[float] = field(default_factory=lambda: deque(maxlen=SERIES_LENGTH))
    ttft_s_series: deque[float] = field(default_factory=lambda: deque(maxlen=SERIES_LENGTH))

    def add(self, metrics: ReplyMetrics) -> None:
        """Count one finished reply."""
        self.replies += 1
        self.prompt_tokens += metrics.prompt_tokens
        self.completion_tokens += metrics.completion_tokens
        self.generation_s += metrics.total_s
        self.gen_tok_s_series.append(metrics.gen_tok_s)
        self.prompt_tok_s_series.append(metrics.prompt_tok_s)
        self.ttft_s_series.append(metrics.ttft_s)

    @property
    def mean_gen_tok_s(self) -> float:
        """Mean generation speed over the replies in the series (0 before any)."""
        series = [v for v in self.gen_tok_s_series if v > 0]
        return sum(series) / len(series) if series else 0.0

    def api_equivalent_usd(self, models: tuple[str, ...] | None = None) -> dict[str, float]:
        """What this session's tokens would have cost on each paid API model."""
        from localctl.cost import api_equivalent

        return api_equivalent(self.prompt_tokens, self.completion_tokens, models)

    def energy_usd(self, watts: float, usd_per_kwh: float) -> float:
        """Electricity cost of the session's generation time at ``watts``."""
        from localctl.cost import energy_cost_usd

        return energy_cost_usd(self.generation_s, watts, usd_per_kwh)


@dataclass(frozen=True, slots=True)
class SystemSnapshot:
    """One sample of the machine while a model runs."""

    cpu_percent: float
    ram_used_bytes: int
    ram_total_bytes: int
    server_rss_bytes: int | None
    """RSS of the server process (children included); None without a pid or when it is gone."""
    gpus: tuple[GpuUsage, ...] = ()


def system_snapshot(server_pid: int | None = None) -> SystemSnapshot:
    """Sample CPU % (since the previous call), RAM, the server's RSS and GPU usage."""
    import psutil

    from localctl.hardware import gpu_usage

    memory = psutil.virtual_memory()
    rss: int | None = None
    if server_pid is not None:
        try:
            process = psutil.Process(server_pid)
            rss = process.memory_info().rss + sum(
                child.memory_info().rss for child in process.children(recursive=True)
            )
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            rss = None
    return SystemSnapshot(
        cpu_percent=psutil.cpu_percent(interval=None),
        ram_used_bytes=memory.total - memory.available,
        ram_total_bytes=memory.total,
        server_rss_bytes=rss,
        gpus=tuple(gpu_usage()),
    )

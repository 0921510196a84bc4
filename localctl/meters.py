"""Session meters (token totals, rolling tok/s series, cost and energy so far) and system meters.

Public API (the TUI and the CLI share it):

- ``PowerMeter(config_watts).read() -> PowerReading``: power drawn now, never blocking.
  It sums the NVML board power of every NVIDIA GPU and the RAPL package power of the
  CPUs (averaged since the previous ``read``) when they are readable; otherwise it
  falls back to the configured wattage, else to :data:`ESTIMATED_POWER_W`.
  ``PowerReading.source`` says which: ``nvml+rapl``, ``nvml``, ``rapl`` (measured),
  ``config`` or ``estimate``. Measured figures cover GPU boards and CPU packages, not
  the whole machine at the wall socket.
- ``SessionMeters``: plain state fed with each reply's ``ReplyMetrics``.
  ``add(metrics, watts=reading.watts, power_source=reading.source)`` also integrates
  ``watts`` × the reply's ``total_s`` into ``energy_wh`` (without ``watts`` the
  estimate is used); ``energy_usd(usd_per_kwh)`` prices it, ``energy_source`` says
  whether the watts were measured.
  ``snapshot(cost)`` gives the :class:`MeterSnapshot` a meters pane shows: the last
  reply's rates, the session totals and their prices.
- ``system_snapshot(cpu_clock)`` samples CPU (the busy share since ``cpu_clock``'s previous
  reading), the server's RSS, RAM and, where NVML exists, GPU utilisation, VRAM and power.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from localctl.hardware import CpuPowerMeter, gpu_usage
from localctl.measurements import process_tree_rss

if TYPE_CHECKING:
    from localctl.config import CostConfig
    from localctl.hardware import GpuUsage
    from localctl.replies import ReplyMetrics

SERIES_LENGTH = 60

ESTIMATED_POWER_W = 65.0
"""Watts assumed when nothing can be measured, the config sets no ``power_w`` and the
machine has no GPU: a desktop CPU package under a full decode load."""
ESTIMATED_GPU_POWER_W = 300.0
"""Watts assumed on a machine with a GPU whose power cannot be read: one desktop card
under decode load plus the host."""

PowerSource = Literal["nvml+rapl", "nvml", "rapl", "config", "estimate"]
MEASURED_SOURCES: frozenset[str] = frozenset({"nvml+rapl", "nvml", "rapl"})

_MIN_RAPL_INTERVAL_S = 0.05
"""RAPL counters tick about every millisecond; shorter intervals give noisy averages."""


@dataclass(frozen=True, slots=True)
class PowerReading:
    """Power drawn by the machine, and where the figure comes from."""

    watts: float
    source: PowerSource
    """``nvml+rapl``, ``nvml`` or ``rapl`` when measured; ``config`` or ``estimate`` otherwise."""

    @property
    def measured(self) -> bool:
        """True when the watts were measured rather than configured or estimated."""
        return self.source in MEASURED_SOURCES


class PowerMeter:
    """Live power draw for the energy meter: measured where possible, else assumed.

    ``read`` never blocks: the CPU figure is the RAPL average since the previous read
    (or since construction), the GPU figure NVML's current board power.
    """

    def __init__(
        self,
        config_watts: float | None,
        *,
        powercap_root: Path = Path("/sys/class/powercap"),
        gpu_reader: Callable[[], Sequence[GpuUsage]] = gpu_usage,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Take the first RAPL reading.

        Args:
            config_watts: Watts to assume when nothing is measurable (``[cost] power_w``);
                None or 0 means use :data:`ESTIMATED_POWER_W`.
            powercap_root: Folder holding the RAPL ``intel-rapl:N`` domains.
            gpu_reader: Returns the GPUs' live usage (``power_w`` in watts or None).
            clock: Monotonic seconds.
        """
        self._config_watts = config_watts if config_watts and config_watts > 0 else None
        self._gpu_reader = gpu_reader
        self._clock = clock
        self._cpu = CpuPowerMeter(powercap_root, clock=clock)
        self._cpu_read_at = clock()
        self._cpu_watts: float | None = None

    def _cpu_power(self) -> float | None:
        now = self._clock()
        if self._cpu_watts is not None and now - self._cpu_read_at < _MIN_RAPL_INTERVAL_S:
            return self._cpu_watts
        self._cpu_read_at = now
        self._cpu_watts = self._cpu.read()
        return self._cpu_watts

    def _gpu_power(self) -> float | None:
        try:
            gpus = self._gpu_reader()
        except Exception:  # a broken driver must not take the meters down with it
            return None
        readings = [g.power_w for g in gpus if g.power_w is not None]
        return sum(readings) if readings else None

    def read(self) -> PowerReading:
        """Power drawn now, in watts, with its source (see :class:`PowerReading`)."""
        gpu = self._gpu_power()
        cpu = self._cpu_power()
        if gpu is not None and cpu is not None:
            return PowerReading(gpu + cpu, "nvml+rapl")
        if gpu is not None:
            return PowerReading(gpu, "nvml")
        if cpu is not None:
            return PowerReading(cpu, "rapl")
        return assumed_power(self._config_watts, gpu=bool(self._gpus_seen()))

    def _gpus_seen(self) -> int:
        try:
            return len(self._gpu_reader())
        except Exception:  # a broken driver must not take the meters down with it
            return 0


def assumed_power(config_watts: float | None, *, gpu: bool = False) -> PowerReading:
    """The power used when none is measured (one rule for ``cost``, ``chat`` and the TUI).

    Args:
        config_watts: ``[cost] power_w``; used when positive.
        gpu: The machine generating has a GPU (:data:`ESTIMATED_GPU_POWER_W`), else
            it is CPU-only (:data:`ESTIMATED_POWER_W`).
    """
    if config_watts is not None and config_watts > 0:
        return PowerReading(config_watts, "config")
    return PowerReading(ESTIMATED_GPU_POWER_W if gpu else ESTIMATED_POWER_W, "estimate")


def mean_power(readings: Sequence[PowerReading]) -> PowerReading:
    """The mean of readings taken at a steady rate over one reply.

    Args:
        readings: At least one reading.

    Returns:
        Mean watts; the source is the most frequent one (the last on a tie).

    Raises:
        ValueError: ``readings`` is empty.
    """
    if not readings:
        raise ValueError("no power readings")
    sources = [r.source for r in readings]
    source = max(reversed(sources), key=sources.count)
    return PowerReading(sum(r.watts for r in readings) / len(readings), source)


@dataclass(slots=True)
class SessionMeters:
    """Totals, rolling series and energy over a chat session."""

    replies: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    generation_s: float = 0.0
    energy_wh: float = 0.0
    """Energy drawn during the replies: each reply's watts × its ``total_s``."""
    measured_energy_wh: float = 0.0
    """The part of ``energy_wh`` that comes from measured watts."""
    power_sources: list[str] = field(default_factory=list)
    """Distinct power sources of the replies so far, in order of first use."""
    gen_tok_s_series: deque[float] = field(default_factory=lambda: deque(maxlen=SERIES_LENGTH))
    prompt_tok_s_series: deque[float] = field(default_factory=lambda: deque(maxlen=SERIES_LENGTH))
    ttft_s_series: deque[float] = field(default_factory=lambda: deque(maxlen=SERIES_LENGTH))
    last: ReplyMetrics | None = None
    """The most recent reply's figures (None before any)."""
    reasoning_tokens: int = 0
    """Thinking tokens of the replies so far (part of ``completion_tokens``)."""
    last_power_source: str = ""
    """Where the most recent reply's watts came from."""

    def add(
        self,
        metrics: ReplyMetrics,
        *,
        watts: float | None = None,
        power_source: str = "config",
    ) -> None:
        """Count one finished reply and the energy it drew.

        Args:
            metrics: The reply's metrics.
            watts: Mean power during the reply (e.g. ``PowerMeter.read().watts``); None
                assumes :data:`ESTIMATED_POWER_W` with source ``estimate``.
            power_source: Where ``watts`` comes from (``PowerReading.source``).
        """
        if watts is None:
            watts, power_source = ESTIMATED_POWER_W, "estimate"
        self.replies += 1
        self.prompt_tokens += metrics.prompt_tokens
        self.completion_tokens += metrics.completion_tokens
        self.reasoning_tokens += metrics.reasoning_tokens
        self.generation_s += metrics.total_s
        energy = watts * metrics.total_s / 3600.0
        self.energy_wh += energy
        if power_source in MEASURED_SOURCES:
            self.measured_energy_wh += energy
        if power_source not in self.power_sources:
            self.power_sources.append(power_source)
        self.last = metrics
        self.last_power_source = power_source
        self.gen_tok_s_series.append(metrics.gen_tok_s)
        self.prompt_tok_s_series.append(metrics.prompt_tok_s)
        self.ttft_s_series.append(metrics.ttft_s)

    @property
    def energy_source(self) -> str:
        """``measured`` when every reply's watts were measured, ``partly measured`` when
        some were, else the assumed sources (``config``, ``estimate`` or ``config, estimate``);
        empty before any reply."""
        measured = [s for s in self.power_sources if s in MEASURED_SOURCES]
        if measured and len(measured) == len(self.power_sources):
            return "measured"
        return "partly measured" if measured else ", ".join(self.power_sources)

    @property
    def mean_gen_tok_s(self) -> float:
        """Mean generation speed over the replies in the series (0 before any)."""
        series = [v for v in self.gen_tok_s_series if v > 0]
        return sum(series) / len(series) if series else 0.0

    def api_equivalent_usd(self, models: tuple[str, ...]) -> dict[str, float]:
        """What this session's tokens would have cost on each paid API model (its replies
        are many ordinary requests: base per-token rates, no long-prompt tier)."""
        from localctl.cost import api_rate_usd

        return api_rate_usd(self.prompt_tokens, self.completion_tokens, models)

    def energy_usd(self, usd_per_kwh: float, *, watts: float | None = None) -> float:
        """Electricity cost of the session.

        Args:
            usd_per_kwh: Electricity price.
            watts: Price the whole generation time at this wattage instead of the
                accumulated ``energy_wh``.

        Returns:
            Dollars.
        """
        if watts is not None:
            from localctl.cost import energy_cost_usd

            return energy_cost_usd(self.generation_s, watts, usd_per_kwh)
        return self.energy_wh / 1000.0 * usd_per_kwh

    def snapshot(self, cost: CostConfig, model: str = "") -> MeterSnapshot:
        """What the meters show now: the last reply's rates, the session totals and prices.

        Args:
            cost: API models to price the tokens on and the electricity price.
            model: The served model's name; where genai-prices lists the same
                open-weights model on a hosted provider, its price is shown too.
        """
        from localctl.cost import hosted_model_for, price_source

        hosted = hosted_model_for(model) if model else None
        last = self.last
        power = self.last_power_source
        energy_source = self.energy_source
        if energy_source != power:
            energy_source = f"{energy_source} ({power})"
        return MeterSnapshot(
            gen_tok_s=last.gen_tok_s if last else 0.0,
            prompt_tok_s=last.prompt_tok_s if last else 0.0,
            ttft_s=last.ttft_s if last else 0.0,
            session_prompt_tokens=self.prompt_tokens,
            session_completion_tokens=self.completion_tokens,
            session_reasoning_tokens=self.reasoning_tokens,
            draft_acceptance=last.draft_acceptance if last else None,
            draft_tokens_per_pass=_tokens_per_pass(last),
            cached_tokens=last.cached_tokens if last else 0,
            replies=self.replies,
            gen_tok_s_history=tuple(self.gen_tok_s_series),
            api_equivalent_usd=self.api_equivalent_usd(cost.api_models),
            hosted_usd=self.api_equivalent_usd((hosted,)) if hosted else {},
            energy_usd=self.energy_usd(cost.electricity_usd_per_kwh),
            energy_wh=self.energy_wh,
            energy_source=energy_source if self.replies else "",
            price_source=price_source((*cost.api_models, *((hosted,) if hosted else ()))),
        )


@dataclass(frozen=True, slots=True)
class MeterSnapshot:
    """Figures of the last reply and of the session so far, as the meters show them."""

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
    hosted_usd: dict[str, float] = field(default_factory=dict)
    """Session tokens priced on the same open-weights model at a hosted provider
    (``openrouter:…``), where genai-prices lists it: renting instead of owning."""
    energy_usd: float = 0.0
    """Local electricity cost of the session's generation time."""
    energy_wh: float = 0.0
    energy_source: str = ""
    """Where the wattage behind ``energy_usd`` came from (``measured (rapl)``, ``config``…)."""
    price_source: str = ""
    """Where the API prices come from, with their date."""
    session_reasoning_tokens: int = 0
    """Thinking tokens so far (counted in ``session_completion_tokens`` and the costs)."""
    context_tokens: int = 0
    """Tokens the conversation fills in the context."""
    n_ctx: int | None = None
    """The server's context per sequence (None: unknown)."""
    draft_acceptance: float | None = None
    """Share of the last reply's drafted tokens accepted (None without a draft model)."""
    draft_tokens_per_pass: float | None = None
    """Tokens per pass of the served model in the last reply (the speed-up before the
    draft's own cost)."""
    cached_tokens: int = 0
    """Prompt tokens of the last reply reused from the server's cache."""
    live: bool = False
    """A reply is still streaming: its tokens are counted by streamed pieces and its
    rates timed here until it ends (then the server's own figures replace them)."""


@dataclass(frozen=True, slots=True)
class SystemSnapshot:
    """One sample of the machine while a model runs (the defaults: nothing sampled yet)."""

    cpu_percent: float = 0.0
    """Busy share of all the machine's cores (100: every core busy) since ``cpu_since``."""
    cpu_since: float = 0.0
    """When the span ``cpu_percent`` covers began (``time.monotonic``)."""
    cpu_count: int = 1
    """Logical cores."""
    ram_used_bytes: int = 0
    ram_total_bytes: int = 1
    server_rss_bytes: int | None = None
    """RSS of the server process (children included); None without a pid or when it is gone."""
    gpus: tuple[GpuUsage, ...] = ()

    @property
    def idle_cores(self) -> float:
        """Cores' worth of CPU time that went unused."""
        return max(0.0, 100.0 - self.cpu_percent) / 100.0 * self.cpu_count

    @property
    def vram_used_bytes(self) -> int:
        """VRAM in use over every GPU."""
        return sum(g.used_bytes for g in self.gpus)

    @property
    def vram_total_bytes(self) -> int:
        """VRAM over every GPU (0 without one)."""
        return sum(g.total_bytes for g in self.gpus)

    @property
    def gpu_util_percent(self) -> float:
        """Utilisation of the busiest GPU."""
        return max((g.utilisation_pct for g in self.gpus), default=0.0)

    @property
    def gpu_power_w(self) -> float | None:
        """Board power over the GPUs that report it (None when none does)."""
        readings = [g.power_w for g in self.gpus if g.power_w is not None]
        return sum(readings) if readings else None


class CpuClock:
    """The machine's busy CPU share from one reading to the next, kept here.

    psutil's ``cpu_percent(interval=None)`` keeps its previous reading per thread: a
    reader on a fresh worker thread got 0.0, or the share since another thread's call
    that happened to have the same id. Readers on any thread share this one.
    """

    def __init__(self) -> None:
        import psutil

        self._lock = threading.Lock()
        self._times = psutil.cpu_times()
        self._at = time.monotonic()

    def read(self) -> tuple[float, float]:
        """The busy share (0–100) since the previous reading, and when that was."""
        import psutil

        with self._lock:
            times, at = psutil.cpu_times(), time.monotonic()
            before, since = self._times, self._at
            self._times, self._at = times, at
        (total_now, idle_now), (total_before, idle_before) = _total_idle(times), _total_idle(before)
        total, idle = total_now - total_before, idle_now - idle_before
        if total <= 0:
            return 0.0, since
        return min(100.0, max(0.0, 100.0 * (total - idle) / total)), since


def _total_idle(times: object) -> tuple[float, float]:
    """All the CPU seconds of psutil's ``cpu_times()``, and the idle ones among them."""
    fields: dict[str, float] = times._asdict()  # type: ignore[attr-defined]
    # Linux counts guest time inside user time already.
    total = sum(fields.values()) - fields.get("guest", 0.0) - fields.get("guest_nice", 0.0)
    return total, fields.get("idle", 0.0) + fields.get("iowait", 0.0)


def system_snapshot(cpu: CpuClock, server_pid: int | None = None) -> SystemSnapshot:
    """Sample CPU % (since ``cpu``'s previous reading), RAM, the server's RSS and GPU usage."""
    import psutil

    memory = psutil.virtual_memory()
    rss = None if server_pid is None else process_tree_rss(server_pid)
    busy, since = cpu.read()
    return SystemSnapshot(
        cpu_percent=busy,
        cpu_since=since,
        cpu_count=psutil.cpu_count() or 1,
        ram_used_bytes=memory.total - memory.available,
        ram_total_bytes=memory.total,
        server_rss_bytes=rss,
        gpus=tuple(gpu_usage()),
    )


def _tokens_per_pass(metrics: ReplyMetrics | None) -> float | None:
    if metrics is None or not metrics.draft_tokens:
        return None
    from localctl.draft import speedup

    return speedup(metrics.completion_tokens, metrics.draft_accepted)

"""Session totals, rolling series and a real system sample."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from localctl.cost import api_equivalent
from localctl.hardware import GpuUsage
from localctl.meters import (
    ESTIMATED_POWER_W,
    SERIES_LENGTH,
    CpuClock,
    PowerMeter,
    PowerReading,
    SessionMeters,
    mean_power,
    system_snapshot,
)
from localctl.replies import ReplyMetrics


def _metrics(tok_s: float) -> ReplyMetrics:
    return ReplyMetrics(
        ttft_s=0.1,
        prompt_tokens=10,
        prompt_tok_s=100.0,
        completion_tokens=20,
        gen_tok_s=tok_s,
        total_s=2.0,
    )


def test_session_totals_and_cost() -> None:
    meters = SessionMeters()
    meters.add(_metrics(50.0))
    meters.add(_metrics(70.0))
    assert (meters.prompt_tokens, meters.completion_tokens, meters.replies) == (20, 40, 2)
    assert meters.mean_gen_tok_s == pytest.approx(60.0)
    assert meters.api_equivalent_usd(("openai:gpt-5",)) == api_equivalent(20, 40, ["openai:gpt-5"])
    assert meters.energy_usd(watts=3600, usd_per_kwh=1.0) == pytest.approx(4.0 / 1000)
    # No watts given: each reply's 2 s priced at the estimate.
    assert meters.energy_wh == pytest.approx(ESTIMATED_POWER_W * 4.0 / 3600)
    assert meters.energy_source == "estimate"


def test_series_is_bounded() -> None:
    meters = SessionMeters()
    for i in range(SERIES_LENGTH + 10):
        meters.add(_metrics(float(i)))
    assert len(meters.gen_tok_s_series) == SERIES_LENGTH


def test_system_snapshot_measures_this_process() -> None:
    snap = system_snapshot(CpuClock(), os.getpid())
    assert snap.server_rss_bytes and snap.server_rss_bytes > 10 * 2**20
    assert 0 < snap.ram_used_bytes < snap.ram_total_bytes
    assert snap.gpus == ()  # no GPU on this machine


def test_gone_process_has_no_rss() -> None:
    assert system_snapshot(CpuClock(), 2**22 + 12345).server_rss_bytes is None


def test_a_reading_on_a_fresh_thread_sees_the_busy_machine() -> None:
    """The TUI reads the machine on a new worker thread each second: each reading covers
    the time since the previous one, whichever thread took it (psutil's own non-blocking
    ``cpu_percent`` gave a fresh thread 0.0)."""
    clock = CpuClock()
    system_snapshot(clock)
    readings = []
    for _ in range(2):
        started = time.monotonic()
        deadline = started + 0.4
        while time.monotonic() < deadline:  # one core busy here
            pass
        reader = threading.Thread(target=lambda: readings.append(system_snapshot(clock)))
        reader.start()
        reader.join()
        assert started - 0.1 <= readings[-1].cpu_since <= started
    one_core = 100.0 / (os.cpu_count() or 1)
    assert all(reading.cpu_percent >= 0.5 * one_core for reading in readings)


class _Clock:
    """A settable monotonic clock."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _powercap(root: Path, *packages: int) -> Path:
    """A fake ``/sys/class/powercap`` with one RAPL package domain per energy value."""
    for index, energy_uj in enumerate(packages):
        domain = root / f"intel-rapl:{index}"
        domain.mkdir(parents=True)
        (domain / "name").write_text(f"package-{index}\n")
        (domain / "max_energy_range_uj").write_text("262143328850\n")
        (domain / "energy_uj").write_text(f"{energy_uj}\n")
        sub = root / f"intel-rapl:{index}:0"  # a sub-domain (core) must not be added in
        sub.mkdir()
        (sub / "energy_uj").write_text("999999999\n")
    return root


def _set_energy(root: Path, index: int, energy_uj: int) -> None:
    (root / f"intel-rapl:{index}" / "energy_uj").write_text(f"{energy_uj}\n")


def _gpus(*watts: float | None) -> list[GpuUsage]:
    return [GpuUsage(i, "GPU", 50.0, 1 << 30, 8 << 30, w) for i, w in enumerate(watts)]


def test_power_meter_sums_gpus_and_rapl_packages(tmp_path: Path) -> None:
    clock = _Clock()
    root = _powercap(tmp_path / "powercap", 1_000_000, 5_000_000)
    meter = PowerMeter(
        300.0, powercap_root=root, gpu_reader=lambda: _gpus(250.0, 150.5), clock=clock
    )
    clock.now += 2.0
    _set_energy(root, 0, 1_000_000 + 60_000_000)  # 60 J in 2 s = 30 W
    _set_energy(root, 1, 5_000_000 + 40_000_000)  # 20 W
    assert meter.read() == PowerReading(pytest.approx(250.0 + 150.5 + 50.0), "nvml+rapl")


def test_power_meter_rapl_counter_wrap(tmp_path: Path) -> None:
    clock = _Clock()
    root = _powercap(tmp_path / "powercap", 262143328850 - 10_000_000)
    meter = PowerMeter(None, powercap_root=root, gpu_reader=list, clock=clock)
    clock.now += 1.0
    _set_energy(root, 0, 15_000_000)
    reading = meter.read()
    assert reading.source == "rapl" and reading.measured
    assert reading.watts == pytest.approx(25.0)


def test_power_meter_gpu_without_rapl(tmp_path: Path) -> None:
    meter = PowerMeter(
        300.0, powercap_root=tmp_path / "none", gpu_reader=lambda: _gpus(None, 120.0)
    )
    assert meter.read() == PowerReading(120.0, "nvml")


def test_power_meter_unreadable_rapl_falls_back_to_config_then_estimate(tmp_path: Path) -> None:
    root = _powercap(tmp_path / "powercap", 1_000)
    (root / "intel-rapl:0" / "energy_uj").chmod(0)  # root-only on many distributions
    if os.access(root / "intel-rapl:0" / "energy_uj", os.R_OK):  # running as root
        (root / "intel-rapl:0" / "energy_uj").write_text("not a number\n")
    no_power = PowerMeter(180.0, powercap_root=root, gpu_reader=lambda: _gpus(None))
    assert no_power.read() == PowerReading(180.0, "config")
    assert not no_power.read().measured
    for config_watts in (None, 0.0):
        meter = PowerMeter(config_watts, powercap_root=root, gpu_reader=list)
        assert meter.read() == PowerReading(ESTIMATED_POWER_W, "estimate")


def test_power_meter_survives_a_failing_gpu_reader(tmp_path: Path) -> None:
    def broken() -> list[GpuUsage]:
        raise RuntimeError("driver gone")

    meter = PowerMeter(90.0, powercap_root=tmp_path, gpu_reader=broken)
    assert meter.read() == PowerReading(90.0, "config")


def test_power_meter_on_this_machine_does_not_block() -> None:
    meter = PowerMeter(None)
    reading = meter.read()
    assert reading.watts > 0 and reading.source in (
        "nvml+rapl",
        "nvml",
        "rapl",
        "estimate",
    )


def test_session_energy_integrates_measured_watts() -> None:
    meters = SessionMeters()
    meters.add(_metrics(50.0), watts=360.0, power_source="nvml")  # 2 s at 360 W = 0.2 Wh
    meters.add(_metrics(50.0), watts=720.0, power_source="nvml+rapl")  # 0.4 Wh
    assert meters.energy_wh == pytest.approx(0.6)
    assert meters.measured_energy_wh == pytest.approx(0.6)
    assert meters.energy_source == "measured"
    assert meters.energy_usd(0.25) == pytest.approx(0.6 / 1000 * 0.25)
    meters.add(_metrics(50.0), watts=180.0, power_source="config")
    assert meters.energy_wh == pytest.approx(0.7)
    assert meters.measured_energy_wh == pytest.approx(0.6)
    assert meters.energy_source == "partly measured"


def test_mean_power_averages_and_keeps_the_common_source() -> None:
    readings = [
        PowerReading(100.0, "nvml"),
        PowerReading(200.0, "nvml"),
        PowerReading(60.0, "config"),
    ]
    assert mean_power(readings) == PowerReading(pytest.approx(120.0), "nvml")
    with pytest.raises(ValueError):
        mean_power([])

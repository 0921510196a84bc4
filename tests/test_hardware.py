"""Hardware detection, bandwidth, simulated profiles, live GPU/CPU figures and `localctl hw`.

No GPU exists on the test machines, so NVML is exercised with a stand-in module
object and AMD/RAPL with fake sysfs trees; everything else runs for real.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psutil
import pytest

from localctl import hardware, paths
from localctl.errors import HardwareError
from localctl.hardware import Gpu, Hardware, bandwidth
from localctl.hwtables import (
    DDR_CONFIGS,
    DEFAULT_DDR,
    GB,
    GIB,
    apple_bandwidth_gb_s,
    gpu_bandwidth_gb_s,
)
from tests.conftest import run_localctl

REAL_MACHINE_BUSY = hardware.machine_busy

REQUIRED_PROFILES = {
    "rtx3090",
    "rtx4090",
    "rtx4090x2",
    "rtx5090",
    "rx7900xtx",
    "m2-ultra-192",
    "m3-ultra-192",
    "m4-max-128",
    "a100-80",
    "a100-80x2",
    "h100-80",
    "h100-80x8",
    "cpu-64",
    "laptop-16",
}


# --------------------------------------------------------------------------- NVML stand-in


class FakeNvmlError(Exception):
    """Like pynvml.NVMLError: str() is the driver's message."""


class FakeNvml:
    """A stand-in for the ``pynvml`` module: a GPU cannot exist on the test machine."""

    NVMLError = FakeNvmlError
    NVML_CLOCK_MEM = 2

    def __init__(self, devices: list[dict[str, Any]], init_error: str | None = None) -> None:
        self.devices = devices
        self.init_error = init_error
        self.inits = 0
        self.shutdowns = 0

    def nvmlInit(self) -> None:
        if self.init_error:
            raise FakeNvmlError(self.init_error)
        self.inits += 1

    def nvmlShutdown(self) -> None:
        self.shutdowns += 1

    def nvmlDeviceGetCount(self) -> int:
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> dict[str, Any]:
        device = self.devices[index]
        if device.get("lost"):
            raise FakeNvmlError("GPU is lost")
        return device

    def nvmlDeviceGetName(self, handle: dict[str, Any]) -> str | bytes:
        name: str | bytes = handle["name"]
        return name

    def nvmlDeviceGetUUID(self, handle: dict[str, Any]) -> str:
        return str(handle["uuid"])

    def nvmlDeviceGetMemoryInfo(self, handle: dict[str, Any]) -> SimpleNamespace:
        return SimpleNamespace(
            total=handle["total"], free=handle["free"], used=handle["total"] - handle["free"]
        )

    def nvmlDeviceGetMemoryBusWidth(self, handle: dict[str, Any]) -> int:
        if "bus_bits" not in handle:
            raise FakeNvmlError("Not Supported")
        return int(handle["bus_bits"])

    def nvmlDeviceGetMaxClockInfo(self, handle: dict[str, Any], clock: int) -> int:
        assert clock == self.NVML_CLOCK_MEM
        return int(handle["mem_mhz"])

    def nvmlDeviceGetUtilizationRates(self, handle: dict[str, Any]) -> SimpleNamespace:
        return SimpleNamespace(gpu=handle.get("util", 0), memory=0)

    def nvmlDeviceGetPowerUsage(self, handle: dict[str, Any]) -> int:
        if "power_mw" not in handle:
            raise FakeNvmlError("Not Supported")
        return int(handle["power_mw"])


def three_gpus() -> list[dict[str, Any]]:
    return [
        {
            "name": "NVIDIA GeForce RTX 4090",
            "uuid": "GPU-aaaa-1111",
            "total": 24_564 * 2**20,
            "free": 23_000 * 2**20,
            "util": 87,
            "power_mw": 312_500,
        },
        {
            "name": b"NVIDIA Future Card",
            "uuid": "GPU-bbbb-2222",
            "total": 48 * GIB,
            "free": 40 * GIB,
            "bus_bits": 256,
            "mem_mhz": 12_000,
        },
        {"name": "NVIDIA Old Card", "uuid": "GPU-cccc-3333", "total": 8 * GIB, "free": 8 * GIB},
    ]


def no_nvml() -> Any:
    raise ImportError("No module named 'pynvml'")


# --------------------------------------------------------------------------- this machine


def test_detects_this_machine_with_sane_cpu_and_ram() -> None:
    hw = hardware.detect_hardware(measure=False)
    memory = psutil.virtual_memory()
    assert hw.profile == ""
    assert hw.cpu_name and hw.cpu_name != "unknown CPU"
    assert 1 <= hw.physical_cores <= hw.logical_cores
    assert hw.logical_cores == psutil.cpu_count()
    assert 0 < hw.ram_available_bytes <= hw.ram_total_bytes <= memory.total
    assert hw.ram_total_bytes > 512 * 2**20
    assert not hw.unified_memory
    no_gpu_here = not Path("/dev/nvidia0").exists() and not Path("/sys/class/drm").exists()
    if no_gpu_here:
        assert hw.gpus == ()
        assert hw.vram_total_bytes == 0
        assert any(note.startswith("NVML:") for note in hw.notes)


@pytest.fixture(autouse=True)
def quiet_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bandwidth figures are cached only on a quiet machine; CI may be busy, so say it is not."""
    monkeypatch.setattr(bandwidth, "machine_busy", lambda: "")


def test_a_figure_measured_on_a_busy_machine_is_neither_used_nor_cached(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bandwidth, "machine_busy", lambda: "machine busy (load average 5.0)")
    monkeypatch.setattr(bandwidth, "measure_ram_bandwidth", lambda **_: 5.8 * GB)
    hw = hardware.detect_hardware(nvml_loader=no_nvml)
    assert hw.ram_bandwidth_source == "assumed"
    assert hw.ram_bandwidth_bytes_s == DDR_CONFIGS[DEFAULT_DDR] * GB
    assert any("5.8 GB/s measured now is not used" in note for note in hw.notes)
    assert hardware.cached_ram_bandwidth(hw.cpu_name) is None
    # A quiet measurement later is used and cached.
    monkeypatch.setattr(bandwidth, "machine_busy", lambda: "")
    quiet = hardware.detect_hardware(nvml_loader=no_nvml)
    assert quiet.ram_bandwidth_source == "measured" and quiet.ram_bandwidth_bytes_s == 5.8 * GB


def test_machine_busy_reads_the_load_average(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bandwidth.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(bandwidth.os, "getloadavg", lambda: (4.0, 1.0, 1.0))
    assert "load average 4.0 on 2 CPUs" in REAL_MACHINE_BUSY()
    monkeypatch.setattr(bandwidth.os, "getloadavg", lambda: (1.5, 1.0, 1.0))
    assert REAL_MACHINE_BUSY() == ""


def test_first_detection_measures_bandwidth_and_later_ones_use_the_cache() -> None:
    hw = hardware.detect_hardware(nvml_loader=no_nvml)
    assert hw.ram_bandwidth_source == "measured"
    assert 1 * GB < hw.ram_bandwidth_bytes_s < 2000 * GB
    cache = json.loads(hardware.bandwidth_cache_file().read_text())
    assert cache["cpus"][hw.cpu_name]["bytes_s"] == hw.ram_bandwidth_bytes_s

    again = hardware.detect_hardware(nvml_loader=no_nvml)  # bench/budgets.py times this
    assert again.ram_bandwidth_bytes_s == hw.ram_bandwidth_bytes_s
    assert not any("measured now" in note for note in again.notes)


def test_remeasure_replaces_a_cached_figure() -> None:
    cpu_name = hardware.detect_hardware(measure=False, nvml_loader=no_nvml).cpu_name
    cache = hardware.bandwidth_cache_file()
    cache.parent.mkdir(parents=True)
    cache.write_text(json.dumps({"version": 1, "cpus": {cpu_name: {"bytes_s": 1234.0}}}))
    cached = hardware.detect_hardware(nvml_loader=no_nvml)
    assert (cached.ram_bandwidth_bytes_s, cached.ram_bandwidth_source) == (1234.0, "measured")
    fresh = hardware.detect_hardware(remeasure=True, nvml_loader=no_nvml)
    assert fresh.ram_bandwidth_bytes_s > 1 * GB
    assert hardware.cached_ram_bandwidth(cpu_name) == fresh.ram_bandwidth_bytes_s


def test_without_measurement_or_cache_bandwidth_is_an_assumed_ddr_figure() -> None:
    hw = hardware.detect_hardware(measure=False, nvml_loader=no_nvml)
    assert hw.ram_bandwidth_source == "assumed"
    assert hw.ram_bandwidth_bytes_s == pytest.approx(51.2 * GB)
    assert not hardware.bandwidth_cache_file().exists()


def test_a_corrupt_bandwidth_cache_is_ignored_and_rewritten() -> None:
    cache = hardware.bandwidth_cache_file()
    cache.parent.mkdir(parents=True)
    cache.write_text("{not json")
    hw = hardware.detect_hardware(nvml_loader=no_nvml)
    assert hw.ram_bandwidth_source == "measured"
    assert hardware.cached_ram_bandwidth(hw.cpu_name) == hw.ram_bandwidth_bytes_s


def test_measured_copy_bandwidth_is_positive_with_one_thread() -> None:
    assert hardware.measure_ram_bandwidth(duration_s=0.05, threads=1) > 1 * GB


def test_cgroup_memory_limit_caps_ram(tmp_path: Path) -> None:
    cgroup = tmp_path / "fs" / "cgroup"
    cgroup.mkdir(parents=True)
    (cgroup / "memory.max").write_text(f"{GIB}\n")
    (cgroup / "memory.current").write_text(f"{GIB // 4}\n")
    hw = hardware.detect_hardware(measure=False, nvml_loader=no_nvml, sysfs_root=tmp_path)
    assert hw.ram_total_bytes == GIB
    assert hw.ram_available_bytes <= GIB - GIB // 4
    assert any("cgroup" in note for note in hw.notes)


def test_unlimited_cgroup_leaves_ram_alone(tmp_path: Path) -> None:
    cgroup = tmp_path / "fs" / "cgroup"
    cgroup.mkdir(parents=True)
    (cgroup / "memory.max").write_text("max\n")
    hw = hardware.detect_hardware(measure=False, nvml_loader=no_nvml, sysfs_root=tmp_path)
    assert hw.ram_total_bytes == psutil.virtual_memory().total


# --------------------------------------------------------------------------- NVIDIA


def test_nvml_reports_each_gpu_with_table_or_computed_bandwidth() -> None:
    nvml = FakeNvml(three_gpus())
    gpus, notes = hardware.nvidia_gpus(lambda: nvml)
    assert notes == []
    assert [g.index for g in gpus] == [0, 1, 2]
    rtx, future, old = gpus
    assert rtx == Gpu(
        0, "NVIDIA GeForce RTX 4090", "nvidia", 24_564 * 2**20, 23_000 * 2**20, 1008 * GB, "table"
    )
    assert future.name == "NVIDIA Future Card"  # bytes from old pynvml versions decode
    assert future.bandwidth_bytes_s == pytest.approx(256 / 8 * 12_000e6 * 2)
    assert future.bandwidth_source == "nvml"
    assert (old.bandwidth_bytes_s, old.bandwidth_source) == (0.0, "")
    assert nvml.inits == nvml.shutdowns == 1


def test_nvml_figure_that_disagrees_with_the_table_is_noted() -> None:
    devices = three_gpus()
    devices[0].update(bus_bits=384, mem_mhz=5_000)  # half of a real RTX 4090's clock
    gpus, notes = hardware.nvidia_gpus(lambda: FakeNvml(devices))
    assert gpus[0].bandwidth_bytes_s == 1008 * GB
    assert notes == [
        "NVML: GPU 0: NVIDIA GeForce RTX 4090: table says 1008 GB/s, NVML bus × clock 480 GB/s"
    ]


def test_detect_hardware_includes_nvml_gpus() -> None:
    hw = hardware.detect_hardware(measure=False, nvml_loader=lambda: FakeNvml(three_gpus()))
    assert len(hw.gpus) == 3
    assert hw.vram_total_bytes == 24_564 * 2**20 + 48 * GIB + 8 * GIB
    assert hw.vram_free_bytes == 23_000 * 2**20 + 40 * GIB + 8 * GIB


def test_missing_nvml_library_means_no_gpu_and_a_note() -> None:
    gpus, notes = hardware.nvidia_gpus(no_nvml)
    assert gpus == []
    assert notes == ["NVML: nvidia-ml-py is not installed"]


def test_nvml_init_failure_means_no_gpu_and_the_driver_message() -> None:
    nvml = FakeNvml(three_gpus(), init_error="Driver Not Loaded")
    gpus, notes = hardware.nvidia_gpus(lambda: nvml)
    assert gpus == []
    assert notes == ["NVML: Driver Not Loaded"]


def test_real_pynvml_without_a_driver_raises_nothing() -> None:
    gpus, notes = hardware.nvidia_gpus()
    if not Path("/dev/nvidia0").exists():
        assert gpus == []
        assert len(notes) == 1 and notes[0].startswith("NVML: ")


def test_a_lost_gpu_is_skipped_with_a_note() -> None:
    devices = three_gpus()
    devices[1]["lost"] = True
    gpus, notes = hardware.nvidia_gpus(lambda: FakeNvml(devices))
    assert [g.index for g in gpus] == [0, 2]
    assert notes == ["NVML: GPU 1: GPU is lost"]


@pytest.mark.parametrize(
    ("visible", "indices"),
    [("1", [1]), ("2,0", [0, 2]), ("GPU-cccc", [2]), ("", []), ("0,bogus,1", [0])],
)
def test_cuda_visible_devices_hides_gpus(
    monkeypatch: pytest.MonkeyPatch, visible: str, indices: list[int]
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    gpus, _ = hardware.nvidia_gpus(lambda: FakeNvml(three_gpus()))
    assert [g.index for g in gpus] == indices


def test_gpu_usage_reads_utilisation_memory_and_power() -> None:
    usage = hardware.gpu_usage(lambda: FakeNvml(three_gpus()))
    assert [u.index for u in usage] == [0, 1, 2]
    first = usage[0]
    assert first.utilisation_pct == 87.0
    assert first.used_bytes == (24_564 - 23_000) * 2**20
    assert first.total_bytes == 24_564 * 2**20
    assert first.power_w == pytest.approx(312.5)
    assert usage[1].power_w is None


def test_gpu_usage_is_empty_without_nvml() -> None:
    assert hardware.gpu_usage(no_nvml) == []
    assert hardware.gpu_usage(lambda: FakeNvml([], init_error="Driver Not Loaded")) == []
    if not Path("/dev/nvidia0").exists():
        assert hardware.gpu_usage() == []


# --------------------------------------------------------------------------- AMD


def make_card(drm: Path, name: str, files: dict[str, str]) -> None:
    device = drm / name / "device"
    device.mkdir(parents=True)
    for key, value in files.items():
        (device / key).write_text(value + "\n")


@pytest.fixture
def fake_sysfs(tmp_path: Path) -> Path:
    drm = tmp_path / "class" / "drm"
    make_card(
        drm,
        "card0",
        {
            "vendor": "0x1002",
            "device": "0x744c",
            "mem_info_vram_total": str(24 * GIB),
            "mem_info_vram_used": str(2 * GIB),
        },
    )
    (drm / "card0-DP-1").mkdir()  # a connector, not a card
    (drm / "renderD128").mkdir()
    make_card(drm, "card1", {"vendor": "0x8086", "device": "0x56a0"})  # Intel Arc: not ours
    make_card(
        drm,
        "card2",
        {
            "vendor": "0x1002",
            "device": "0x15bf",
            "mem_info_vram_total": str(512 * 2**20),
            "mem_info_vram_used": str(100 * 2**20),
        },
    )
    make_card(
        drm,
        "card10",
        {
            "vendor": "0x1002",
            "device": "0x74a1",
            "product_name": "AMD Instinct MI300X",
            "mem_info_vram_total": str(192 * GIB),
            "mem_info_vram_used": "0",
        },
    )
    make_card(
        drm,
        "card3",
        {
            "vendor": "0x1002",
            "device": "0x9999",
            "mem_info_vram_total": str(8 * GIB),
            "mem_info_vram_used": "garbage",
        },
    )
    return tmp_path


def test_amd_gpus_from_sysfs(fake_sysfs: Path) -> None:
    gpus, notes = hardware.amd_gpus(fake_sysfs)
    assert [(g.index, g.name) for g in gpus] == [
        (0, "AMD Radeon RX 7900 XTX"),
        (3, "AMD GPU 0x9999"),
        (10, "AMD Instinct MI300X"),
    ]
    xtx, unknown, mi300 = gpus
    assert (xtx.vendor, xtx.total_bytes, xtx.free_bytes) == ("amd", 24 * GIB, 22 * GIB)
    assert (xtx.bandwidth_bytes_s, xtx.bandwidth_source) == (960 * GB, "table")
    assert (unknown.free_bytes, unknown.bandwidth_bytes_s) == (8 * GIB, 0.0)
    assert mi300.bandwidth_bytes_s == 5300 * GB
    assert notes == ["AMD card2: integrated GPU with 512 MiB, left out"]


def test_amd_variant_is_told_apart_by_memory_size(tmp_path: Path) -> None:
    make_card(
        tmp_path / "class" / "drm",
        "card0",
        {
            "vendor": "0x1002",
            "device": "0x744c",
            "mem_info_vram_total": str(20 * GIB),
            "mem_info_vram_used": "0",
        },
    )
    gpus, _ = hardware.amd_gpus(tmp_path)
    assert gpus[0].name == "AMD Radeon RX 7900 XT"
    assert gpus[0].bandwidth_bytes_s == 800 * GB


def test_detect_hardware_includes_amd_gpus(fake_sysfs: Path) -> None:
    hw = hardware.detect_hardware(measure=False, nvml_loader=no_nvml, sysfs_root=fake_sysfs)
    assert [g.vendor for g in hw.gpus] == ["amd", "amd", "amd"]
    assert hw.vram_total_bytes == (24 + 8 + 192) * GIB


def test_no_drm_folder_means_no_amd_gpu(tmp_path: Path) -> None:
    assert hardware.amd_gpus(tmp_path) == ([], [])


# --------------------------------------------------------------------------- Apple


def mac(brand: str, ram_gib: int, cores: int, wired_mb: int | None = None) -> dict[str, str]:
    values = {
        "machdep.cpu.brand_string": brand,
        "hw.memsize": str(ram_gib * GIB),
        "hw.physicalcpu": str(cores),
        "hw.logicalcpu": str(cores),
    }
    if wired_mb is not None:
        values["iogpu.wired_limit_mb"] = str(wired_mb)
    return values


def test_apple_m3_ultra_gpu_gets_three_quarters_of_unified_memory() -> None:
    hw = hardware.apple_hardware(mac("Apple M3 Ultra", 192, 28).get, ram_available_bytes=150 * GIB)
    assert hw.unified_memory
    assert (hw.cpu_name, hw.physical_cores, hw.ram_total_bytes) == ("Apple M3 Ultra", 28, 192 * GIB)
    (gpu,) = hw.gpus
    assert (gpu.vendor, gpu.total_bytes) == ("apple", 144 * GIB)
    assert gpu.free_bytes == 144 * GIB  # the share, capped by RAM available now
    assert gpu.bandwidth_bytes_s == hw.ram_bandwidth_bytes_s == 819 * GB
    assert hw.ram_bandwidth_source == "table"


def test_apple_small_mac_gets_two_thirds_and_free_is_capped_by_available_ram() -> None:
    hw = hardware.apple_hardware(mac("Apple M1", 16, 8).get, ram_available_bytes=6 * GIB)
    (gpu,) = hw.gpus
    assert gpu.total_bytes == int(16 * GIB * 2 / 3)
    assert gpu.free_bytes == 6 * GIB
    assert gpu.bandwidth_bytes_s == 68.25 * GB


def test_apple_wired_limit_sysctl_overrides_the_share() -> None:
    values = mac("Apple M2 Max", 96, 12, wired_mb=88 * 1024)
    hw = hardware.apple_hardware(values.get, ram_available_bytes=90 * GIB)
    assert hw.gpus[0].total_bytes == 88 * GIB
    assert hw.gpus[0].bandwidth_bytes_s == 400 * GB


def test_apple_binned_max_chip_has_lower_bandwidth() -> None:
    assert apple_bandwidth_gb_s("Apple M4 Max", 14) == 410
    assert apple_bandwidth_gb_s("Apple M4 Max", 16) == 546
    assert apple_bandwidth_gb_s("Apple M3 Max", 14) == 300
    assert apple_bandwidth_gb_s("Apple M4 Pro", 14) == 273
    assert apple_bandwidth_gb_s("Intel(R) Core(TM) i9", 8) is None


def test_detect_hardware_on_apple_silicon_uses_sysctl() -> None:
    values = mac("Apple M4 Max", 128, 16)
    hw = hardware.detect_hardware(system="Darwin", machine="arm64", sysctl=values.get)
    assert hw.unified_memory
    assert hw.gpus[0].total_bytes == 96 * GIB
    assert hw.ram_bandwidth_bytes_s == 546 * GB
    assert not hardware.bandwidth_cache_file().exists()  # the table figure needs no measurement


def test_unknown_apple_chip_falls_back_to_measured_bandwidth() -> None:
    values = mac("Apple M9 Hyper", 64, 10)
    hw = hardware.detect_hardware(system="Darwin", machine="arm64", sysctl=values.get)
    assert hw.ram_bandwidth_source == "measured"
    assert hw.gpus[0].bandwidth_bytes_s == 0
    assert hw.gpus[0].total_bytes == 48 * GIB


# --------------------------------------------------------------------------- tables


@pytest.mark.parametrize(
    ("name", "vram_gib", "gb_s"),
    [
        ("NVIDIA GeForce RTX 3090", 24, 936),
        ("NVIDIA GeForce RTX 3090 Ti", 24, 1008),
        ("NVIDIA GeForce RTX 5090", 32, 1792),
        ("NVIDIA A100-SXM4-40GB", 40, 1555),
        ("NVIDIA A100-SXM4-80GB", 80, 2039),
        ("NVIDIA A100 80GB PCIe", 80, 1935),
        ("NVIDIA H100 80GB HBM3", 80, 3350),
        ("NVIDIA H100 PCIe", 80, 2000),
        ("NVIDIA H200", 140, 4800),
        ("NVIDIA GH200 480GB", 96, 4000),
        ("NVIDIA L40S", 48, 864),
        ("NVIDIA L4", 24, 300),
        ("Tesla T4", 16, 320),
        ("AMD Radeon RX 7900 XTX", 24, 960),
    ],
)
def test_known_gpu_bandwidth(name: str, vram_gib: int, gb_s: float) -> None:
    assert gpu_bandwidth_gb_s(name, vram_gib * GIB) == gb_s


def test_unknown_gpu_has_no_table_bandwidth() -> None:
    assert gpu_bandwidth_gb_s("NVIDIA Quadro Something", 8 * GIB) is None


# --------------------------------------------------------------------------- profiles


def test_every_required_profile_exists() -> None:
    assert set(hardware.profile_names()) >= REQUIRED_PROFILES


@pytest.mark.parametrize("name", hardware.builtin_profile_names())
def test_profile_loads_and_is_consistent(name: str) -> None:
    hw = hardware.load_profile(name)
    assert hw.profile == name
    assert hw.description
    assert 1 <= hw.physical_cores <= hw.logical_cores
    assert 0 < hw.ram_available_bytes <= hw.ram_total_bytes
    assert hw.ram_bandwidth_bytes_s > 10 * GB
    assert hw.ram_bandwidth_source == "profile"
    for gpu in hw.gpus:
        assert 0 < gpu.free_bytes <= gpu.total_bytes
        assert gpu.bandwidth_bytes_s > hw.ram_bandwidth_bytes_s or hw.unified_memory
        assert gpu.bandwidth_source == "profile"
    assert [g.index for g in hw.gpus] == list(range(len(hw.gpus)))
    if hw.unified_memory:
        (gpu,) = hw.gpus
        assert gpu.vendor == "apple"
        assert gpu.total_bytes < hw.ram_total_bytes
        assert gpu.bandwidth_bytes_s == hw.ram_bandwidth_bytes_s
    else:
        assert all(g.vendor in ("nvidia", "amd") for g in hw.gpus)


@pytest.mark.parametrize(
    ("name", "gpus", "vram_gib", "gpu_gb_s", "ram_gib"),
    [
        ("rtx4090", 1, 24, 1008, 64),
        ("rtx4090x2", 2, 48, 1008, 128),
        ("rtx3090", 1, 24, 936, 64),
        ("rtx5090", 1, 32, 1792, 64),
        ("rx7900xtx", 1, 24, 960, 32),
        ("m3-ultra-192", 1, 144, 819, 192),
        ("m2-ultra-192", 1, 144, 800, 192),
        ("m4-max-128", 1, 96, 546, 128),
        ("a100-80", 1, 80, 2039, 256),
        ("a100-80x2", 2, 160, 2039, 512),
        ("h100-80", 1, 80, 3350, 256),
        ("h100-80x8", 8, 640, 3350, 2048),
        ("cpu-64", 0, 0, 0, 64),
        ("laptop-16", 0, 0, 0, 16),
    ],
)
def test_profile_figures(
    name: str, gpus: int, vram_gib: int, gpu_gb_s: float, ram_gib: int
) -> None:
    hw = hardware.load_profile(name)
    assert len(hw.gpus) == gpus
    assert hw.vram_total_bytes == vram_gib * GIB
    assert all(g.bandwidth_bytes_s == gpu_gb_s * GB for g in hw.gpus)
    assert hw.ram_total_bytes == ram_gib * GIB


def test_rtx4090_profile_is_a_16_core_ddr5_desktop() -> None:
    hw = hardware.load_profile("RTX4090")
    assert (hw.physical_cores, hw.logical_cores) == (16, 32)
    assert hw.ram_bandwidth_bytes_s == 89.6 * GB
    assert hw.ram_available_bytes == int(64 * GIB * 0.9)


def test_unknown_profile_lists_known_names_and_a_close_match() -> None:
    with pytest.raises(HardwareError) as caught:
        hardware.load_profile("rtx409")
    message = str(caught.value)
    assert "unknown hardware profile 'rtx409'" in message
    assert "did you mean rtx4090" in message
    assert "m3-ultra-192" in message and "\n" not in message


def test_resolve_hardware_detects_for_none_and_loads_a_name() -> None:
    assert hardware.resolve_hardware(None, measure=False).profile == ""
    assert hardware.resolve_hardware("cpu-64").profile == "cpu-64"


GOOD_PROFILE = """
description = "Home server"
cpu_name = "Intel Xeon W-2295"
physical_cores = 18
logical_cores = 36
ram_gib = 256
ram_available_gib = 240
memory = "ddr4-3200-quad"

[[gpus]]
name = "NVIDIA RTX A6000"
vram_gib = 48
count = 2

[[gpus]]
name = "Homebrew Accelerator"
vendor = "amd"
vram_gib = 16
vram_free_gib = 15
bandwidth_gb_s = 512.5
"""


def test_user_profile_by_name_in_the_profiles_folder() -> None:
    folder = paths.hardware_profiles_dir()
    folder.mkdir(parents=True)
    (folder / "homeserver.toml").write_text(GOOD_PROFILE)
    assert "homeserver" in hardware.profile_names()
    hw = hardware.load_profile("homeserver")
    assert hw.profile == "homeserver"
    assert hw.description == "Home server"
    assert (hw.physical_cores, hw.logical_cores) == (18, 36)
    assert (hw.ram_total_bytes, hw.ram_available_bytes) == (256 * GIB, 240 * GIB)
    assert hw.ram_bandwidth_bytes_s == 102.4 * GB
    assert [(g.index, g.name, g.vendor) for g in hw.gpus] == [
        (0, "NVIDIA RTX A6000", "nvidia"),
        (1, "NVIDIA RTX A6000", "nvidia"),
        (2, "Homebrew Accelerator", "amd"),
    ]
    assert hw.gpus[0].bandwidth_bytes_s == 768 * GB  # from the device table
    assert (hw.gpus[2].free_bytes, hw.gpus[2].bandwidth_bytes_s) == (15 * GIB, 512.5 * GB)


def test_user_profile_by_path_and_overriding_a_builtin(tmp_path: Path) -> None:
    path = tmp_path / "box.toml"
    path.write_text(GOOD_PROFILE)
    assert hardware.load_profile(str(path)).profile == "box"
    folder = paths.hardware_profiles_dir()
    folder.mkdir(parents=True)
    (folder / "rtx4090.toml").write_text(GOOD_PROFILE)
    assert hardware.load_profile("rtx4090").description == "Home server"


def test_minimal_user_profile_gets_documented_defaults(tmp_path: Path) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text('cpu_name = "Tiny"\nphysical_cores = 4\nram_gib = 8\n')
    hw = hardware.load_profile(str(path))
    assert (hw.logical_cores, hw.gpus, hw.unified_memory) == (4, (), False)
    assert hw.ram_available_bytes == int(8 * GIB * 0.9)
    assert hw.ram_bandwidth_bytes_s == 51.2 * GB


def test_user_apple_profile_defaults_to_the_gpu_share(tmp_path: Path) -> None:
    path = tmp_path / "studio.toml"
    path.write_text(
        'cpu_name = "Apple M2 Max"\nphysical_cores = 12\nram_gib = 32\nunified_memory = true\n'
        '[[gpus]]\nname = "Apple M2 Max"\n'
    )
    hw = hardware.load_profile(str(path))
    assert hw.gpus[0].total_bytes == int(32 * GIB * 2 / 3)
    assert hw.ram_bandwidth_bytes_s == hw.gpus[0].bandwidth_bytes_s == 400 * GB


BASE = 'cpu_name = "X"\nphysical_cores = 4\nram_gib = 16\n'


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (BASE + "ram_gb = 16\n", "'ram_gb' is not known"),
        ('cpu_name = "X"\nphysical_cores = 4\nram_gib = "lots"\n', "'ram_gib' must be a number"),
        ('cpu_name = "X"\nram_gib = 16\n', "'physical_cores' is missing"),
        ('cpu_name = "X"\nphysical_cores = 0\nram_gib = 16\n', "'physical_cores' must be a whole"),
        ('cpu_name = "X"\nphysical_cores = true\nram_gib = 16\n', "'physical_cores' must be"),
        (BASE + "logical_cores = 2\n", "'logical_cores' (2) is less than"),
        (BASE + "ram_available_gib = 20\n", "'ram_available_gib' is more than"),
        (BASE + 'memory = "ddr9"\n', "'memory' must be one of"),
        (BASE + 'memory = "ddr5-5600-dual"\nram_bandwidth_gb_s = 90\n', "'memory' and"),
        (BASE + "unified_memory = 1\n", "'unified_memory' must be true or false"),
        (BASE + "gpus = 3\n", "'gpus' must be a list of tables"),
        (BASE + '[[gpus]]\nname = "NVIDIA GeForce RTX 4090"\n', "'gpus[0].vram_gib' is missing"),
        (BASE + '[[gpus]]\nname = "Mystery"\nvram_gib = 8\n', "'gpus[0].bandwidth_gb_s' is"),
        (
            BASE + '[[gpus]]\nname = "A"\nvram_gib = 8\nbandwidth_gb_s = 9\nvendor = "matrox"\n',
            "'gpus[0].vendor' must be one of",
        ),
        (
            BASE + '[[gpus]]\nname = "A"\nvram_gib = 8\nbandwidth_gb_s = 9\nvram_free_gib = 9\n',
            "'gpus[0].vram_free_gib' is more than",
        ),
        (
            BASE + '[[gpus]]\nname = "A"\nvram_gib = 8\nbandwidth_gb_s = 9\ncount = 0\n',
            "'gpus[0].count' must be",
        ),
        (
            BASE + '[[gpus]]\nname = "A"\nvram_gib = 8\nbandwidth_gb_s = 9\ncolour = "red"\n',
            "'gpus[0].colour' is not known",
        ),
        (
            BASE + 'unified_memory = true\n[[gpus]]\nname = "Apple M1"\nvram_gib = 32\n',
            "'gpus[0].vram_gib' is more than ram_gib",
        ),
        (BASE + '[[gpus]]\nname = "Apple M1"\nvendor = "apple"\n', "'gpus[0].vendor' must be"),
    ],
)
def test_malformed_user_profile_names_file_and_field(tmp_path: Path, body: str, field: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(HardwareError) as caught:
        hardware.load_profile(str(path))
    message = str(caught.value)
    assert message.startswith(f"hardware profile {path}: field ")
    assert field in message
    assert "\n" not in message


def test_invalid_toml_profile_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("cpu_name = \n")
    with pytest.raises(HardwareError, match=r"broken\.toml: invalid TOML"):
        hardware.load_profile(str(path))


def test_missing_profile_file_is_a_hardware_error(tmp_path: Path) -> None:
    with pytest.raises(HardwareError, match="not found"):
        hardware.load_profile(str(tmp_path / "nope.toml"))


# --------------------------------------------------------------------------- RAPL


def write_rapl(root: Path, domain: str, energy_uj: int, max_uj: int = 2**32) -> None:
    folder = root / domain
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "energy_uj").write_text(f"{energy_uj}\n")
    (folder / "max_energy_range_uj").write_text(f"{max_uj}\n")


class FakeClock:
    def __init__(self, *readings: float) -> None:
        self.readings = list(readings)

    def __call__(self) -> float:
        return self.readings.pop(0)


def test_cpu_power_meter_sums_packages_and_handles_wraparound(tmp_path: Path) -> None:
    write_rapl(tmp_path, "intel-rapl:0", 2**32 - 1_000_000)
    write_rapl(tmp_path, "intel-rapl:1", 5_000_000)
    write_rapl(tmp_path, "intel-rapl:0:0", 0)  # a sub-domain inside package 0, not counted
    meter = hardware.CpuPowerMeter(tmp_path, clock=FakeClock(100.0, 102.0))
    write_rapl(tmp_path, "intel-rapl:0", 1_000_000)  # wrapped: +2 J
    write_rapl(tmp_path, "intel-rapl:1", 9_000_000)  # +4 J
    write_rapl(tmp_path, "intel-rapl:0:0", 10**12)
    assert meter.read() == pytest.approx(3.0)  # 6 J over 2 s


def test_cpu_power_is_none_when_rapl_is_absent_or_unreadable(tmp_path: Path) -> None:
    assert hardware.cpu_power_w(tmp_path / "missing", interval_s=0.01) is None
    (tmp_path / "intel-rapl:0").mkdir()
    (tmp_path / "intel-rapl:0" / "energy_uj").mkdir()  # unreadable as a file
    assert hardware.cpu_power_w(tmp_path, interval_s=0.01) is None
    assert hardware.CpuPowerMeter(tmp_path).read() is None


def test_cpu_power_w_from_two_samples(tmp_path: Path) -> None:
    write_rapl(tmp_path, "intel-rapl:0", 7_000_000)
    assert hardware.cpu_power_w(tmp_path, interval_s=0.01) == 0.0


def test_cpu_power_here_is_a_number_or_none() -> None:
    power = hardware.cpu_power_w(interval_s=0.01)
    assert power is None or power >= 0


# --------------------------------------------------------------------------- JSON and CLI


def test_hardware_to_dict_is_plain_json() -> None:
    hw = Hardware("CPU", 2, 4, 8 * GIB, 4 * GIB, 50e9, (Gpu(0, "G", "nvidia", GIB, GIB, 1e11),))
    document = hardware.hardware_to_dict(hw)
    assert json.loads(json.dumps(document)) == document
    assert document["gpus"][0]["bandwidth_bytes_s"] == 100_000_000_000
    assert document["vram_total_bytes"] == GIB


def localctl(*args: str) -> subprocess.CompletedProcess[str]:
    return run_localctl("hw", *args, timeout=60)


def test_cli_hw_json_describes_this_machine() -> None:
    result = localctl("--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert set(document) == {
        "profile",
        "description",
        "cpu",
        "ram",
        "unified_memory",
        "gpus",
        "vram_total_bytes",
        "vram_free_bytes",
        "notes",
        "server_backend",
    }
    assert document["profile"] is None
    assert set(document["cpu"]) == {"name", "physical_cores", "logical_cores"}
    assert set(document["ram"]) == {
        "total_bytes",
        "available_bytes",
        "bandwidth_bytes_s",
        "bandwidth_source",
    }
    # A busy machine (a shared CI box) assumes a DDR figure rather than use a low reading.
    source = document["ram"]["bandwidth_source"]
    assert source == "measured" or any("not used" in note for note in document["notes"])
    assert document["cpu"]["logical_cores"] == psutil.cpu_count()
    assert document["ram"]["total_bytes"] > 0
    assert result.stderr == ""


def test_cli_hw_json_for_a_profile() -> None:
    result = localctl("--hw", "rtx4090x2", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["profile"] == "rtx4090x2"
    assert [g["bandwidth_bytes_s"] for g in document["gpus"]] == [1_008_000_000_000] * 2
    assert document["vram_total_bytes"] == 48 * GIB
    assert set(document["gpus"][0]) == {
        "index",
        "name",
        "vendor",
        "total_bytes",
        "free_bytes",
        "bandwidth_bytes_s",
        "bandwidth_source",
    }


def test_cli_hw_human_summary() -> None:
    result = localctl("--hw", "m3-ultra-192")
    assert result.returncode == 0, result.stderr
    assert "Apple M3 Ultra: 28 cores" in result.stdout
    assert "144.0 GiB of 192.0 GiB" in result.stdout
    assert "819 GB/s" in result.stdout
    here = localctl()
    assert here.returncode == 0, here.stderr
    assert "this machine" in here.stdout
    # Measured, or (on a busy box) assumed with the reason on a line of its own.
    assert "GB/s (measured)" in here.stdout or "is not used" in here.stdout


def test_cli_hw_unknown_profile_exits_2_with_one_line() -> None:
    result = localctl("--hw", "nope")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("localctl: unknown hardware profile 'nope'")


def test_cli_hw_lists_profiles() -> None:
    result = localctl("--profiles", "--json")
    assert result.returncode == 0, result.stderr
    names = {entry["name"] for entry in json.loads(result.stdout)}
    assert names >= REQUIRED_PROFILES


def test_importing_hardware_loads_no_heavy_library() -> None:
    code = (
        "import sys, localctl.hardware, localctl.commands.hw; "
        "print(','.join(sorted(m for m in ('psutil', 'numpy', 'pynvml') if m in sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""


def test_a_profile_may_name_an_intel_gpu(tmp_path: Path) -> None:
    path = tmp_path / "arc.toml"
    path.write_text(
        'cpu_name = "AMD Ryzen 9 9950X"\nphysical_cores = 16\nram_gib = 64\n'
        '[[gpus]]\nname = "Intel Arc B580"\nvram_gib = 12\nbandwidth_gb_s = 456\n'
    )
    hw = hardware.load_profile(str(path))
    assert hw.gpus[0].vendor == "intel"

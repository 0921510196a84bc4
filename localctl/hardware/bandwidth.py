"""CPU memory bandwidth: measured once with a threaded numpy copy, cached per CPU name."""

from __future__ import annotations

import itertools
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from localctl import paths
from localctl.hwtables import (
    DDR_CONFIGS,
    DEFAULT_DDR,
    GB,
)


def bandwidth_cache_file() -> Path:
    """JSON file of measured CPU memory bandwidth, keyed by CPU name."""
    return paths.cache_dir() / "bandwidth.json"


def _read_bandwidth_cache() -> dict[str, Any]:
    try:
        document = json.loads(bandwidth_cache_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    cpus = document.get("cpus") if isinstance(document, dict) else None
    return cpus if isinstance(cpus, dict) else {}


def cached_ram_bandwidth(cpu_name: str) -> float | None:
    """The cached measured bandwidth for ``cpu_name`` in bytes/s, or ``None``."""
    entry = _read_bandwidth_cache().get(cpu_name)
    value = entry.get("bytes_s") if isinstance(entry, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def _store_bandwidth(cpu_name: str, bytes_s: float, threads: int) -> None:
    from localctl.config import atomic_write

    cpus = _read_bandwidth_cache()
    cpus[cpu_name] = {
        "bytes_s": bytes_s,
        "threads": threads,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    data = json.dumps({"version": 1, "cpus": cpus}, indent=2, sort_keys=True) + "\n"
    try:
        paths.ensure_private_dir(bandwidth_cache_file().parent)
        atomic_write(bandwidth_cache_file(), data.encode("utf-8"))
    except OSError:
        pass  # a read-only cache only costs a new measurement next time


def measure_ram_bandwidth(duration_s: float = 0.2, threads: int | None = None) -> float:
    """Measure CPU memory bandwidth with a multi-threaded numpy copy.

    Each thread copies its slice of a buffer much larger than the caches; the best
    pass counts bytes read plus bytes written (STREAM "copy").

    Args:
        duration_s: Time spent in timed passes (at least three passes run).
        threads: Copy threads; default the number of CPUs.

    Returns:
        Bytes per second.

    Raises:
        ImportError: numpy is missing.
        MemoryError: the buffers cannot be allocated.
    """
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    threads = max(1, threads or os.cpu_count() or 1)
    size = max(128 * 2**20, 16 * 2**20 * threads)
    count = size // 8
    source = np.ones(count, dtype=np.float64)
    target = np.empty_like(source)
    bounds = [count * i // threads for i in range(threads + 1)]
    slices = [(target[a:b], source[a:b]) for a, b in itertools.pairwise(bounds)]
    best = 0.0
    with ThreadPoolExecutor(max_workers=threads) as pool:

        def one_pass() -> float:
            start = time.perf_counter()
            for future in [pool.submit(np.copyto, dst, src) for dst, src in slices]:
                future.result()
            return time.perf_counter() - start

        one_pass()  # fault the target pages in, untimed
        spent, passes = 0.0, 0
        while (spent < duration_s or passes < 3) and passes < 200:
            elapsed = one_pass()
            spent += elapsed
            passes += 1
            if elapsed > 0:
                best = max(best, 2 * size / elapsed)
    return best


def machine_busy() -> str:
    """Why a bandwidth measurement now would read low (empty when the machine is quiet).

    Busy means a one-minute load average above half the logical CPUs, not counting the
    measuring process itself.
    """
    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):
        return ""
    cpus = os.cpu_count() or 1
    if load - 1 > cpus / 2:
        return f"machine busy (load average {load:.1f} on {cpus} CPUs)"
    return ""


def ram_bandwidth(
    cpu_name: str, *, measure: bool = True, remeasure: bool = False, threads: int = 0
) -> tuple[float, str, list[str]]:
    """CPU memory bandwidth: cached measurement, a new one, or an assumed DDR figure.

    Args:
        cpu_name: Cache key.
        measure: Measure when nothing is cached.
        remeasure: Measure even when something is cached.
        threads: Copy threads for a measurement (0: all CPUs).

    Returns:
        ``(bytes_s, source, notes)`` with source ``measured`` or ``assumed``.
    """
    cached = None if remeasure else cached_ram_bandwidth(cpu_name)
    if cached is not None:
        return cached, "measured", []
    if measure or remeasure:
        try:
            started = time.perf_counter()
            bytes_s = measure_ram_bandwidth(threads=threads or None)
        except MemoryError as error:
            note = (
                f"bandwidth not measured ({type(error).__name__}: {error}); assuming {DEFAULT_DDR}"
            )
        else:
            if bytes_s > 0:
                took = time.perf_counter() - started
                busy = machine_busy()
                if busy:
                    # A copy competing with a compiler reads low (5.8 GB/s on a box that
                    # streams 32 when quiet): never the basis of a prediction, not cached.
                    return (
                        DDR_CONFIGS[DEFAULT_DDR] * GB,
                        "assumed",
                        [
                            f"{busy}: the {bytes_s / GB:.1f} GB/s measured now is not used "
                            f"(it reads low under load); assuming {DEFAULT_DDR}, measured "
                            "again next time"
                        ],
                    )
                _store_bandwidth(cpu_name, bytes_s, threads)
                return bytes_s, "measured", [f"bandwidth measured now in {took:.2f} s"]
            note = "bandwidth measurement gave no figure"
        return DDR_CONFIGS[DEFAULT_DDR] * GB, "assumed", [note]
    return (
        DDR_CONFIGS[DEFAULT_DDR] * GB,
        "assumed",
        [f"bandwidth not measured; assuming {DEFAULT_DDR}"],
    )

"""Time budgets of the hot lookups the TUI and every command make, against their budgets.

The tests assert what these paths do (one scan serves many lookups, the cached bandwidth
figure is reused); how fast they do it is measured here, median of several runs, so a
loaded machine cannot fail the test suite. A row whose median is over budget says ``over``.
(Refusing malformed GGUFs is timed by bench/hostile.py and bench/startup.py.)
"""

from __future__ import annotations

import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RUNS = 5


def _median_s(action: Callable[[], object], runs: int = RUNS) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        with contextlib.suppress(Exception):  # refusing is the point of most rows
            action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _row(check: str, budget_s: float, median_s: float) -> dict[str, Any]:
    return {
        "check": check,
        "budget_ms": round(budget_s * 1000),
        "median_ms": round(median_s * 1000, 1),
        "verdict": "ok" if median_s <= budget_s else "over",
    }


def _lookup_rows(folder: Path) -> list[dict[str, Any]]:
    from catalog.schema import ArchSpec, ModelSpec, QuantSpec
    from localctl import hardware, inventory

    home = folder / "home"
    for index in range(200):
        path = home / ".lmstudio" / "models" / f"org{index}" / "repo" / f"m{index}-Q4_K_M.gguf"
        path.parent.mkdir(parents=True)
        path.write_bytes(b"")
    quants = (QuantSpec("Q4_1", ("x-q4_1.gguf",), 1), QuantSpec("Q8_0", ("x-q8_0.gguf",), 1))
    model = ModelSpec(
        id="smollm2-135m",
        name="SmolLM2 135M",
        family="smollm",
        repo="HuggingFaceTB/SmolLM2-135M-Instruct-GGUF",
        params=135_000_000,
        arch=ArchSpec("llama", 30, 576, 9, 3, 64, 64, 49152, 8192),
        license="apache-2.0",
        quants=quants,
    )

    def lookups() -> None:
        for _ in range(300):
            for quant in quants:
                inventory.find_local(model, quant)

    saved = {key: os.environ.get(key) for key in ("HOME", "LOCALCTL_HOME")}
    os.environ["HOME"], os.environ["LOCALCTL_HOME"] = str(home), str(folder / "localctl")
    try:
        inventory._scan_cache.clear()
        find = _median_s(lookups, 3)
        hardware.detect_hardware()  # measures the RAM bandwidth once and caches it
        detect = _median_s(hardware.detect_hardware)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        inventory._scan_cache.clear()
    return [
        _row("600 find_local lookups, 200 LM Studio folders", 2.0, find),
        _row("hardware detection with a cached bandwidth figure", 1.0, detect),
    ]


def run() -> list[dict[str, Any]]:
    """One row per budget."""
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        return _lookup_rows(folder)

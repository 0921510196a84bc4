"""Speed measured on this machine: the store of ``localctl bench`` results and the
calibration every later prediction on this machine takes from it.

A result is kept per machine fingerprint (CPU, GPUs, backend) with the backend's build,
in ``data_dir()/bench.json``. :func:`calibration_for` turns the newest result for the
machine and backend into a :class:`localctl.speed.Calibration`: the ratio of the
streaming rate (and matrix rate) the run implies to the one the model assumed, so a
model of any size is predicted from what was measured here.
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from localctl import paths, speed

if TYPE_CHECKING:
    from pathlib import Path

    from localctl.hardware import Hardware

FILE_VERSION = 1


@dataclass(frozen=True, slots=True)
class BenchResult:
    """One ``localctl bench`` run: llama-bench's pp512 / tg128, mean and sd over repetitions."""

    fingerprint: str
    """``cpu | gpus | backend`` (see :func:`fingerprint`)."""
    build: str
    """The backend's version string (llama-server build, llama-cpp-python version)."""
    model: str
    prompt_tok_s: float
    prompt_tok_s_sd: float
    gen_tok_s: float
    gen_tok_s_sd: float
    decode_scale: float
    """Measured / modelled streaming rate."""
    prompt_scale: float
    """Measured / modelled matrix throughput."""
    repetitions: int
    when: float
    """Unix time of the run."""


def fingerprint(hw: Hardware, backend: str) -> str:
    """What a measurement depends on: CPU model and cores, GPU models, the backend."""
    gpus = ",".join(g.name for g in hw.gpus) or "no GPU"
    return f"{hw.cpu_name} x{hw.physical_cores} | {gpus} | {backend}"


def store_file() -> Path:
    """JSON file of bench results, newest last."""
    return paths.data_dir() / "bench.json"


def load_results() -> list[BenchResult]:
    """Every stored result (an unreadable or foreign file reads as none)."""
    try:
        document = json.loads(store_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(document, dict) or document.get("version") != FILE_VERSION:
        return []
    results = []
    for entry in document.get("results", []):
        try:
            results.append(BenchResult(**entry))
        except TypeError:
            continue
    return results


def save_result(result: BenchResult) -> None:
    """Append ``result`` to the store (atomically, private to the user)."""
    from localctl.config import atomic_write

    results = [*load_results(), result]
    document: dict[str, Any] = {
        "version": FILE_VERSION,
        "results": [asdict(r) for r in results[-200:]],
    }
    paths.ensure_private_dir(store_file().parent)
    atomic_write(store_file(), json.dumps(document, indent=1).encode("utf-8"))


def _label(result: BenchResult) -> str:
    day = time.strftime("%Y-%m-%d", time.localtime(result.when))
    return f"calibrated here ({result.build}, {day})"


def calibration_for(hw: Hardware, backend: str) -> speed.Calibration | None:
    """The calibration of this machine and backend, or None (a simulated profile has none)."""
    if hw.profile:
        return None
    result = _newest(fingerprint(hw, backend))
    if result is None:
        return None
    return speed.Calibration(
        decode_scale=result.decode_scale,
        prompt_scale=result.prompt_scale,
        label=_label(result),
    )


def _newest(key: str) -> BenchResult | None:
    try:
        stamp = store_file().stat().st_mtime_ns
    except OSError:
        return None
    return _newest_in(key, str(store_file()), stamp)


@functools.lru_cache(maxsize=16)
def _newest_in(key: str, file: str, stamp: int) -> BenchResult | None:
    """Cached per store file and modification time, so planning a whole catalog reads it once."""
    del file, stamp
    matching = [r for r in load_results() if r.fingerprint == key]
    return matching[-1] if matching else None

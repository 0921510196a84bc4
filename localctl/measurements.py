"""Estimate against reality: llama.cpp's reported buffers, measured RSS, records in a JSONL file."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from localctl import paths

if TYPE_CHECKING:
    from localctl.plan import MemoryPlan
    from localctl.server import ModelServer


@dataclass(frozen=True, slots=True)
class Buffers:
    """What llama.cpp reported it allocated (bytes, summed over devices)."""

    model_bytes: int = 0
    kv_bytes: int = 0
    compute_bytes: int = 0
    offloaded_layers: int | None = None
    total_layers: int | None = None


_SIZE_RE = re.compile(r"=\s*([0-9.]+)\s*(MiB|KiB|GiB|B)\b")

_OFFLOAD_RE = re.compile(r"offloaded (\d+)/(\d+) layers")

_UNITS = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}


def _size(line: str) -> int:
    m = _SIZE_RE.search(line)
    return int(float(m.group(1)) * _UNITS[m.group(2)]) if m else 0


def parse_buffers(lines: Iterable[str]) -> Buffers:
    """Sum llama.cpp's reported buffers (per device) from its log lines.

    ``KV buffer size`` lines are preferred; the ``llama_kv_cache: size =`` summary is
    used only when a build prints no per-device KV line.
    """
    model = kv = kv_summary = compute = 0
    off: int | None = None
    tot: int | None = None
    for line in lines:
        if "model buffer size" in line:
            model += _size(line)
        elif "KV buffer size" in line:
            kv += _size(line)
        elif "llama_kv_cache: size =" in line:
            kv_summary += _size(line)
        elif "compute buffer size" in line:
            compute += _size(line)
        m = _OFFLOAD_RE.search(line)
        if m:
            off, tot = int(m.group(1)), int(m.group(2))
    return Buffers(model, kv or kv_summary, compute, off, tot)


def append_measurement(record: dict[str, object]) -> bool:
    """Append one estimate-vs-measured record to ``paths.measurements_file()`` (JSONL, 0600).

    Returns:
        False when it could not be written (a full disk): a warning is logged and the
        server carries on, since the record only serves later checks.
    """
    import json
    import logging
    import os

    path = paths.measurements_file()
    try:
        paths.ensure_private_dir(path.parent)
        fd = paths.open_private(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
    except OSError as error:
        logging.getLogger("localctl.server").warning(
            "warning: measurement not stored in %s: %s", path, error.strerror or error
        )
        return False
    return True


def _error(ours: int, theirs: int) -> str:
    return f"{100 * (ours / theirs - 1):+.1f}%" if theirs else "-"


def measure_memory(server: ModelServer, plan: MemoryPlan, ready_s: float) -> dict[str, object]:
    """The plan beside llama.cpp's reported buffers and the measured RSS, as one record.

    The record is appended to the measurements file (see :func:`append_measurement`) so
    later estimates can be checked against reality.
    """

    got = server.buffers
    measured = server.measure()
    record: dict[str, object] = {
        "time": time.time(),
        "model": server.options.model_name,
        "backend": server.backend,
        "ctx": plan.ctx,
        "parallel": plan.parallel,
        "kv_type": plan.kv_type,
        "flash_attn": plan.flash_attn,
        "gpu_layers": plan.gpu_layers,
        "estimate_total_bytes": plan.total_bytes,
        "estimate_weights_bytes": plan.weights_bytes,
        "estimate_kv_bytes": plan.kv_bytes,
        "estimate_compute_bytes": plan.compute_bytes,
        "estimate_overhead_bytes": plan.overhead_bytes,
        "estimate_rss_bytes": plan.expected_rss_bytes,
        "reported_model_bytes": got.model_bytes,
        "reported_kv_bytes": got.kv_bytes,
        "reported_compute_bytes": got.compute_bytes,
        "reported_offloaded_layers": got.offloaded_layers,
        "reported_total_layers": got.total_layers,
        "rss_bytes": measured["rss_bytes"],
        "vram_bytes": measured["vram_bytes"],
        "ready_s": round(ready_s, 3),
    }
    append_measurement(record)
    return record


def format_memory_report(record: dict[str, Any]) -> str:
    """A small table of a :func:`measure_memory` record: plan, actual, error.

    The compute buffer's pages become resident only once a long prompt runs, so
    the RSS of a ready server is compared with the plan's expected RSS; the plan's
    total is the budget of a busy server.
    """
    from localctl.output import human_bytes

    def row(label: str, ours: str, theirs: str) -> tuple[str, str, str, str]:
        a, b = int(record[ours]), int(record[theirs])
        return (label, human_bytes(a), human_bytes(b), _error(a, b))

    rows = [
        ("", "plan", "actual", "error"),
        row("weights", "estimate_weights_bytes", "reported_model_bytes"),
        row("KV cache", "estimate_kv_bytes", "reported_kv_bytes"),
        row("compute", "estimate_compute_bytes", "reported_compute_bytes"),
        row("RSS ready", "estimate_rss_bytes", "rss_bytes"),
        (
            "total",
            human_bytes(int(record["estimate_total_bytes"])),
            "",
            "budget with compute resident",
        ),
    ]
    if record.get("reported_total_layers") is not None:
        layers = f"{record['reported_offloaded_layers']}/{record['reported_total_layers']}"
        rows.append(("GPU layers", str(record["gpu_layers"]), layers, ""))
    lines = [f"  {a:<11}{b:>12}  {c:>12}  {d}".rstrip() for a, b, c, d in rows]
    lines.append("  (actual: llama.cpp's reported buffers; RSS measured now)")
    return "\n".join(lines)


def memory_report(server: ModelServer, plan: MemoryPlan, ready_s: float) -> str:
    """:func:`format_memory_report` of a fresh :func:`measure_memory` (which stores it)."""
    return format_memory_report(measure_memory(server, plan, ready_s))


def process_tree_rss(pid: int) -> int | None:
    """Resident bytes of process ``pid`` and all its children; None when it is gone or hidden."""
    import psutil

    try:
        process = psutil.Process(pid)
        return int(process.memory_info().rss) + sum(
            int(child.memory_info().rss) for child in process.children(recursive=True)
        )
    except psutil.Error:
        return None

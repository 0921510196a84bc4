"""Start-up times: ``localctl --help``, ``localctl fit … --json`` (median of several runs)."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from typing import Any

RUNS = 7

_REFUSE_MALFORMED = (
    "import subprocess, sys, tempfile, pathlib\n"
    "path = pathlib.Path(tempfile.mkdtemp()) / 'bad.gguf'\n"
    "path.write_bytes(b'GGML' + bytes(60))\n"
    "code = subprocess.run([sys.executable, '-m', 'localctl', 'fit', str(path)]).returncode\n"
    "sys.exit(0 if code == 2 else 1)\n"
)
"""A malformed GGUF must be refused in one line, fast (tests check the line, this the time)."""


def _median_s(argv: list[str]) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, timeout=60)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run() -> list[dict[str, Any]]:
    """Median wall time of each command against its target."""
    python = sys.executable
    cases = [
        ("localctl --help", [python, "-m", "localctl", "--help"], 0.3),
        ("localctl --version", [python, "-m", "localctl", "--version"], 0.3),
        (
            "localctl fit llama-3.3-70b:Q4_K_M --json",
            [python, "-m", "localctl", "fit", "llama-3.3-70b:Q4_K_M", "--hw", "rtx4090", "--json"],
            None,
        ),
        (
            "localctl models --json",
            [python, "-m", "localctl", "models", "--hw", "rtx4090", "--json"],
            None,
        ),
        (
            "localctl fit MALFORMED.gguf (refused, exit 2)",
            [python, "-c", _REFUSE_MALFORMED],
            1.0,
        ),
    ]
    rows: list[dict[str, Any]] = []
    for label, argv, target in cases:
        try:
            median = _median_s(argv)
        except (subprocess.SubprocessError, OSError) as error:
            rows.append(
                {"command": label, "median s": f"failed: {error}", "target": "", "verdict": ""}
            )
            continue
        verdict = "" if target is None else ("met" if median < target else "MISSED")
        rows.append(
            {
                "command": label,
                "median s": round(median, 3),
                "target": f"< {target} s" if target else "-",
                "verdict": verdict,
            }
        )
    return rows

"""Server backends: fit estimate vs llama.cpp's buffers vs measured RSS, and time to ready.

For SmolLM2 at n_ctx 512/2048/8192 and each backend, runs ``localctl serve`` in a
fresh process (its own LOCALCTL_HOME), times it from launch to the ``API key`` line,
stops it with SIGTERM and reads the record ``serve`` appended to the measurements file.
Targets: each planned buffer (weights, KV, compute) within 5% of what llama.cpp
reports, and the plan's expected RSS within 10% of the server's measured RSS.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CTXS = (512, 2048, 8192)
MiB = 2**20
BUFFER_TARGET = 5.0
"""Percent: each planned buffer vs llama.cpp's reported one."""
RSS_TARGET = 10.0
"""Percent: the plan's expected RSS vs the measured RSS of the ready server."""


def _model() -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.conftest import fetch_smollm2

    return fetch_smollm2()


def _native() -> str | None:
    from localctl.server import find_llama_server

    cached = Path.home() / ".cache" / "localctl-test" / "llama-server" / "bin" / "llama-server"
    return find_llama_server(str(cached) if cached.is_file() else "")


def _one(model: Path, backend: str, ctx: int, native: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "LOCALCTL_HOME": home}
        if native:
            env["LOCALCTL_LLAMA_SERVER"] = native
        argv = [sys.executable, "-m", "localctl", "serve", str(model), "--ctx", str(ctx)]
        argv += ["--backend", backend, "--port", "0"]
        started = time.perf_counter()
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
        )
        assert proc.stdout is not None
        ready_s = None
        for line in proc.stdout:
            if line.startswith("API key: "):
                ready_s = time.perf_counter() - started
                break
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        if ready_s is None:
            return {"backend": backend, "n_ctx": ctx, "error": err.strip().splitlines()[-1:]}
        rec = json.loads((Path(home) / "data" / "measurements.jsonl").read_text().splitlines()[-1])
    parts = (
        ("estimate_weights_bytes", "reported_model_bytes"),
        ("estimate_kv_bytes", "reported_kv_bytes"),
        ("estimate_compute_bytes", "reported_compute_bytes"),
    )
    errors = [_error(rec[ours], rec[theirs]) for ours, theirs in parts]
    rss_error = _error(rec["estimate_rss_bytes"], rec["rss_bytes"])
    return {
        "backend": backend,
        "n_ctx": ctx,
        "compute MiB plan / llama.cpp": (
            f"{rec['estimate_compute_bytes'] / MiB:.1f} / {rec['reported_compute_bytes'] / MiB:.1f}"
        ),
        "error weights, KV, compute": ", ".join(f"{e:+.1f}%" for e in errors),
        "buffers within 5%": _verdict(errors, BUFFER_TARGET),
        "RSS MiB expected / measured": (
            f"{rec['estimate_rss_bytes'] / MiB:.1f} / {rec['rss_bytes'] / MiB:.1f}"
        ),
        "RSS error": f"{rss_error:+.1f}%",
        "RSS within 10%": _verdict([rss_error], RSS_TARGET),
        "plan total MiB": round(rec["estimate_total_bytes"] / MiB, 1),
        "serve to ready s": round(ready_s, 2),
    }


def _error(ours: int, theirs: int) -> float:
    return 100 * (ours / theirs - 1) if theirs else float("inf")


def _verdict(errors: list[float], target: float) -> str:
    return "met" if all(abs(e) <= target for e in errors) else "MISSED"


def run() -> list[dict[str, Any]]:
    """One row per backend x n_ctx."""
    model = _model()
    native = _native()
    rows: list[dict[str, Any]] = []
    for backend in ("llama-cpp-python", "llama-server"):
        if backend == "llama-server" and not native:
            rows.append({"backend": backend, "error": "no native llama-server found"})
            continue
        for ctx in CTXS:
            rows.append(_one(model, backend, ctx, native))
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)

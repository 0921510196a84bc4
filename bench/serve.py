"""Server backends: fit estimate vs llama.cpp's buffers vs measured RSS, and time to ready.

For SmolLM2 at n_ctx 512/2048/8192 and each backend, runs ``localctl serve`` in a
fresh process (its own LOCALCTL_HOME), times it from launch to the ``API key`` line,
stops it with SIGTERM and reads the record ``serve`` appended to the measurements file.
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
    reported = (
        rec["reported_model_bytes"] + rec["reported_kv_bytes"] + rec["reported_compute_bytes"]
    )
    est_buffers = (
        rec["estimate_weights_bytes"] + rec["estimate_kv_bytes"] + rec["estimate_compute_bytes"]
    )
    return {
        "backend": backend,
        "n_ctx": ctx,
        "estimate total MiB": round(rec["estimate_total_bytes"] / MiB, 1),
        "estimate buffers MiB": round(est_buffers / MiB, 1),
        "llama.cpp buffers MiB": round(reported / MiB, 1),
        "  model/KV/compute MiB": "/".join(
            f"{rec[k] / MiB:.1f}"
            for k in ("reported_model_bytes", "reported_kv_bytes", "reported_compute_bytes")
        ),
        "buffers vs reported": f"{100 * (est_buffers / reported - 1):+.1f}%" if reported else "-",
        "RSS MiB": round(rec["rss_bytes"] / MiB, 1),
        "estimate vs RSS": f"{100 * (rec['estimate_total_bytes'] / rec['rss_bytes'] - 1):+.1f}%",
        "serve to ready s": round(ready_s, 2),
    }


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

"""Loopback download throughput: ``localctl pull`` vs ``curl`` vs ``hf_hub_download``.

All three fetch the same file from the same fake hub (tests/fakehub.py) on 127.0.0.1.
The file is the SmolLM2 test GGUF repeated ``REPEAT`` times so start-up costs do not
dominate. ``localctl pull`` runs as a real subprocess (fresh HF cache each run) and is
timed twice: wall clock of the whole command, and the ``seconds`` it reports (resolve +
transfer + sha256 + placing the blob). The ratios are curl's time over the client's:
``curl -o /dev/null`` (the target in the issue) and ``curl -o FILE`` on the same disk,
which pays the same page-cache/filesystem cost a real download must pay.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = os.environ.get("LOCALCTL_BENCH_DIR") or None
"""Where the file, the HF cache and curl's output go (default: the system temp dir)."""
REPEAT = 10
RUNS = 3
REPO = "bench-org/SmolLM2-x4-GGUF"
FILE = "SmolLM2-x4.Q4_1.gguf"


def _big_file(model: Path, folder: Path) -> Path:
    target = folder / FILE
    with target.open("wb") as out:
        for _ in range(REPEAT):
            with model.open("rb") as src:
                shutil.copyfileobj(src, out, 8 << 20)
    return target


def _median(values: list[float]) -> float:
    return statistics.median(values)


def run() -> list[dict[str, Any]]:
    """Measure and return one row per client (MB/s and ratio to curl)."""
    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root))
    from tests.conftest import fetch_smollm2
    from tests.fakehub import FakeFile, FakeHub, FakeRepo, hub_env

    if shutil.which("curl") is None:
        return [{"client": "curl", "note": "curl not installed; nothing to compare"}]
    with tempfile.TemporaryDirectory(prefix="localctl-bench-pull-", dir=BENCH_DIR) as tmp_text:
        tmp = Path(tmp_text)
        big = _big_file(fetch_smollm2(), tmp)
        size = big.stat().st_size
        repo = FakeRepo(REPO, [FakeFile(path=FILE, size=size, source=big)])
        rows: list[dict[str, Any]] = []
        with FakeHub([repo], lifetime_s=600) as hub:
            url = f"{hub.url}/{REPO}/resolve/{repo.commit}/{FILE}"
            curl_s, curl_file_s = [], []
            for index in range(RUNS):
                start = time.perf_counter()
                subprocess.run(["curl", "-sSf", "-o", "/dev/null", url], check=True, timeout=300)
                curl_s.append(time.perf_counter() - start)
                target = tmp / f"curl{index}.bin"
                start = time.perf_counter()
                subprocess.run(["curl", "-sSf", "-o", str(target), url], check=True, timeout=300)
                curl_file_s.append(time.perf_counter() - start)
                target.unlink()
            wall_s, reported_s = [], []
            for index in range(RUNS):
                home = tmp / f"run{index}"
                env = hub_env(
                    hub,
                    HF_HOME=str(home / "hf"),
                    LOCALCTL_HOME=str(home / "localctl"),
                    PYTHONPATH=str(root),
                )
                start = time.perf_counter()
                done = subprocess.run(
                    [sys.executable, "-m", "localctl", "pull", f"{REPO}:Q4_1", "--json"],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=300,
                    check=True,
                )
                wall_s.append(time.perf_counter() - start)
                reported_s.append(float(json.loads(done.stdout)["seconds"]))
                shutil.rmtree(home)
            hf_s = _hf_hub_download_times(hub, tmp, root)
        curl = _median(curl_s)
        mb = size / 1e6

        def row(client: str, seconds: float) -> dict[str, Any]:
            return {
                "client": client,
                "MB": round(mb, 1),
                "seconds": round(seconds, 3),
                "MB/s": round(mb / seconds, 1),
                "vs curl": round(curl / seconds, 2),
                "vs curl to file": round(_median(curl_file_s) / seconds, 2),
            }

        rows.append(row("curl -o /dev/null", curl))
        rows.append(row("curl -o FILE (same disk as the HF cache)", _median(curl_file_s)))
        rows.append(
            row("localctl pull (reported: resolve+fetch+sha256+place)", _median(reported_s))
        )
        rows.append(row("localctl pull (whole command, wall)", _median(wall_s)))
        if hf_s:
            rows.append(row("huggingface_hub hf_hub_download (subprocess, wall)", _median(hf_s)))
    _print(rows)
    return rows


def _hf_hub_download_times(hub: Any, tmp: Path, root: Path) -> list[float]:
    from tests.fakehub import hub_env

    code = (
        "import sys; from huggingface_hub import hf_hub_download; "
        f"hf_hub_download({REPO!r}, {FILE!r})"
    )
    times = []
    for index in range(RUNS):
        home = tmp / f"hf{index}"
        env = hub_env(hub, HF_HOME=str(home), HF_HUB_DISABLE_PROGRESS_BARS="1")
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, timeout=300
        )
        if done.returncode != 0:
            return []
        times.append(time.perf_counter() - start)
        shutil.rmtree(home, ignore_errors=True)
    return times


def _print(rows: list[dict[str, Any]]) -> None:
    columns = list(rows[0])
    widths = [max(len(str(c)), *(len(str(r.get(c, ""))) for r in rows)) for c in columns]
    print("  ".join(str(c).ljust(w) for c, w in zip(columns, widths, strict=True)))
    for r in rows:
        print("  ".join(str(r.get(c, "")).ljust(w) for c, w in zip(columns, widths, strict=True)))


if __name__ == "__main__":
    run()

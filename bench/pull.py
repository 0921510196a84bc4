"""Loopback download throughput: ``localctl pull`` vs ``curl`` vs ``hf_hub_download``.

All three fetch the same file from the same fake hub (tests/fakehub.py) on 127.0.0.1.
The file is the SmolLM2 test GGUF repeated ``REPEAT`` times so start-up costs do not
dominate. ``localctl pull`` runs as a real subprocess (fresh HF cache each run) and is
timed twice: wall clock of the whole command, and the ``seconds`` it reports (resolve +
transfer + sha256 + placing the blob). The ratios are curl's time over the client's:
``curl -o /dev/null`` (the target in the issue) and ``curl -o FILE`` on the same disk,
which pays the same page-cache/filesystem cost a real download must pay.

Resume overhead: a ``localctl pull`` is SIGKILLed once half the file is in the
``blobs/<sha256>.incomplete`` partial file, then run again to completion. The bytes the
hub sends the second run (from its request log: every GET of a run that completes sends
from its ``Range`` start to the end of the file) are compared with the bytes the killed run
left missing, the two runs' wall time with the uninterrupted runs above, and the final
file's sha256 with the hub's.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakehub import FakeHub, FakeRepo

BENCH_DIR = os.environ.get("LOCALCTL_BENCH_DIR") or None
"""Where the file, the HF cache and curl's output go (default: the system temp dir)."""
REPEAT = 10
RUNS = 3
REPO = "bench-org/SmolLM2-x4-GGUF"
FILE = "SmolLM2-x4.Q4_1.gguf"
KILL_FRACTION = 0.5
"""Kill the first pull once this share of the file is in the partial file."""
RESUME_RUNS = 2
"""Kill-and-resume trials (each costs about two pulls; keeps the section under a minute)."""


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
    from tests.fakehub import FakeFile, FakeHub, FakeRepo

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
            trials: list[_ResumeTrial | None] = []
            for index in range(RUNS):
                home = tmp / f"run{index}"
                env = _pull_env(hub, home, root)
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
                if index < RESUME_RUNS:
                    # Right after the uninterrupted pull it is compared with, so that both
                    # see the same load on the machine.
                    trials.append(_resume_trial(hub, repo, tmp / f"resume{index}", root))
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
        whole = row("localctl pull (whole command, wall)", _median(wall_s))
        # Both write the file to the same disk: the fair comparison (curl to /dev/null
        # writes nothing and hashes nothing).
        whole["target"] = "≥ 0.5× curl to file"
        whole["verdict"] = "met" if whole["vs curl to file"] >= 0.5 else "MISSED"
        rows.append(whole)
        if hf_s:
            rows.append(row("huggingface_hub hf_hub_download (subprocess, wall)", _median(hf_s)))
        rows += _resume_rows(trials, size, wall_s)
    _print(rows)
    return rows


@dataclass(frozen=True, slots=True)
class _ResumeTrial:
    """One pull killed part-way and one pull that finishes the file."""

    kept_bytes: int
    """Size of the partial file the killed pull left."""
    first_s: float
    """Wall time of the first pull, from its start to the SIGKILL."""
    second_s: float
    """Wall time of the resuming pull."""
    served_bytes: int
    """File bytes the hub sent to the resuming pull."""
    client_bytes: int
    """``downloaded_bytes`` the resuming pull reported."""
    sha256_ok: bool
    """The finished file hashes to the hub's sha256."""


def _pull_env(hub: FakeHub, home: Path, root: Path) -> dict[str, str]:
    from tests.fakehub import hub_env

    return hub_env(
        hub,
        HF_HOME=str(home / "hf"),
        LOCALCTL_HOME=str(home / "localctl"),
        PYTHONPATH=str(root),
    )


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(8 << 20):
            digest.update(block)
    return digest.hexdigest()


def _resume_trial(hub: FakeHub, repo: FakeRepo, home: Path, root: Path) -> _ResumeTrial | None:
    """SIGKILL a pull at ~KILL_FRACTION of the file, pull again; None if it finished first."""
    remote = repo.files[0]
    env = _pull_env(hub, home, root)
    blobs = home / "hf" / "hub" / f"models--{REPO.replace('/', '--')}" / "blobs"
    partial = blobs / f"{remote.sha256}.incomplete"
    threshold = int(remote.size * KILL_FRACTION)
    argv = [sys.executable, "-m", "localctl", "pull", f"{REPO}:Q4_1", "--json"]
    start = time.perf_counter()
    first = subprocess.Popen(
        argv,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    killed_s: float | None = None
    try:
        deadline = time.monotonic() + 120
        while first.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(FileNotFoundError):
                if partial.stat().st_size >= threshold:
                    os.killpg(first.pid, signal.SIGKILL)
                    killed_s = time.perf_counter() - start
                    break
            time.sleep(0.001)
    finally:
        _kill_group(first)
    kept = partial.stat().st_size if partial.is_file() else remote.size
    if killed_s is None or kept >= remote.size:
        shutil.rmtree(home, ignore_errors=True)
        return None
    seen = len(hub.file_gets())
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, check=True)
    second_s = time.perf_counter() - start
    document = json.loads(done.stdout)
    served = sum(
        remote.size - (entry.range_start or 0)
        for entry in hub.file_gets()[seen:]
        if entry.status in (200, 206)
    )
    sha256_ok = _sha256_file(Path(document["path"])) == remote.sha256
    shutil.rmtree(home, ignore_errors=True)
    return _ResumeTrial(
        kept_bytes=kept,
        first_s=killed_s,
        second_s=second_s,
        served_bytes=served,
        client_bytes=int(document["downloaded_bytes"]),
        sha256_ok=sha256_ok,
    )


def _resume_rows(
    trials: list[_ResumeTrial | None], size: int, uninterrupted_s: list[float]
) -> list[dict[str, Any]]:
    """The resume rows: worst re-download ratio, median time ratio, sha256 of every trial.

    ``uninterrupted_s[i]`` is the uninterrupted pull run just before ``trials[i]``.
    """
    label = f"resume after SIGKILL at ~{KILL_FRACTION:.0%}"
    pairs = [(t, u) for t, u in zip(trials, uninterrupted_s, strict=False) if t is not None]
    done = [t for t, _ in pairs]
    if not done:
        return [{"client": f"{label}: the pull finished before it could be killed"}]
    kept = [t.kept_bytes / size for t in done]
    worst = max(done, key=lambda t: t.served_bytes / (size - t.kept_bytes))
    ratio = worst.served_bytes / (size - worst.kept_bytes)
    time_ratio = _median([(t.first_s + t.second_s) / u for t, u in pairs])
    total = _median([t.first_s + t.second_s for t in done])
    reference = _median([u for _, u in pairs])
    first = _median([t.first_s for t in done])
    second = _median([t.second_s for t in done])
    client = sorted(t.client_bytes / (size - t.kept_bytes) for t in done)
    client_text = f"{client[0]:.2f}×"
    if client[-1] != client[0]:
        client_text = f"{client[0]:.2f}–{client[-1]:.2f}×"
    killed_at = f"killed at {min(kept):.1%}–{max(kept):.1%}, {len(done)} of {len(trials)} runs"
    return [
        {
            "client": f"{label}: re-downloaded bytes / remaining bytes ({killed_at})",
            "value": (
                f"{ratio:.2f}× (worst run: hub sent {worst.served_bytes / 1e6:.1f} MB, "
                f"{(size - worst.kept_bytes) / 1e6:.1f} MB were missing; client counted "
                f"{client_text})"
            ),
            "target": "1.00× (nothing fetched twice)",
            "verdict": "met" if ratio <= 1.0 else "MISSED",
        },
        {
            "client": f"{label}: interrupted+resumed time / uninterrupted time",
            "seconds": round(total, 3),
            "value": (
                f"{time_ratio:.2f}× (median of {len(pairs)} pairs; medians {first:.2f} s to the "
                f"kill + {second:.2f} s resuming vs {reference:.2f} s uninterrupted)"
            ),
            "target": "-",
            "verdict": "",
        },
        {
            "client": f"{label}: sha256 of the finished file",
            "value": f"{sum(t.sha256_ok for t in done)} of {len(done)} match the hub's",
            "target": "matches",
            "verdict": "met" if all(t.sha256_ok for t in done) else "MISSED",
        },
    ]


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
    columns: list[str] = []
    for r in rows:
        columns += [key for key in r if key not in columns]
    widths = [max(len(str(c)), *(len(str(r.get(c, ""))) for r in rows)) for c in columns]
    print("  ".join(str(c).ljust(w) for c, w in zip(columns, widths, strict=True)))
    for r in rows:
        print("  ".join(str(r.get(c, "")).ljust(w) for c, w in zip(columns, widths, strict=True)))


if __name__ == "__main__":
    run()

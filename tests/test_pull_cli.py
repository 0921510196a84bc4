"""`localctl pull` as a real subprocess on the fake hub: resume after kill -9, Ctrl-C, output."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from localctl import hub as hubmod
from localctl.commands.pull import ProgressPrinter
from localctl.hub import PullProgress
from tests.conftest import SMOLLM2_SHA256, SMOLLM2_SIZE
from tests.fakehub import (
    DEFAULT_REPO,
    SMOLLM2_FILE,
    SPLIT_NAMES,
    VALID_TOKEN,
    FakeFile,
    FakeHub,
    FakeRepo,
    hub_env,
    smollm2_repo,
)

ROOT = Path(__file__).resolve().parent.parent
GATED_REPO = "gated-org/Gated-GGUF"


@pytest.fixture
def hub(smollm2_path: Path) -> FakeHub:
    gated = FakeRepo(
        GATED_REPO,
        [FakeFile(path=SMOLLM2_FILE, size=SMOLLM2_SIZE, source=smollm2_path)],
        gated=True,
    )
    with FakeHub([smollm2_repo(smollm2_path), gated], lifetime_s=240) as fake:
        yield fake


def _argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "localctl", "pull", *args]


def _run(hub: FakeHub, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _argv(*args),
        env=hub_env(hub, **env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _start(hub: FakeHub, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        _argv(*args),
        env=hub_env(hub),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _blobs() -> Path:
    return hubmod.repo_cache_dir(DEFAULT_REPO) / "blobs"


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


def test_killed_pull_resumes_from_its_partial_file(hub: FakeHub) -> None:
    hub.faults.trickle_bytes_s = 15_000_000
    partial = _blobs() / f"{SMOLLM2_SHA256}.incomplete"
    proc = _start(hub, f"{DEFAULT_REPO}:Q4_1")
    try:
        assert hub.wait_for(lambda: _size(partial) > 10_000_000, timeout=90), proc.stderr
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    kept = _size(partial)
    assert 10_000_000 < kept < SMOLLM2_SIZE
    assert not (_blobs() / SMOLLM2_SHA256).exists()
    assert not (hubmod.repo_cache_dir(DEFAULT_REPO) / "snapshots").exists()

    hub.faults.trickle_bytes_s = None
    done = _run(hub, f"{DEFAULT_REPO}:Q4_1", "--json")
    assert done.returncode == 0, done.stderr
    resumed = hub.file_gets()[-1]
    assert resumed.range_start == kept and resumed.status == 206
    document = json.loads(done.stdout)
    assert document["sha256"] == [SMOLLM2_SHA256]
    assert document["downloaded_bytes"] == SMOLLM2_SIZE - kept
    assert not partial.exists()


def test_killed_split_set_pull_resumes_the_part_it_was_on(hub: FakeHub) -> None:
    first = hub.repo(DEFAULT_REPO).file(SPLIT_NAMES[0])  # type: ignore[union-attr]
    second = hub.repo(DEFAULT_REPO).file(SPLIT_NAMES[1])  # type: ignore[union-attr]
    assert first is not None and second is not None
    hub.faults.trickle_bytes_s = 20_000_000
    partial = _blobs() / f"{second.sha256}.incomplete"
    proc = _start(hub, f"{DEFAULT_REPO}:q8_0")
    try:
        assert hub.wait_for(lambda: _size(partial) > 5_000_000, timeout=120)
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    assert (_blobs() / first.sha256).is_file()
    kept = _size(partial)
    before = len(hub.file_gets())

    hub.faults.trickle_bytes_s = None
    done = _run(hub, f"{DEFAULT_REPO}:Q8_0", "--json")
    assert done.returncode == 0, done.stderr
    # The fit check reads headers by bounded ranges first; the download itself resumes.
    second_run = [r for r in hub.file_gets()[before:] if not r.bounded]
    assert not any(SPLIT_NAMES[0] in r.path for r in second_run)
    assert [r.range_start for r in second_run if SPLIT_NAMES[1] in r.path] == [kept]
    document = json.loads(done.stdout)
    assert len(document["files"]) == 3 and document["bytes"] == SMOLLM2_SIZE
    joined = b"".join(Path(p).read_bytes() for p in document["files"])
    import hashlib

    assert hashlib.sha256(joined).hexdigest() == SMOLLM2_SHA256


def test_ctrl_c_exits_130_and_says_how_to_resume(hub: FakeHub) -> None:
    hub.faults.trickle_bytes_s = 15_000_000
    partial = _blobs() / f"{SMOLLM2_SHA256}.incomplete"
    proc = _start(hub, f"{DEFAULT_REPO}:Q4_1")
    try:
        assert hub.wait_for(lambda: _size(partial) > 5_000_000, timeout=90)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert "interrupted; run the same command to resume" in stderr
    assert _size(partial) > 5_000_000
    assert not (_blobs() / SMOLLM2_SHA256).exists()


def test_json_document_and_quiet_progress_lines(hub: FakeHub) -> None:
    done = _run(hub, f"{DEFAULT_REPO}/{SMOLLM2_FILE}", "--json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert {"files", "bytes", "sha256", "path", "seconds"} <= set(document)
    assert document["bytes"] == SMOLLM2_SIZE
    assert document["path"] == document["files"][0]
    assert Path(document["path"]).is_file()
    assert f"pull: {SMOLLM2_FILE}:" in done.stderr
    assert "\r" not in done.stderr


def test_human_output_names_the_files_and_sha256(hub: FakeHub) -> None:
    done = _run(hub, f"{DEFAULT_REPO}:Q4_1")
    assert done.returncode == 0, done.stderr
    assert "sha256 verified" in done.stdout and SMOLLM2_SHA256 in done.stdout
    again = _run(hub, f"{DEFAULT_REPO}:Q4_1")
    assert "already in the cache" in again.stdout


def test_quant_with_no_match_exits_2_listing_quants(hub: FakeHub) -> None:
    done = _run(hub, f"{DEFAULT_REPO}:Q5_K_M")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"localctl: no Q5_K_M files in {DEFAULT_REPO}; quants in this repo: Q4_1, Q8_0 (3 parts)"
    )


def test_unknown_repo_and_gated_repo_exit_1_in_plain_words(hub: FakeHub) -> None:
    missing = _run(hub, "nobody/nothing-GGUF:Q4_K_M")
    assert missing.returncode == 1
    assert "no such repository" in missing.stderr and len(missing.stderr.strip().splitlines()) == 1
    gated = _run(hub, f"{GATED_REPO}:Q4_1")
    assert gated.returncode == 1
    assert "accept the licence" in gated.stderr and "HF_TOKEN" in gated.stderr
    allowed = _run(hub, f"{GATED_REPO}:Q4_1", HF_TOKEN=VALID_TOKEN)
    assert allowed.returncode == 0, allowed.stderr


def test_terminal_progress_bar_shows_part_bytes_speed_and_eta() -> None:
    stream = io.StringIO()
    printer = ProgressPrinter(stream, tty=True)
    printer(
        PullProgress(
            file_index=2,
            file_count=3,
            filename="Q8_0/x-00002-of-00003.gguf",
            bytes_done=10 << 20,
            bytes_total=30 << 20,
            total_done=40 << 20,
            total_bytes=90 << 20,
            speed_bytes_s=5 << 20,
            eta_s=10.0,
        )
    )
    printer.finish()
    text = stream.getvalue()
    assert text.startswith("\r") and text.endswith("\n")
    assert "part 2/3" in text and "40.0 MiB / 90.0 MiB" in text
    assert "5.0 MiB/s" in text and "ETA 0:10" in text and "44.4%" in text


def test_pull_works_with_huggingface_hub_telemetry_on(hub: FakeHub) -> None:
    done = _run(hub, f"{DEFAULT_REPO}:Q4_1", HF_HUB_DISABLE_TELEMETRY="0")
    assert done.returncode == 0, done.stderr
    assert all(not r.path.startswith("/api/") or r.status == 200 for r in hub.requests)

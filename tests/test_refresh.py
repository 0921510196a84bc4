"""`localctl catalog refresh` against the fake hub: sizes that changed, files that vanished,
offline keeps the snapshot, and every consumer (models, fit, downloads) uses the new facts."""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from catalog.loader import load_catalog as load_plain_catalog
from localctl import hub as hubmod
from localctl import paths, snapshot
from localctl.commands.catalog import summary
from localctl.errors import DownloadError
from localctl.hub import env as hub_environ
from tests.conftest import SMOLLM2_SHA256, SMOLLM2_SIZE, run_localctl
from tests.fakehub import (
    DEFAULT_REPO,
    SMOLLM2_FILE,
    SPLIT_NAMES,
    FakeHub,
    FakeRepo,
    fake_smollm2_entry,
    hub_env,
    listed_file,
    smollm2_repo,
)

MODEL = "fake-smollm2"
Q6_FILE = "SmolLM2-135M-Instruct.Q6_K.gguf"
Q6_SIZE = 138_772_032
Q6_SHA = "6" * 64
NEW_COMMIT = "89abcdef0123456789abcdef0123456789abcdef"


def _catalog_entry(repo: FakeRepo, model_id: str = MODEL, repo_id: str = DEFAULT_REPO) -> str:
    parts = [repo.file(name) for name in SPLIT_NAMES]
    assert all(parts)
    sizes = ", ".join(str(p.size) for p in parts if p)
    hashes = ", ".join(f'"{p.sha256}"' for p in parts if p)
    names = ", ".join(f'"{n}"' for n in SPLIT_NAMES)
    quants = f"""[[model.quant]]
name = "Q4_1"
files = ["{SMOLLM2_FILE}"]
file_sizes = [{SMOLLM2_SIZE}]
sha256 = ["{SMOLLM2_SHA256}"]

[[model.quant]]
name = "Q8_0"
files = [{names}]
file_sizes = [{sizes}]
sha256 = [{hashes}]

[[model.quant]]
name = "Q6_K"
files = ["{Q6_FILE}"]
file_sizes = [{Q6_SIZE}]
sha256 = ["{Q6_SHA}"]
"""
    return fake_smollm2_entry(quants, model_id, repo_id)


@pytest.fixture
def hub(smollm2_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    repo = smollm2_repo(smollm2_path)
    repo.files.append(listed_file(Q6_FILE, Q6_SIZE, Q6_SHA))
    gated = FakeRepo("gated-org/Gated-GGUF", [listed_file(Q6_FILE, 1, Q6_SHA)], gated=True)
    paths.user_catalog_file().parent.mkdir(parents=True, exist_ok=True)
    paths.user_catalog_file().write_text(
        _catalog_entry(repo)
        + _catalog_entry(repo, "gated-model", "gated-org/Gated-GGUF")
        + _catalog_entry(repo, "missing-model", "gone-org/Gone-GGUF"),
        encoding="utf-8",
    )
    with FakeHub([repo, gated], lifetime_s=240) as fake:
        monkeypatch.setenv("HF_ENDPOINT", fake.url)
        monkeypatch.setattr(hub_environ, "RETRY_DELAYS_S", (0.01, 0.02))
        yield fake


def _localctl(hub: FakeHub, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_localctl(*args, env=hub_env(hub, **env))


def _change_the_hub(hub: FakeHub) -> int:
    """Re-upload part 3 of Q8_0 with 4 KiB more and delete the Q6_K file; the new part size."""
    repo = hub.repo(DEFAULT_REPO)
    assert repo is not None
    old = repo.file(SPLIT_NAMES[2])
    assert old is not None
    new_size = old.size + 4096
    repo.files = [f for f in repo.files if f.path not in (SPLIT_NAMES[2], Q6_FILE)]
    repo.files.append(listed_file(SPLIT_NAMES[2], new_size, "8" * 64))
    repo.commit = NEW_COMMIT
    return new_size


def _rows(hub: FakeHub) -> dict[str, dict[str, object]]:
    done = _localctl(hub, "models", "--json", "--hw", "rtx4090")
    assert done.returncode == 0, done.stderr
    return {f"{r['model']}:{r['quant']}": r for r in json.loads(done.stdout)["models"]}


def test_refresh_updates_a_changed_size_and_flags_a_removed_file(hub: FakeHub) -> None:
    first = _localctl(hub, "catalog", "refresh", MODEL, "--json")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["repos"] == [
        {
            "repo": DEFAULT_REPO,
            "status": "listed",
            "error": "",
            "checked_at": report["repos"][0]["checked_at"],
        }
    ]
    assert report["changes"] == [] and report["rows_checked"] == 3
    before = _rows(hub)
    assert before[f"{MODEL}:Q4_1"]["hub_status"] == "confirmed"
    fit_before = json.loads(_localctl(hub, "fit", f"{MODEL}:Q8_0", "--json").stdout)

    new_size = _change_the_hub(hub)
    second = _localctl(hub, "catalog", "refresh", MODEL, "--json")
    assert second.returncode == 0, second.stderr
    changes = {c["quant"]: c for c in json.loads(second.stdout)["changes"]}
    assert set(changes) == {"Q8_0", "Q6_K"}
    assert changes["Q8_0"]["status"] == "changed"
    assert changes["Q8_0"]["hub_bytes"] == changes["Q8_0"]["catalog_bytes"] + 4096
    assert changes["Q6_K"]["status"] == "vanished" and changes["Q6_K"]["hub_bytes"] is None
    assert f"{Q6_FILE} is no longer in {DEFAULT_REPO}" in changes["Q6_K"]["detail"]

    after = _rows(hub)
    q8 = after[f"{MODEL}:Q8_0"]
    assert q8["size_bytes"] == before[f"{MODEL}:Q8_0"]["size_bytes"] + 4096  # type: ignore[operator]
    assert q8["file_sizes"][-1] == new_size  # type: ignore[index]
    assert q8["sha256"][-1] == "8" * 64  # type: ignore[index]
    assert q8["hub_status"] == "changed" and q8["revision"] == NEW_COMMIT
    assert after[f"{MODEL}:Q6_K"]["hub_status"] == "vanished"
    fit_after = json.loads(_localctl(hub, "fit", f"{MODEL}:Q8_0", "--json").stdout)
    assert fit_after["weights_bytes"] > fit_before["weights_bytes"]

    human = _localctl(hub, "models", "--hw", "rtx4090")
    assert f"{MODEL}:Q6_K (gone) {Q6_FILE} is no longer in {DEFAULT_REPO}" in human.stdout
    assert "hub facts: 1 repo listed by catalog refresh, the oldest " in human.stdout
    gone = _localctl(hub, "fit", f"{MODEL}:Q6_K")
    assert f"  hub: {Q6_FILE} is no longer in {DEFAULT_REPO} (hub listing of 20" in gone.stdout


def test_downloads_use_the_refreshed_sha256(hub: FakeHub) -> None:
    _change_the_hub(hub)
    with pytest.raises(DownloadError, match="no longer matches the catalog's sha256"):
        hubmod.resolve(f"{MODEL}:Q8_0")
    snapshot.refresh(load_plain_catalog(paths.user_catalog_file()), only=[MODEL])
    plan = hubmod.resolve(f"{MODEL}:Q8_0")
    assert plan.files[-1].sha256 == "8" * 64


def test_offline_refresh_keeps_the_snapshot_and_says_how_old_it_is(hub: FakeHub) -> None:
    snapshot.refresh(load_plain_catalog(paths.user_catalog_file()), only=[MODEL])
    stored = snapshot.snapshot_file().read_bytes()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_ENDPOINT", closed)
        report = snapshot.refresh(load_plain_catalog(paths.user_catalog_file()), only=[MODEL])
    assert report.offline and [o.status for o in report.repos] == ["kept"]
    assert snapshot.snapshot_file().read_bytes() == stored
    line = summary(report)[0]
    assert line.startswith(f"cannot reach {closed}: keeping the last snapshot (")
    assert " s old, from 20" in line
    # The kept facts are still in use.
    assert snapshot.load_catalog().get(MODEL).quant("Q4_1").hub_status == "confirmed"  # type: ignore[union-attr]


def test_offline_refresh_on_the_command_line_exits_1_with_one_line(hub: FakeHub) -> None:
    assert _localctl(hub, "catalog", "refresh", MODEL).returncode == 0
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    done = _localctl(hub, "catalog", "refresh", MODEL, HF_ENDPOINT=closed)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith(f"localctl: cannot reach {closed}: keeping the last snapshot (")
    assert len(done.stderr.splitlines()) == 1


def test_gated_missing_and_failing_repos_each_get_one_line_and_the_rest_is_listed(
    hub: FakeHub,
) -> None:
    catalog = load_plain_catalog(paths.user_catalog_file())
    report = snapshot.refresh(catalog, only=[MODEL, "gated-model", "missing-model"])
    outcomes = {o.repo: o for o in report.repos}
    assert outcomes[DEFAULT_REPO].status == "listed"
    gated = outcomes["gated-org/Gated-GGUF"]
    assert gated.status == "failed"
    assert gated.error == (
        f"gated-org/Gated-GGUF is gated: accept the licence on {hub.url}/gated-org/Gated-GGUF, "
        "then set HF_TOKEN"
    )
    missing = outcomes["gone-org/Gone-GGUF"]
    assert missing.status == "failed" and "no such repository" in missing.error
    hub.faults.status = 500
    failing = snapshot.refresh(catalog, only=[MODEL])
    assert failing.repos[0].status == "failed"
    assert failing.repos[0].error == f"{hub.url} kept failing (HTTP 500); try again later"
    # A failed listing keeps the stored one.
    assert DEFAULT_REPO in snapshot.load_snapshot()
    assert all("\n" not in line for line in summary(report))

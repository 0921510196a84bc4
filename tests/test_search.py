"""Hub search and planning a hub quant from its remote header, against the fake hub."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from localctl import hub as hubmod
from localctl import search
from localctl.errors import BadInputError, DownloadError
from localctl.hub import env as hub_environ
from localctl.hub import listing
from tests.conftest import SMOLLM2_SHA256, SMOLLM2_SIZE, run_localctl
from tests.fakehub import (
    DEFAULT_REPO,
    GATED_SEARCH_REPO,
    SEARCH_REPO,
    SMOLLM2_FILE,
    VALID_TOKEN,
    FakeHub,
    FakeRepo,
    hub_env,
    search_repos,
)


@pytest.fixture
def hub(smollm2_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    with FakeHub(search_repos(smollm2_path), lifetime_s=240) as fake:
        monkeypatch.setenv("HF_ENDPOINT", fake.url)
        monkeypatch.setattr(hub_environ, "RETRY_DELAYS_S", (0.01, 0.02))
        yield fake


def _localctl(hub: FakeHub, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_localctl(*args, env=hub_env(hub, **env))


def test_search_json_lists_gguf_repos_by_downloads_with_quants_and_exact_sizes(
    hub: FakeHub,
) -> None:
    done = _localctl(hub, "search", "smollm2", "--json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    repos = {r["repo"]: r for r in document["repos"]}
    # GGUF repos only (the safetensors one is left out), most downloaded first.
    assert [r["repo"] for r in document["repos"]] == [DEFAULT_REPO, SEARCH_REPO, GATED_SEARCH_REPO]
    real = repos[DEFAULT_REPO]
    quants = {q["quant"]: q for q in real["quants"]}
    assert quants["Q4_1"]["size_bytes"] == SMOLLM2_SIZE
    assert quants["Q4_1"]["files"] == [
        {"path": SMOLLM2_FILE, "size_bytes": SMOLLM2_SIZE, "sha256": SMOLLM2_SHA256}
    ]
    assert quants["Q4_1"]["ref"] == f"{DEFAULT_REPO}:Q4_1"
    # A split set is one quant of three parts whose sizes add up.
    assert quants["Q8_0"]["parts"] == 3
    assert quants["Q8_0"]["size_bytes"] == SMOLLM2_SIZE
    assert [f["path"].rsplit("-", 3)[-3] for f in quants["Q8_0"]["files"]] == [
        "00001",
        "00002",
        "00003",
    ]
    assert real["downloads"] == 5000 and real["last_modified"].startswith("2026-11-20")
    # The same quant in two folders gives two entries, each pullable by its file.
    other = [q for q in repos[SEARCH_REPO]["quants"] if q["quant"] == "Q4_K_M"]
    assert sorted(q["ref"] for q in other) == [
        f"{SEARCH_REPO}/a/SmolLM2-360M-Instruct-Q4_K_M.gguf",
        f"{SEARCH_REPO}/b/SmolLM2-360M-Instruct-Q4_K_M.gguf",
    ]
    assert [q["size_bytes"] for q in other] == [270_590_944, 271_000_000]
    gated = repos[GATED_SEARCH_REPO]
    assert gated["gated"] is True and gated["quants"] == []
    assert "accept the licence on" in gated["error"] and "then set HF_TOKEN" in gated["error"]


def test_search_human_output_shows_sizes_parts_and_references(hub: FakeHub) -> None:
    done = _localctl(hub, "search", "smollm2")
    assert done.returncode == 0, done.stderr
    assert f"{DEFAULT_REPO}  (5,000 downloads · updated 2026-11-20)" in done.stdout
    assert "3 parts" in done.stdout and "93.8 MiB" in done.stdout
    assert "localctl fit REF" in done.stdout


def test_fit_plans_a_hub_quant_from_its_remote_header_without_downloading(
    hub: FakeHub, smollm2_path: Path
) -> None:
    remote = _localctl(hub, "fit", f"{DEFAULT_REPO}:Q4_1", "--json", "--hw", "rtx4090")
    assert remote.returncode == 0, remote.stderr
    local = _localctl(hub, "fit", str(smollm2_path), "--json", "--hw", "rtx4090")
    planned, expected = json.loads(remote.stdout), json.loads(local.stdout)
    for key in ("weights_bytes", "kv_bytes", "compute_bytes", "total_bytes", "placement"):
        assert planned[key] == expected[key], key
    assert planned["source"] == f"{DEFAULT_REPO}:Q4_1"
    gets = [r for r in hub.requests if "/resolve/" in r.path and r.method == "GET"]
    assert gets and all(r.status == 206 for r in gets)
    assert not list(Path(hubmod.hub_cache_dir()).glob("**/*.gguf"))


def test_choose_a_hub_quant_reads_only_the_header(hub: FakeHub) -> None:
    choice = search.choose(f"{DEFAULT_REPO}:q4_1")
    assert choice.quant.size_bytes == SMOLLM2_SIZE
    assert choice.gguf_set.first.arch.n_layers == 30
    model, quant = search.hub_model(choice.repo, choice.quant, choice.gguf_set)
    assert (model.id, quant.name, quant.files) == (DEFAULT_REPO, "Q4_1", (SMOLLM2_FILE,))
    assert quant.sha256 == (SMOLLM2_SHA256,) and quant.size_exact


def test_choose_names_the_quants_a_repo_has_when_one_is_missing(hub: FakeHub) -> None:
    with pytest.raises(BadInputError, match=r"not in .*; it has Q4_1, Q8_0"):
        search.choose(f"{DEFAULT_REPO}:Q2_K")
    with pytest.raises(BadInputError, match="several files match"):
        search.choose(f"{SEARCH_REPO}:Q4_K_M")


def test_gated_repo_says_accept_the_licence_then_set_hf_token(
    hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    done = _localctl(hub, "fit", f"{GATED_SEARCH_REPO}:Q4_1")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"localctl: {GATED_SEARCH_REPO} is gated: accept the licence on "
        f"{hub.url}/{GATED_SEARCH_REPO}, then set HF_TOKEN"
    )
    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    with pytest.raises(listing.GatedRepoError, match="HF_TOKEN has no access to it yet"):
        search.choose(f"{GATED_SEARCH_REPO}:Q4_1")
    monkeypatch.setenv("HF_TOKEN", VALID_TOKEN)
    assert search.choose(f"{GATED_SEARCH_REPO}:Q4_1").quant.size_bytes == SMOLLM2_SIZE


def test_missing_repo_and_server_error_each_give_one_line(hub: FakeHub) -> None:
    missing = _localctl(hub, "fit", "nobody/Nothing-GGUF:Q4_0")
    assert missing.returncode == 1
    assert "nobody/Nothing-GGUF: no such repository" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    hub.faults.status = 500
    hub.faults.status_routes = ("search",)
    failing = _localctl(hub, "search", "smollm2")
    assert failing.returncode == 1
    assert failing.stderr == f"localctl: {hub.url} kept failing (HTTP 500); try again later\n"


def test_offline_search_fails_at_once_in_one_line(hub: FakeHub) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    started = time.monotonic()
    done = _localctl(hub, "search", "smollm2", HF_ENDPOINT=closed)
    # huggingface_hub alone would retry a refused connection for about 23 s.
    assert time.monotonic() - started < 15
    assert done.returncode == 1
    assert done.stderr.startswith(f"localctl: cannot reach {closed}: ")
    assert len(done.stderr.splitlines()) == 1


def test_no_network_gives_one_line(hub: FakeHub) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    hub.faults.status = None
    with (
        pytest.raises(DownloadError, match=f"^cannot reach {closed}"),
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.setenv("HF_ENDPOINT", closed)
        search.choose(f"{DEFAULT_REPO}:Q4_1")


def test_a_slow_hub_still_answers_and_a_stalled_one_times_out(
    hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.faults.delay_s = 0.3
    assert search.search_hub("smollm2", limit=1).hits[0].repo == DEFAULT_REPO
    hub.faults.delay_s = 5.0
    monkeypatch.setattr(listing, "API_TIMEOUT_S", 0.5)
    monkeypatch.setattr(hub_environ, "RETRY_DELAYS_S", ())
    with pytest.raises(DownloadError, match="cannot reach"):
        listing.list_repo(DEFAULT_REPO)


def test_empty_query_is_bad_input(hub: FakeHub) -> None:
    done = _localctl(hub, "search", "  ")
    assert done.returncode == 2
    assert done.stderr.strip() == "localctl: search needs a query, e.g. `localctl search qwen3`"


def test_the_fake_hub_answers_huggingface_hub_as_the_hub_does(hub: FakeHub) -> None:
    """Tree (expanded and paged), paths-info and model search parsed by huggingface_hub."""
    from huggingface_hub import HfApi
    from huggingface_hub.hf_api import RepoFile, RepoFolder

    api = HfApi(endpoint=hub.url, token=False)
    hub.page_size = 2
    tree = list(api.list_repo_tree(DEFAULT_REPO, recursive=True, expand=True))
    files = {e.path: e for e in tree if isinstance(e, RepoFile)}
    assert [e.path for e in tree if isinstance(e, RepoFolder)] == ["Q8_0"]
    assert files[SMOLLM2_FILE].lfs is not None
    assert files[SMOLLM2_FILE].lfs.sha256 == SMOLLM2_SHA256
    assert files[SMOLLM2_FILE].lfs.size == SMOLLM2_SIZE
    assert files[SMOLLM2_FILE].last_commit is not None
    assert files[SMOLLM2_FILE].security is not None and files[SMOLLM2_FILE].security.safe
    pages = [r for r in hub.requests if "/tree/" in r.path]
    assert len(pages) == 3  # 5 entries, 2 per page
    info = api.get_paths_info(DEFAULT_REPO, [SMOLLM2_FILE, "missing.gguf"], expand=True)
    assert [(i.path, i.size) for i in info] == [(SMOLLM2_FILE, SMOLLM2_SIZE)]
    found = list(
        api.list_models(
            search="SmolLM2", filter="gguf", sort="downloads", limit=2, expand=["downloads"]
        )
    )
    assert [m.id for m in found] == [DEFAULT_REPO, SEARCH_REPO]
    assert found[0].downloads == 5000 and found[0].tags is None


def test_search_fit_plans_each_quant_from_its_header(hub: FakeHub, smollm2_path: Path) -> None:
    done = _localctl(
        hub, "search", "smollm2", "--fit", "--hw", "rtx4090", "--ctx", "2048", "--json"
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["ctx"] == 2048
    quants = {q["ref"]: q for r in document["repos"] for q in r["quants"]}
    q4 = quants[f"{DEFAULT_REPO}:Q4_1"]
    local = json.loads(
        _localctl(
            hub, "fit", str(smollm2_path), "--json", "--hw", "rtx4090", "--ctx", "2048"
        ).stdout
    )
    assert q4["plan_error"] is None
    assert q4["plan"]["total_bytes"] == local["total_bytes"]
    assert q4["plan"]["placement"] == "gpu"
    # A quant whose bytes are not a GGUF header says so, on one line, and the rest still plan.
    broken = quants[f"{SEARCH_REPO}:Q8_0"]
    assert broken["plan"] is None and "\n" not in broken["plan_error"]
    human = _localctl(hub, "search", "smollm2", "--fit", "--hw", "rtx4090")
    assert "GPU" in human.stdout and "tok/s" in human.stdout
    refused = _localctl(hub, "search", "smollm2", "--hw", "rtx4090")
    assert refused.returncode == 2 and "pass --fit too" in refused.stderr


def test_a_hostile_repo_id_from_the_hub_never_reaches_the_terminal(smollm2_path: Path) -> None:
    # Only a hostile mirror (HF_ENDPOINT) sends an id the hub would refuse: escape
    # sequences that retitle the terminal or hide text. The search leaves it out.
    hostile = FakeRepo("evil/smollm2\x1b]0;owned\x07\x1b[2J", [], downloads=9_000)
    with FakeHub([*search_repos(smollm2_path), hostile], lifetime_s=120) as fake:
        done = _localctl(fake, "search", "smollm2")
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "\x1b" not in done.stderr
    assert "owned" not in done.stdout
    assert DEFAULT_REPO in done.stdout

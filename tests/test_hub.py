"""Downloads engine (localctl.hub) against the fake hub on 127.0.0.1, in-process."""

from __future__ import annotations

import errno
import hashlib
import os
import socket
import threading
from pathlib import Path

import pytest

from localctl import hub as hubmod
from localctl.errors import BadInputError, DownloadError
from localctl.hub import DownloadCancelled, PullProgress, pull, quant_of, quants_in_files
from localctl.hub import cache as hub_cache
from localctl.hub import env as hub_env
from tests.conftest import SMOLLM2_SHA256, SMOLLM2_SIZE
from tests.fakehub import (
    DEFAULT_REPO,
    SMOLLM2_FILE,
    SPLIT_NAMES,
    VALID_TOKEN,
    FakeFile,
    FakeHub,
    FakeRepo,
    smollm2_repo,
)

GATED_REPO = "gated-org/Gated-GGUF"


@pytest.fixture
def hub(smollm2_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    gated = FakeRepo(
        GATED_REPO,
        [FakeFile(path=SMOLLM2_FILE, size=SMOLLM2_SIZE, source=smollm2_path)],
        commit="fedcba9876543210fedcba9876543210fedcba98",
        gated=True,
    )
    fake = FakeHub([smollm2_repo(smollm2_path), gated], lifetime_s=120)
    with fake:
        monkeypatch.setenv("HF_ENDPOINT", fake.url)
        monkeypatch.setattr(hub_env, "RETRY_DELAYS_S", (0.01, 0.02, 0.04))
        yield fake


def _sha(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _storage() -> Path:
    return hubmod.repo_cache_dir(DEFAULT_REPO)


def _all_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() or p.is_symlink()]


# --------------------------------------------------------------------------- names and refs


def test_parse_ref_accepts_the_three_forms() -> None:
    catalog = hubmod.parse_ref("smollm2-135m:q4_1")
    assert (catalog.repo, catalog.model_id, catalog.quant) == (None, "smollm2-135m", "q4_1")
    repo = hubmod.parse_ref("bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M")
    assert (repo.repo, repo.quant, repo.filename) == (
        "bartowski/Llama-3.2-1B-Instruct-GGUF",
        "Q4_K_M",
        None,
    )
    file = hubmod.parse_ref("owner/repo/sub/dir/x.Q8_0.gguf")
    assert (file.repo, file.filename) == ("owner/repo", "sub/dir/x.Q8_0.gguf")


@pytest.mark.parametrize(
    "ref",
    [
        "",
        "owner/../x:Q4_K_M",
        "/abs/path",
        "owner/repo/../../etc/passwd.gguf",
        "owner/repo/file.bin",
        "a/b\\c:Q4",
    ],
)
def test_parse_ref_rejects_malformed_references(ref: str) -> None:
    with pytest.raises(BadInputError):
        hubmod.parse_ref(ref)


def test_quant_names_are_parsed_case_insensitively_from_file_names() -> None:
    assert quant_of("Llama-3.3-70B-Instruct-Q4_K_M-00001-of-00002.gguf") == "Q4_K_M"
    assert quant_of("SmolLM2-135M-Instruct.Q4_1.gguf") == "Q4_1"
    assert quant_of("qwen2.5-7b-instruct-q4_k_m.gguf") == "Q4_K_M"
    assert quant_of("model-IQ3_XXS.gguf") == "IQ3_XXS"
    assert quant_of("Qwen3-30B-A3B-UD-Q4_K_XL.gguf") == "UD-Q4_K_XL"
    assert quant_of("gemma-3-4b-it-BF16.gguf") == "BF16"
    assert quant_of("Q5_K_M/model-00001-of-00002.gguf") == "Q5_K_M"
    assert quant_of("mmproj-model-f16.gguf") is None
    assert quant_of("README.md") is None


def test_split_sets_are_expanded_in_part_order_and_incomplete_sets_dropped() -> None:
    names = [
        "Q8_0/m-Q8_0-00003-of-00003.gguf",
        "Q8_0/m-Q8_0-00001-of-00003.gguf",
        "Q8_0/m-Q8_0-00002-of-00003.gguf",
        "m-q4_k_m.gguf",
        "Q6_K/m-Q6_K-00001-of-00002.gguf",  # part 2 missing
    ]
    found = quants_in_files(names)
    assert found["Q8_0"] == [[f"Q8_0/m-Q8_0-0000{i}-of-00003.gguf" for i in (1, 2, 3)]]
    assert found["Q4_K_M"] == [["m-q4_k_m.gguf"]]
    assert "Q6_K" not in found


# --------------------------------------------------------------------------- happy paths


def test_pull_lands_in_the_standard_hf_cache_and_hf_hub_download_finds_it(hub: FakeHub) -> None:
    result = pull(f"{DEFAULT_REPO}:q4_1")
    commit = hub.repo(DEFAULT_REPO).commit  # type: ignore[union-attr]
    storage = _storage()
    assert result.sha256 == (SMOLLM2_SHA256,)
    assert result.bytes == SMOLLM2_SIZE == result.downloaded_bytes
    assert result.path == storage / "snapshots" / commit / SMOLLM2_FILE
    assert result.path.is_symlink() and not os.path.isabs(os.readlink(result.path))
    assert result.path.resolve() == storage / "blobs" / SMOLLM2_SHA256
    assert (storage / "refs" / "main").read_text() == commit
    assert _sha(result.path) == SMOLLM2_SHA256
    assert str(storage).startswith(os.environ["HF_HOME"])

    from huggingface_hub import hf_hub_download

    found = hf_hub_download(
        DEFAULT_REPO, SMOLLM2_FILE, cache_dir=str(hubmod.hub_cache_dir()), local_files_only=True
    )
    assert Path(found) == result.path


def test_split_set_is_fetched_whole_and_in_order(hub: FakeHub) -> None:
    seen: list[PullProgress] = []
    result = pull(f"{DEFAULT_REPO}:Q8_0", progress=seen.append)
    assert [p.name for p in result.files] == [Path(n).name for n in SPLIT_NAMES]
    joined = hashlib.sha256()
    for path, digest in zip(result.files, result.sha256, strict=True):
        assert _sha(path) == digest
        joined.update(path.read_bytes())
    assert joined.hexdigest() == SMOLLM2_SHA256
    assert result.bytes == SMOLLM2_SIZE
    assert {p.file_index for p in seen} == {1, 2, 3}
    assert all(p.file_count == 3 for p in seen)
    totals = [p.total_done for p in seen if p.phase == "download"]
    assert totals == sorted(totals) and totals[-1] == SMOLLM2_SIZE


def test_a_file_reference_to_one_part_brings_the_whole_set(hub: FakeHub) -> None:
    result = pull(f"{DEFAULT_REPO}/{SPLIT_NAMES[1]}")
    assert len(result.files) == 3
    single = pull(f"{DEFAULT_REPO}/{SMOLLM2_FILE}")
    assert single.sha256 == (SMOLLM2_SHA256,)


def test_a_cached_file_is_not_downloaded_again(hub: FakeHub) -> None:
    pull(f"{DEFAULT_REPO}:Q4_1")
    gets = len(hub.file_gets())
    again = pull(f"{DEFAULT_REPO}:Q4_1")
    assert again.downloaded_bytes == 0
    assert len(hub.file_gets()) == gets
    assert again.sha256 == (SMOLLM2_SHA256,)


def test_a_file_cached_by_huggingface_hub_is_verified_and_reused(hub: FakeHub) -> None:
    from huggingface_hub import hf_hub_download

    hf_hub_download(
        DEFAULT_REPO, SMOLLM2_FILE, cache_dir=str(hubmod.hub_cache_dir()), endpoint=hub.url
    )
    gets = len(hub.file_gets())
    seen: list[PullProgress] = []
    result = pull(f"{DEFAULT_REPO}:Q4_1", progress=seen.append)
    assert result.downloaded_bytes == 0 and len(hub.file_gets()) == gets
    assert any(p.phase == "verify" for p in seen)


def test_a_corrupted_cached_blob_is_detected_and_fetched_again(hub: FakeHub) -> None:
    result = pull(f"{DEFAULT_REPO}:Q4_1")
    blob = result.path.resolve()
    with blob.open("r+b") as handle:
        handle.seek(1000)
        handle.write(b"\0" * 16)
    again = pull(f"{DEFAULT_REPO}:Q4_1")
    assert again.downloaded_bytes == SMOLLM2_SIZE
    assert _sha(again.path) == SMOLLM2_SHA256


def test_cdn_redirect_does_not_leak_the_token(
    hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", VALID_TOKEN)
    hub.faults.cdn_redirect = True
    result = pull(f"{GATED_REPO}:Q4_1")
    assert result.sha256 == (SMOLLM2_SHA256,)
    cdn = [r for r in hub.requests if r.path.startswith("/cdn/")]
    assert cdn and all(r.authorization is None for r in cdn)
    assert any(
        r.authorization == f"Bearer {VALID_TOKEN}" for r in hub.requests if "/resolve/" in r.path
    )


# --------------------------------------------------------------------------- disk space


def test_pull_refuses_before_any_byte_when_the_disk_is_too_small(
    hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub_env, "free_bytes", lambda path: 50 * 1024 * 1024)
    with pytest.raises(DownloadError) as caught:
        pull(f"{DEFAULT_REPO}:Q8_0")
    message = str(caught.value)
    assert "not enough disk space" in message
    assert "93.8 MiB" in message and "50.0 MiB is free" in message and "margin" in message
    assert hub.file_gets() == []
    assert not (_storage() / "blobs").exists() or not any((_storage() / "blobs").iterdir())


# --------------------------------------------------------------------------- resume and faults


def test_disk_filling_up_mid_download_keeps_a_resumable_partial(
    hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_writev = os.writev
    calls = {"n": 0}

    def writev(fd: int, buffers: list[bytes]) -> int:
        calls["n"] += 1
        if calls["n"] > 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_writev(fd, buffers)

    monkeypatch.setattr(os, "writev", writev)
    with pytest.raises(DownloadError, match="disk filled up"):
        pull(f"{DEFAULT_REPO}:Q4_1")
    partial = _storage() / "blobs" / f"{SMOLLM2_SHA256}.incomplete"
    kept = partial.stat().st_size
    assert 0 < kept < SMOLLM2_SIZE
    assert not (_storage() / "blobs" / SMOLLM2_SHA256).exists()
    monkeypatch.setattr(os, "writev", real_writev)
    assert pull(f"{DEFAULT_REPO}:Q4_1").sha256 == (SMOLLM2_SHA256,)
    assert hub.file_gets()[-1].range_start == kept


def test_resume_continues_from_partial_file(hub: FakeHub) -> None:
    partial = _storage() / "blobs" / f"{SMOLLM2_SHA256}.incomplete"
    partial.parent.mkdir(parents=True)
    source = hub.repo(DEFAULT_REPO).file(SMOLLM2_FILE)  # type: ignore[union-attr]
    partial.write_bytes(source.read(0, 12_345_678))  # type: ignore[union-attr]
    result = pull(f"{DEFAULT_REPO}:Q4_1")
    assert [r.range_start for r in hub.file_gets()] == [12_345_678]
    assert result.downloaded_bytes == SMOLLM2_SIZE - 12_345_678
    assert result.sha256 == (SMOLLM2_SHA256,) and not partial.exists()


def test_dropped_connections_resume_until_the_file_is_complete(hub: FakeHub) -> None:
    hub.faults.drop_after_bytes = 20_000_000
    hub.faults.drop_times = 3
    result = pull(f"{DEFAULT_REPO}:Q4_1")
    starts = [r.range_start for r in hub.file_gets()]
    assert starts[0] is None and len(starts) == 4
    assert all(s is not None and s > 0 for s in starts[1:])
    assert result.sha256 == (SMOLLM2_SHA256,)


def test_server_that_ignores_range_restarts_cleanly(hub: FakeHub) -> None:
    partial = _storage() / "blobs" / f"{SMOLLM2_SHA256}.incomplete"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"x" * 1000)  # wrong bytes, but the restart throws them away
    hub.faults.ignore_range = True
    result = pull(f"{DEFAULT_REPO}:Q4_1")
    assert result.sha256 == (SMOLLM2_SHA256,)


def test_integrity_failure_deletes_the_bad_bytes(hub: FakeHub) -> None:
    hub.faults.corrupt = True
    with pytest.raises(DownloadError) as caught:
        pull(f"{DEFAULT_REPO}:Q4_1")
    assert "sha256 mismatch" in str(caught.value) and "deleted" in str(caught.value)
    storage = _storage()
    assert not list((storage / "blobs").iterdir())
    assert not (storage / "snapshots").exists() or not _all_files(storage / "snapshots")


def test_a_bad_partial_prefix_is_caught_at_the_end(hub: FakeHub) -> None:
    partial = _storage() / "blobs" / f"{SMOLLM2_SHA256}.incomplete"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"\xff" * 4096)
    with pytest.raises(DownloadError, match="mismatch"):
        pull(f"{DEFAULT_REPO}:Q4_1")
    assert not partial.exists()
    assert pull(f"{DEFAULT_REPO}:Q4_1").sha256 == (SMOLLM2_SHA256,)


def test_cancel_keeps_a_resumable_partial_and_nothing_complete(hub: FakeHub) -> None:
    hub.faults.trickle_bytes_s = 40_000_000
    cancel = threading.Event()

    def progress(p: PullProgress) -> None:
        if p.bytes_done > 5_000_000:
            cancel.set()

    with pytest.raises(DownloadCancelled):
        pull(f"{DEFAULT_REPO}:Q4_1", progress=progress, cancel=cancel)
    partial = _storage() / "blobs" / f"{SMOLLM2_SHA256}.incomplete"
    kept = partial.stat().st_size
    assert 5_000_000 < kept < SMOLLM2_SIZE
    assert not (_storage() / "blobs" / SMOLLM2_SHA256).exists()
    assert not (_storage() / "snapshots").exists()
    hub.faults.trickle_bytes_s = None
    result = pull(f"{DEFAULT_REPO}:Q4_1")
    assert hub.file_gets()[-1].range_start == kept
    assert result.sha256 == (SMOLLM2_SHA256,)


def test_another_process_holding_the_lock_is_reported(hub: FakeHub) -> None:
    lock = hub_cache.blob_lock(_storage(), SMOLLM2_SHA256)
    holder = threading.Thread(target=lock.acquire)
    holder.start()
    holder.join()
    try:
        with pytest.raises(DownloadError, match="another process"):
            pull(f"{DEFAULT_REPO}:Q4_1")
    finally:
        lock.release(force=True)


# --------------------------------------------------------------------------- errors in plain words


def test_unknown_repo_says_so(hub: FakeHub) -> None:
    with pytest.raises(DownloadError, match=r"no-such/repo: no such repository .*HTTP 404"):
        pull("no-such/repo:Q4_K_M")


def test_unknown_file_says_so_and_lists_quants(hub: FakeHub) -> None:
    with pytest.raises(DownloadError) as caught:
        pull(f"{DEFAULT_REPO}/missing.Q4_K_M.gguf")
    assert "missing.Q4_K_M.gguf not found" in str(caught.value)
    assert "Q4_1, Q8_0 (3 parts)" in str(caught.value)


def test_a_quant_with_no_match_lists_the_quants_that_exist(hub: FakeHub) -> None:
    with pytest.raises(BadInputError) as caught:
        pull(f"{DEFAULT_REPO}:Q5_K_M")
    assert str(caught.value).endswith("quants in this repo: Q4_1, Q8_0 (3 parts)")


def test_gated_repo_without_token_tells_how_to_get_access(hub: FakeHub) -> None:
    with pytest.raises(DownloadError) as caught:
        pull(f"{GATED_REPO}:Q4_1")
    message = str(caught.value)
    assert (
        "accept the licence" in message
        and "HF_TOKEN" in message
        and f"{hub.url}/{GATED_REPO}" in message
    )


def test_gated_repo_with_wrong_token_and_with_right_token(
    hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    with pytest.raises(DownloadError, match="no access"):
        pull(f"{GATED_REPO}:Q4_1")
    monkeypatch.setenv("HF_TOKEN", VALID_TOKEN)
    assert pull(f"{GATED_REPO}:Q4_1").sha256 == (SMOLLM2_SHA256,)


def test_server_errors_are_retried_then_succeed(hub: FakeHub) -> None:
    hub.faults.status = 500
    hub.faults.status_times = 2
    assert pull(f"{DEFAULT_REPO}:Q4_1").sha256 == (SMOLLM2_SHA256,)
    hub.faults.status_routes = ("resolve",)
    hub.faults.status = 503
    hub.faults.status_times = 2
    assert pull(f"{DEFAULT_REPO}/{SPLIT_NAMES[0]}").bytes == SMOLLM2_SIZE


def test_server_errors_stop_after_bounded_retries(hub: FakeHub) -> None:
    hub.faults.status = 500
    with pytest.raises(DownloadError, match=r"kept failing \(HTTP 500\)"):
        pull(f"{DEFAULT_REPO}:Q4_1")
    assert len(hub.requests) == len(hub_env.RETRY_DELAYS_S) + 1


def test_no_network_says_the_hub_cannot_be_reached(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setattr(hub_env, "RETRY_DELAYS_S", (0.01,))
    with pytest.raises(DownloadError, match=f"cannot reach http://127.0.0.1:{port}"):
        pull(f"{DEFAULT_REPO}:Q4_1")


def test_a_cached_model_is_found_again_without_a_network(
    hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = pull(f"{DEFAULT_REPO}:Q8_0")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    again = pull(f"{DEFAULT_REPO}:q8_0")
    assert again.files == first.files and again.sha256 == first.sha256
    assert again.downloaded_bytes == 0 and again.commit == first.commit
    with pytest.raises(DownloadError, match="cannot reach"):
        pull(f"{DEFAULT_REPO}:Q4_1")


@pytest.mark.parametrize(
    "name", ["../../evil.Q4_1.gguf", "/etc/evil.Q4_1.gguf", "a\\..\\evil.gguf", "a/./b.gguf"]
)
def test_hostile_file_names_are_refused_before_becoming_paths(
    hub: FakeHub, name: str, tmp_path: Path
) -> None:
    hub.faults.hostile_name = name
    before = set(tmp_path.rglob("*"))
    with pytest.raises(DownloadError, match="escape the cache"):
        pull(f"{DEFAULT_REPO}:Q4_1")
    assert hub.file_gets() == []
    assert not any("evil" in p.name for p in set(tmp_path.rglob("*")) - before)


@pytest.mark.parametrize("etag", ["../../x", 'W/"../../../../tmp/x"', "not-a-digest", "0" * 64])
def test_unexpected_etags_are_refused(hub: FakeHub, etag: str, tmp_path: Path) -> None:
    hub.faults.hostile_etag = etag
    with pytest.raises(DownloadError, match="ETag"):
        pull(f"{DEFAULT_REPO}:Q4_1")
    assert not [p for p in tmp_path.rglob("x") if p.is_file()]
    assert not (_storage() / "snapshots").exists()


@pytest.mark.parametrize("commit", ["../../../etc", "main", "ABCDEF" * 6 + "ABCD"])
def test_malformed_commits_are_refused(hub: FakeHub, commit: str) -> None:
    hub.faults.hostile_commit = commit
    with pytest.raises(DownloadError, match="malformed commit"):
        pull(f"{DEFAULT_REPO}:Q4_1")


def test_the_commit_is_pinned_for_the_whole_download(hub: FakeHub) -> None:
    plan = hubmod.resolve(f"{DEFAULT_REPO}:Q8_0")
    hub.faults.hostile_commit = "f" * 40  # the repo moved on after the file list was read
    with pytest.raises(DownloadError, match="instead of the pinned"):
        hubmod.download(plan)
    assert all(plan.commit in r.path for r in hub.file_gets())


# --------------------------------------------------------------------------- catalog references


def test_catalog_reference_downloads_the_catalog_file(hub: FakeHub) -> None:
    from catalog.loader import load_catalog
    from localctl import paths

    catalog = load_catalog(paths.user_catalog_file())
    entries = [(m, q) for m in catalog.models for q in m.quants if q.files == (SMOLLM2_FILE,)]
    if not entries:
        pytest.skip("the catalog has no SmolLM2 Q4_1 entry yet")
    model, quant = entries[0]
    hub.repos.append(smollm2_repo(hub.repo(DEFAULT_REPO).files[0].source, repo_id=model.repo))  # type: ignore[arg-type, union-attr]
    ref = f"{model.id}:{quant.name.lower()}"
    if quant.sha256 and quant.sha256[0].lower() != SMOLLM2_SHA256:
        # The catalog pins another build of the file than the test model: refused, not mixed.
        with pytest.raises(DownloadError, match="catalog's sha256"):
            pull(ref)
        return
    result = pull(ref)
    assert result.sha256 == (SMOLLM2_SHA256,)
    assert result.repo == model.repo


def test_a_resolved_target_is_pulled_without_reading_the_catalog(
    hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    from localctl import snapshot

    def no_catalog() -> None:
        raise AssertionError("the catalog was read again")

    monkeypatch.setattr(snapshot, "load_catalog", no_catalog)
    target = hubmod.Ref(
        repo=DEFAULT_REPO,
        model_id="no-catalog-knows-me",
        quant="Q4_1",
        filename=None,
        files=(SMOLLM2_FILE,),
        sha256=(SMOLLM2_SHA256,),
    )
    result = pull(target)
    assert result.sha256 == (SMOLLM2_SHA256,) and result.repo == DEFAULT_REPO
    wrong = hubmod.Ref(DEFAULT_REPO, "x", "Q4_1", None, (SMOLLM2_FILE,), ("0" * 64,))
    with pytest.raises(DownloadError, match="catalog's sha256"):
        pull(wrong)


def test_catalog_reference_follows_the_catalog_contract(
    hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``MODEL:QUANT`` goes through ``load_catalog(user_file).resolve(ref)`` (stand-in catalog)."""
    import types

    from catalog.schema import ArchSpec, ModelSpec, QuantSpec
    from localctl import paths

    quant = QuantSpec("Q8_0", SPLIT_NAMES, SMOLLM2_SIZE)
    model = ModelSpec(
        id="smollm2-135m",
        name="SmolLM2 135M",
        family="smollm",
        repo=DEFAULT_REPO,
        params=135_000_000,
        arch=ArchSpec("llama", 30, 576, 9, 3, 64, 64, 49152, 8192),
        license="apache-2.0",
        quants=(quant,),
    )
    asked: list[tuple[object, str]] = []

    class Catalog:
        warnings: tuple[str, ...] = ()

        def __init__(self, user_file: object) -> None:
            self.user_file = user_file

        def resolve(self, ref: str) -> tuple[ModelSpec, QuantSpec]:
            asked.append((self.user_file, ref))
            return model, quant

    stand_in = types.ModuleType("catalog.loader")
    stand_in.load_catalog = Catalog  # type: ignore[attr-defined]
    monkeypatch.setitem(__import__("sys").modules, "catalog.loader", stand_in)
    result = pull("smollm2-135m:q8_0")
    assert asked == [(paths.user_catalog_file(), "smollm2-135m:q8_0")]
    assert [p.name for p in result.files] == [Path(n).name for n in SPLIT_NAMES]
    assert result.repo == DEFAULT_REPO

"""Pull: resolve, check disk space, fetch or verify each file and link it into the cache.

When the hub cannot be reached, files already in the cache answer.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from localctl.errors import BadInputError, DownloadError
from localctl.hub.cache import (
    blob_lock,
    check_free_space,
    known_good,
    link_snapshot,
    new_hasher,
    remember_good,
    repo_cache_dir,
    snapshot_path,
    write_ref,
)
from localctl.hub.errors import DownloadCancelled, Unreachable
from localctl.hub.refs import Ref
from localctl.hub.resolve import choose_files, resolve, resolved_ref
from localctl.hub.transfer import Meter, Transfer, request_headers
from localctl.hub.values import HEX40, HEX64, PullPlan, PullProgress, PullResult, RemoteFile

if TYPE_CHECKING:
    import httpx


def _ensure_file(
    client: httpx.Client,
    plan: PullPlan,
    remote: RemoteFile,
    storage: Path,
    meter: Meter,
    cancel: threading.Event | None,
) -> tuple[Path, str]:
    """Make ``remote`` present and verified in the cache; return (snapshot path, sha256)."""
    from filelock import Timeout

    blob = storage / "blobs" / remote.etag
    pointer = snapshot_path(plan.repo, plan.commit, remote.path, storage.parent)
    blob.parent.mkdir(parents=True, exist_ok=True)
    lock = blob_lock(storage, remote.etag)
    try:
        lock.acquire()
    except Timeout:
        raise DownloadError(
            f"another process is downloading {remote.path} right now; wait for it to finish"
        ) from None
    try:
        sha = _cached_sha(blob, remote, meter, cancel)
        if sha is None:
            sha = Transfer(client, plan, remote, blob, meter, cancel).run()
        remember_good(blob, remote.etag, sha)
        link_snapshot(blob, pointer)
    finally:
        lock.release()
    meter.report(remote.size_bytes, force=True)
    return pointer, sha


def _cached_sha(
    blob: Path, remote: RemoteFile, meter: Meter, cancel: threading.Event | None
) -> str | None:
    """sha256 of a good cached blob; None (a bad blob is removed) when it must be fetched."""
    try:
        size = blob.stat().st_size
    except OSError:
        return None
    if size == remote.size_bytes:
        known = known_good(blob, remote.etag)
        if known is not None:
            return known
        meter.report(0, phase="verify", force=True)
        hasher = new_hasher(remote)
        plain = hashlib.sha256()
        done = 0
        with blob.open("rb") as handle:
            while block := handle.read(8 << 20):
                if cancel is not None and cancel.is_set():
                    raise DownloadCancelled("download cancelled")
                hasher.update(block)
                if remote.sha256 is None:
                    plain.update(block)
                done += len(block)
                meter.report(done, phase="verify")
        if hasher.hexdigest() == remote.etag:
            return remote.sha256 or plain.hexdigest()
    blob.unlink()
    return None


def download(
    plan: PullPlan,
    *,
    progress: Callable[[PullProgress], None] | None = None,
    cancel: threading.Event | None = None,
) -> PullResult:
    """Fetch, verify and place every file of a resolved plan (see :func:`pull`)."""
    import httpx

    started = time.monotonic()
    storage = repo_cache_dir(plan.repo)
    check_free_space(plan, storage)
    timeout = float(os.environ.get("HF_HUB_DOWNLOAD_TIMEOUT") or 10)
    meter = Meter(plan, progress)
    files: list[Path] = []
    digests: list[str] = []
    with httpx.Client(
        headers=request_headers(plan.endpoint),
        follow_redirects=True,
        timeout=httpx.Timeout(timeout, connect=10.0),
    ) as client:
        done_before = 0
        for index, remote in enumerate(plan.files, start=1):
            meter.start_file(index, remote, done_before)
            path, sha = _ensure_file(client, plan, remote, storage, meter, cancel)
            files.append(path)
            digests.append(sha)
            done_before += remote.size_bytes
    write_ref(storage, plan.commit)
    return PullResult(
        files=tuple(files),
        bytes=plan.total_bytes,
        sha256=tuple(digests),
        path=files[0],
        seconds=time.monotonic() - started,
        downloaded_bytes=meter.transferred,
        repo=plan.repo,
        commit=plan.commit,
    )


def pull(
    ref: str | Ref,
    *,
    progress: Callable[[PullProgress], None] | None = None,
    cancel: threading.Event | None = None,
) -> PullResult:
    """Download the GGUF file(s) named by ``ref`` into the HF cache, verified.

    Resolves the file list at a pinned commit, checks disk space for the whole set,
    resumes any partial file, verifies each file's sha256 and links it into the cache's
    snapshot folder. Files already cached with the right hash are not fetched again.

    Args:
        ref: A resolved target (:class:`Ref`: a catalog quant with its repo, files and
            hashes, as :mod:`localctl.library` makes it), or a reference string:
            ``MODEL[:QUANT]`` (catalog), ``OWNER/REPO[:QUANT]`` or ``OWNER/REPO/FILE.gguf``.
        progress: Called from the downloading thread at most every 0.1 s, and at each
            file's start and end.
        cancel: Set it (from any thread) to stop; the partial file is kept for resuming.

    Returns:
        Where the files are and what was verified.

    Raises:
        BadInputError: malformed reference, unknown model or quant (listing the quants
            that exist).
        DownloadCancelled: ``cancel`` was set.
        DownloadError: hub, network, disk-space or integrity failure, in one line.
    """
    if cancel is not None and cancel.is_set():
        raise DownloadCancelled("download cancelled")
    started = time.monotonic()
    target = resolved_ref(ref)
    try:
        plan = resolve(target, cancel=cancel, cache_answers=True)
    except Unreachable:
        cached = _cached_result(target, started)
        if cached is None:
            raise
        return cached
    result = download(plan, progress=progress, cancel=cancel)
    return PullResult(
        files=result.files,
        bytes=result.bytes,
        sha256=result.sha256,
        path=result.path,
        seconds=time.monotonic() - started,
        downloaded_bytes=result.downloaded_bytes,
        repo=result.repo,
        commit=result.commit,
    )


def cached(ref: str | Ref) -> PullResult | None:
    """The verified files of ``ref`` from the cache alone (no request), or None."""
    return _cached_result(ref, time.monotonic())


def _cached_result(ref: str | Ref, started: float) -> PullResult | None:
    """The verified files of ``ref`` from the cache alone (``refs/main``), or None."""
    parsed = resolved_ref(ref)
    catalog_files = parsed.files
    repo = parsed.repo or ""
    storage = repo_cache_dir(repo)
    try:
        commit = (storage / "refs" / "main").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    snapshot = storage / "snapshots" / commit
    if not HEX40.fullmatch(commit) or not snapshot.is_dir():
        return None
    listing = [p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if p.is_file()]
    try:
        names, _ = choose_files(parsed, repo, listing, catalog_files)
    except (BadInputError, DownloadError):
        return None
    files: list[Path] = []
    digests: list[str] = []
    size = 0
    for name in names:
        pointer = snapshot / Path(*name.split("/"))
        blob = pointer.resolve()
        etag = blob.name
        if not HEX64.fullmatch(etag) or not blob.is_file():
            return None
        if known_good(blob, etag) != etag:
            digest = hashlib.sha256()
            with blob.open("rb") as handle:
                while block := handle.read(8 << 20):
                    digest.update(block)
            if digest.hexdigest() != etag:
                return None
            remember_good(blob, etag, etag)
        files.append(pointer)
        digests.append(etag)
        size += blob.stat().st_size
    return PullResult(
        files=tuple(files),
        bytes=size,
        sha256=tuple(digests),
        path=files[0],
        seconds=time.monotonic() - started,
        downloaded_bytes=0,
        repo=repo,
        commit=commit,
    )

"""The Hugging Face cache layout: blobs, snapshot links, refs, locks, remembered verifications."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localctl.errors import DownloadError
from localctl.hub import env
from localctl.hub.env import disk_margin_bytes, hub_cache_dir
from localctl.hub.values import HEX64, PullPlan, RemoteFile

if TYPE_CHECKING:
    pass


def repo_cache_dir(repo: str, cache: Path | None = None) -> Path:
    """``<cache>/models--OWNER--NAME`` as huggingface_hub names it."""
    return (cache or hub_cache_dir()) / ("models--" + repo.replace("/", "--"))


def snapshot_path(repo: str, commit: str, filename: str, cache: Path | None = None) -> Path:
    """Where the snapshot link of ``filename`` at ``commit`` lives."""
    return repo_cache_dir(repo, cache) / "snapshots" / commit / Path(*filename.split("/"))


def _verified_marker(etag: str) -> Path:
    from localctl import paths

    return paths.cache_dir() / "verified-blobs" / etag


def _stat_key(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev]


def known_good(blob: Path, etag: str) -> str | None:
    """The sha256 recorded when ``blob`` was last verified, if it has not changed since."""
    try:
        record = json.loads(_verified_marker(etag).read_text(encoding="utf-8"))
        if record.get("stat") == _stat_key(blob) and HEX64.fullmatch(str(record.get("sha256"))):
            return str(record["sha256"])
    except (OSError, ValueError, AttributeError):
        pass
    return None


def remember_good(blob: Path, etag: str, sha256: str) -> None:
    marker = _verified_marker(etag)
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        tmp = marker.with_name(f".{marker.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"stat": _stat_key(blob), "sha256": sha256}), encoding="utf-8")
        os.replace(tmp, marker)
    except OSError:
        pass


def new_hasher(remote: RemoteFile) -> Any:
    hasher = hashlib.sha256() if remote.sha256 else hashlib.sha1()
    if remote.sha256 is None:
        hasher.update(f"blob {remote.size_bytes}\0".encode())
    return hasher


def link_snapshot(blob: Path, pointer: Path) -> None:
    pointer.parent.mkdir(parents=True, exist_ok=True)
    relative = os.path.relpath(blob, pointer.parent)
    tmp = pointer.with_name(f".{pointer.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.symlink(relative, tmp)
    except OSError:
        try:
            os.link(blob, tmp)
        except OSError:
            shutil.copyfile(blob, tmp)
    os.replace(tmp, pointer)


def write_ref(storage: Path, commit: str) -> None:
    ref = storage / "refs" / "main"
    ref.parent.mkdir(parents=True, exist_ok=True)
    try:
        if ref.read_text(encoding="utf-8") == commit:
            return
    except OSError:
        pass
    tmp = ref.with_name(f"main.{os.getpid()}.tmp")
    tmp.write_text(commit, encoding="utf-8")
    os.replace(tmp, ref)


def blob_lock(storage: Path, etag: str) -> Any:
    from filelock import FileLock

    path = storage.parent / ".locks" / storage.name / f"{etag}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path), timeout=0)


def check_free_space(plan: PullPlan, storage: Path) -> int:
    """Raise when the bytes still missing (plus a margin) do not fit; return them."""
    needed = 0
    for remote in plan.files:
        blob = storage / "blobs" / remote.etag
        try:
            if blob.stat().st_size == remote.size_bytes:
                continue
        except OSError:
            pass
        partial = blob.with_name(blob.name + ".incomplete")
        try:
            have = min(partial.stat().st_size, remote.size_bytes)
        except OSError:
            have = 0
        needed += remote.size_bytes - have
    if needed == 0:
        return 0
    from localctl.output import human_bytes

    margin = disk_margin_bytes(needed)
    free = env.free_bytes(storage)
    if free < needed + margin:
        raise DownloadError(
            f"not enough disk space in {storage.parent}: {plan.repo} needs "
            f"{human_bytes(needed)} more (+{human_bytes(margin)} margin) but only "
            f"{human_bytes(free)} is free; free some space or point HF_HOME at a larger disk"
        )
    return needed

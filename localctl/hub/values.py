"""The values a pull passes around: remote files, the resolved plan, progress and result."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localctl.errors import DownloadError

HEX40 = re.compile(r"[0-9a-f]{40}")

HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class PullProgress:
    """One progress report of a running pull (all byte counts are bytes of file data)."""

    file_index: int
    """1-based index of the file being fetched (``part i/N``)."""
    file_count: int
    filename: str
    """Path of the file inside the repository."""
    bytes_done: int
    """Bytes of this file on disk so far (a resumed prefix counts)."""
    bytes_total: int
    total_done: int
    """Bytes of the whole set on disk so far."""
    total_bytes: int
    speed_bytes_s: float
    """Transfer rate over the last few seconds of this run (0 before any byte)."""
    eta_s: float | None
    """Seconds left at the current rate, None while unknown."""
    phase: str = "download"
    """``verify`` while hashing bytes already on disk, ``download`` otherwise."""


@dataclass(frozen=True, slots=True)
class PullResult:
    """What :func:`pull` left on disk."""

    files: tuple[Path, ...]
    """Local paths (snapshot links in the HF cache), in part order."""
    bytes: int
    """Total size of all files."""
    sha256: tuple[str, ...]
    """Verified sha256 of each file, same order as ``files``."""
    path: Path
    """The first file (what llama.cpp is given for a split set)."""
    seconds: float
    downloaded_bytes: int
    """Bytes transferred by this call (0 when everything was already cached)."""
    repo: str = ""
    commit: str = ""


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """One file of a pinned repository revision, with hub values already validated."""

    path: str
    """Relative POSIX path inside the repository."""
    size_bytes: int
    sha256: str | None
    """LFS sha256 (64 hex); None for a file stored in git itself."""
    blob_id: str
    """Git object id (40 hex)."""

    @property
    def etag(self) -> str:
        """The name of the blob in the HF cache (sha256 for LFS files, the git oid otherwise)."""
        return self.sha256 or self.blob_id


@dataclass(frozen=True, slots=True)
class PullPlan:
    """Everything resolved before the first byte: repo, pinned commit and files."""

    repo: str
    commit: str
    files: tuple[RemoteFile, ...]
    endpoint: str
    quant: str | None = None

    @property
    def total_bytes(self) -> int:
        """Sum of all file sizes."""
        return sum(f.size_bytes for f in self.files)


def checked_size_and_sha256(name: str, size: Any, lfs: Any) -> tuple[int, str | None]:
    """A hub file entry's byte size and LFS sha256 (None when not in LFS), checked.

    ``size`` is the entry's own size; an ``lfs`` record, when present, gives both figures.

    Raises:
        DownloadError: a malformed sha256 or size (the hub's answer is refused).
    """
    sha256: str | None = None
    if lfs is not None:
        sha256 = lfs.sha256
        size = lfs.size
        if not isinstance(sha256, str) or not HEX64.fullmatch(sha256):
            raise DownloadError(
                f"the hub sent a malformed sha256 for {name!r}: {sha256!r}; refusing it"
            )
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise DownloadError(f"the hub sent a malformed size for {name!r}: {size!r}; refusing it")
    return size, sha256

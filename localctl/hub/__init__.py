"""Downloads from the Hugging Face Hub into the standard Hugging Face cache.

``pull(ref)`` fetches the GGUF file(s) named by a reference and returns where
they are. A reference is one of:

* ``MODEL-ID[:QUANT]`` — a catalog entry (default quant ``Q4_K_M``);
* ``OWNER/REPO[:QUANT]`` — any GGUF repository; the quant picks the file(s) from
  the repository's file list, case-insensitive, split sets expanded;
* ``OWNER/REPO/PATH/FILE.gguf`` — one file (a split part brings its whole set).

How it works, and why:

1. **Resolve before any byte.** One ``HfApi.model_info(files_metadata=True)``
   call gives the commit sha, every file's size and its LFS sha256. Every value
   from the hub is checked for shape before use (commit 40 hex, sha256 64 hex,
   file names relative and inside the repository, no ``..``, no backslash) and
   the commit is pinned: every byte is then fetched from
   ``/resolve/<commit>/<file>``, so a repository that changes mid-download
   cannot mix files, and an ``X-Repo-Commit`` or ``ETag`` that disagrees with
   the pinned values is refused.
2. **Disk space** for everything still missing (plus a margin) is checked
   against the free space of the cache before the first byte; refusal names the
   numbers.
3. **Our own byte mover, huggingface_hub's layout.** huggingface_hub 2.4
   downloads into ``blobs/<etag>.<random>.incomplete`` — a name unique to each
   call that it deletes on any failure — so it cannot resume across processes,
   and it never checks sha256. localctl therefore streams each file itself
   (httpx, ``Range: bytes=N-``) into the deterministic
   ``blobs/<sha256>.incomplete`` inside the same cache (the name older
   huggingface_hub releases resumed from), hashing as it writes (the kept
   prefix is hashed first on resume). Only when size and sha256 match is it
   renamed to ``blobs/<sha256>`` and linked from ``snapshots/<commit>/<file>``
   with a relative symlink, and ``refs/main`` records the commit — exactly what
   ``hf_hub_download`` would leave, so ``hf_hub_download(...,
   local_files_only=True)`` and every other tool find the files. The
   per-blob lock is the one huggingface_hub takes (``.locks/<repo>/<etag>.lock``),
   so the two never write the same blob at once.
4. **Integrity.** A mismatch deletes the bad bytes and raises
   :class:`~localctl.errors.DownloadError` saying so; nothing that looks complete
   is left behind. A blob already in the cache (from localctl or any other
   tool) is hashed once and then remembered by (size, mtime, inode) in
   localctl's cache folder, so it is never downloaded again.
5. **Failures in plain words.** 404, gated/private (401/403), no network, and
   5xx answers (retried with bounded backoff) each end in one line. A dropped
   connection resumes from the current byte (retries are bounded only while no
   byte arrives). When the hub cannot be reached at all, a reference whose
   files are already in the cache (``refs/main``) is answered from the cache.
6. **Speed.** The receiving thread only batches 64 KiB chunks; writing and
   hashing run on two more threads (both release the GIL), so the three overlap.
   On loopback this keeps up with ``curl -o FILE`` and is about 1.5x
   ``hf_hub_download`` (``bench/pull.py``).

``HF_HOME``/``HF_HUB_CACHE``, ``HF_ENDPOINT`` and ``HF_TOKEN`` are read from
the environment at each call (huggingface_hub reads them once at import).

Modules: ``env`` (cache folder, endpoint, token, free space: read from the
environment; tests replace ``env.free_bytes`` and ``env.RETRY_DELAYS_S``),
``refs`` (reference parsing, safe names), ``values`` (plan, progress, result),
``errors`` (hub failures in one line, retry rules), ``resolve`` (the pinned file
list), ``cache`` (the HF cache layout), ``transfer`` (the byte mover) and
``fetch`` (:func:`pull` = :func:`resolve` then :func:`download`), and ``listing`` (a
repository's whole file list with exact sizes, for search and catalog refresh). GGUF file
naming (quant in a name, split sets) lives in :mod:`catalog.filenames`.
"""

from __future__ import annotations

from catalog.filenames import quant_of, quants_in_files, split_part
from localctl.hub.cache import repo_cache_dir, snapshot_path
from localctl.hub.env import (
    DEFAULT_ENDPOINT,
    disk_margin_bytes,
    free_bytes,
    hub_cache_dir,
    hub_endpoint,
    hub_token,
)
from localctl.hub.errors import DownloadCancelled
from localctl.hub.fetch import download, pull
from localctl.hub.refs import DEFAULT_QUANT, Ref, check_repo_id, parse_ref, safe_repo_path
from localctl.hub.resolve import resolve
from localctl.hub.values import PullPlan, PullProgress, PullResult, RemoteFile

__all__ = [
    "DEFAULT_ENDPOINT",
    "DEFAULT_QUANT",
    "DownloadCancelled",
    "PullPlan",
    "PullProgress",
    "PullResult",
    "Ref",
    "RemoteFile",
    "check_repo_id",
    "disk_margin_bytes",
    "download",
    "free_bytes",
    "hub_cache_dir",
    "hub_endpoint",
    "hub_token",
    "parse_ref",
    "pull",
    "quant_of",
    "quants_in_files",
    "repo_cache_dir",
    "resolve",
    "safe_repo_path",
    "snapshot_path",
    "split_part",
]

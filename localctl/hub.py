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

Public API: :func:`pull` (= :func:`resolve` then :func:`download`),
:func:`parse_ref`, :func:`quant_of`, :func:`quants_in_files`,
:func:`hub_cache_dir`, :func:`hub_endpoint`, :func:`hub_token`,
:func:`repo_cache_dir`, :func:`snapshot_path`, :func:`free_bytes` (tests replace
it), :class:`PullProgress`, :class:`PullResult`, :class:`PullPlan`,
:class:`RemoteFile`, :class:`DownloadCancelled`.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import queue
import re
import shutil
import threading
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from localctl.auth import hub_headers
from localctl.errors import BadInputError, DownloadError

if TYPE_CHECKING:
    import httpx

DEFAULT_QUANT = "Q4_K_M"
DEFAULT_ENDPOINT = "https://huggingface.co"
RETRY_DELAYS_S: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
"""Pauses between attempts after a 5xx answer or a network error (bounded backoff)."""
STALL_RETRIES = 5
"""Consecutive dropped connections without a new byte before a download gives up."""
PROGRESS_INTERVAL_S = 0.1
"""Least time between two progress callbacks (file start and end always report)."""
CHUNK_BYTES = 1 << 20

_HEX40 = re.compile(r"[0-9a-f]{40}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_REPO_PART = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_-])?")
_SPLIT = re.compile(r"-(\d{5})-of-(\d{5})$", re.IGNORECASE)
_QUANT = re.compile(
    r"(?:^|[-._])((?:UD-)?(?:I?Q\d(?:_[A-Z0-9]+)*|TQ\d_\d|BF16|F16|F32|FP16|FP32|MXFP4(?:_MOE)?))$",
    re.IGNORECASE,
)


class DownloadCancelled(DownloadError):
    """The download was cancelled; the partial file is kept and the next pull resumes it."""


class _Unreachable(DownloadError):
    """The hub could not be reached at all (the cache may still answer)."""


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


@dataclass(frozen=True, slots=True)
class Ref:
    """A parsed pull reference."""

    repo: str | None
    """``owner/name`` for hub forms; None for a catalog id."""
    model_id: str | None
    quant: str | None
    filename: str | None
    """Path inside the repo for the ``OWNER/REPO/FILE.gguf`` form."""


# --------------------------------------------------------------------------- environment


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache folder, resolved from the environment now.

    Same precedence as huggingface_hub: ``HF_HUB_CACHE``, ``HUGGINGFACE_HUB_CACHE``,
    ``HF_HOME/hub``, ``$XDG_CACHE_HOME/huggingface/hub``, ``~/.cache/huggingface/hub``.
    """
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(os.path.expandvars(explicit)).expanduser()
    return _hf_home() / "hub"


def _hf_home() -> Path:
    home = os.environ.get("HF_HOME")
    if not home:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        home = os.path.join(xdg, "huggingface")
    return Path(os.path.expandvars(home)).expanduser()


def hub_endpoint() -> str:
    """``HF_ENDPOINT`` (without a trailing slash) or ``https://huggingface.co``."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def hub_token() -> str | None:
    """``HF_TOKEN`` (or the token file huggingface_hub writes on login), else None."""
    token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    if not token:
        path = os.environ.get("HF_TOKEN_PATH") or str(_hf_home() / "token")
        try:
            token = Path(os.path.expandvars(path)).expanduser().read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
    token = token.strip()
    return token or None


def free_bytes(path: Path) -> int:
    """Free bytes on the filesystem holding ``path`` (its nearest existing parent)."""
    for candidate in (path, *path.parents):
        try:
            return shutil.disk_usage(candidate).free
        except OSError:
            continue
    return 0


def disk_margin_bytes(needed: int) -> int:
    """Space kept free on top of the files themselves: 2% of them, at least 64 MiB."""
    return max(64 << 20, needed // 50)


# --------------------------------------------------------------------------- names and refs


def check_repo_id(repo: str) -> str:
    """Return ``repo`` if it is a plain ``owner/name``; raise BadInputError otherwise."""
    parts = repo.split("/")
    if len(parts) != 2 or not all(_REPO_PART.fullmatch(p) and ".." not in p for p in parts):
        raise BadInputError(f"not a Hugging Face repository id: {repo!r} (expected OWNER/NAME)")
    return repo


def safe_repo_path(name: object, *, hostile: bool = True) -> str:
    """Return ``name`` if it is a relative path that stays inside a repository.

    Args:
        name: A file name from the hub (or the user).
        hostile: True when the hub supplied it (DownloadError), False for user input
            (BadInputError).

    Raises:
        DownloadError: (or BadInputError) for an absolute path, ``..``, ``.``, empty parts,
            backslashes or control characters.
    """
    error: type[DownloadError | BadInputError] = DownloadError if hostile else BadInputError
    source = "the hub listed a file name" if hostile else "file name"
    if not isinstance(name, str) or not name:
        raise error(f"{source} that is not a string: {name!r}; refusing it")
    parts = name.split("/")
    bad = (
        name.startswith("/")
        or "\\" in name
        or any(ord(c) < 0x20 or c == "\x7f" for c in name)
        or any(p in ("", ".", "..") for p in parts)
        or re.match(r"^[A-Za-z]:", name) is not None
        or len(name) > 1024
    )
    if bad:
        raise error(f"{source} that would escape the cache: {name!r}; refusing it")
    return name


def parse_ref(ref: str) -> Ref:
    """Split a pull reference into its parts (no network).

    Raises:
        BadInputError: the reference has none of the three accepted forms.
    """
    text = ref.strip()
    if not text:
        raise BadInputError(
            "empty model reference; expected MODEL[:QUANT], OWNER/REPO:QUANT "
            "or OWNER/REPO/FILE.gguf"
        )
    if "/" not in text:
        model_id, _, quant = text.partition(":")
        if not model_id:
            raise BadInputError(f"no model id in {ref!r}")
        return Ref(repo=None, model_id=model_id, quant=quant or None, filename=None)
    parts = text.split("/")
    if len(parts) >= 3:
        repo = check_repo_id("/".join(parts[:2]))
        filename = safe_repo_path("/".join(parts[2:]), hostile=False)
        if not filename.lower().endswith(".gguf"):
            raise BadInputError(f"{ref!r}: a file reference must name a .gguf file")
        return Ref(repo=repo, model_id=None, quant=None, filename=filename)
    repo_text, _, quant = text.partition(":")
    return Ref(repo=check_repo_id(repo_text), model_id=None, quant=quant or None, filename=None)


def quant_of(filename: str) -> str | None:
    """Quant name (upper case) written in a GGUF file name, or None.

    ``Llama-3.3-70B-Instruct-Q4_K_M-00001-of-00002.gguf`` → ``Q4_K_M``; a name without
    one takes its folder's (``Q4_K_M/model-00001-of-00002.gguf`` → ``Q4_K_M``).
    """
    path = PurePosixPath(filename)
    base = path.name
    if not base.lower().endswith(".gguf") or base.lower().startswith("mmproj"):
        return None
    stem = _SPLIT.sub("", base[: -len(".gguf")])
    match = _QUANT.search(stem) or _QUANT.fullmatch(path.parent.name)
    return match.group(1).upper() if match else None


def split_part(filename: str) -> tuple[int, int] | None:
    """``(part, count)`` for a ``-0000N-of-0000M.gguf`` name, else None."""
    base = PurePosixPath(filename).name
    if not base.lower().endswith(".gguf"):
        return None
    match = _SPLIT.search(base[: -len(".gguf")])
    return (int(match.group(1)), int(match.group(2))) if match else None


def _set_key(filename: str) -> str:
    """Names of all parts of one split set share this key."""
    path = PurePosixPath(filename)
    stem = _SPLIT.sub("", path.name[: -len(".gguf")])
    return str(path.parent / stem).lower()


def quants_in_files(names: Iterable[str]) -> dict[str, list[list[str]]]:
    """Group GGUF file names by quant: quant → list of file sets (each in part order).

    A split set missing a part is left out. Files whose names carry no quant are ignored.
    """
    sets: dict[tuple[str, str], list[str]] = {}
    for name in names:
        quant = quant_of(name)
        if quant is None:
            continue
        sets.setdefault((quant, _set_key(name)), []).append(name)
    result: dict[str, list[list[str]]] = {}
    for (quant, _), members in sorted(sets.items()):
        singles = [m for m in members if split_part(m) is None]
        parts = sorted((m for m in members if split_part(m) is not None), key=_part_number)
        for single in singles:
            result.setdefault(quant, []).append([single])
        if parts:
            count = split_part(parts[0])
            numbers = [_part_number(p) for p in parts]
            if count is not None and numbers == list(range(1, count[1] + 1)):
                result.setdefault(quant, []).append(parts)
    return result


def _part_number(name: str) -> int:
    part = split_part(name)
    return part[0] if part else 0


def _describe_quants(found: dict[str, list[list[str]]]) -> str:
    if not found:
        return "it has no GGUF files with a quant in their names"
    items = []
    for quant in sorted(found):
        sets = found[quant]
        count = max(len(s) for s in sets)
        items.append(f"{quant} ({count} parts)" if count > 1 else quant)
    return "quants in this repo: " + ", ".join(items)


# --------------------------------------------------------------------------- resolve


def _hub_error(error: BaseException, repo: str, endpoint: str, what: str = "") -> DownloadError:
    """Turn a huggingface_hub / httpx failure into one plain line."""
    status = _status_of(error)
    page = f"{endpoint}/{repo}"
    kind = type(error).__name__
    token_note = " (HF_TOKEN is set, but this account has no access)" if hub_token() else ""
    response = getattr(error, "response", None)
    code = getattr(response, "headers", {}).get("X-Error-Code") if response is not None else None
    if kind == "GatedRepoError" or status == 403 or code == "GatedRepo":
        return DownloadError(
            f"{repo} is gated or private: accept the licence on {page} and set HF_TOKEN "
            f"to a token of that account{token_note}"
        )
    if kind == "RemoteEntryNotFoundError" or kind == "EntryNotFoundError":
        return DownloadError(f"{what or 'file'} not found in {repo} (HTTP 404)")
    if kind == "RevisionNotFoundError":
        return DownloadError(f"{repo}: revision not found (HTTP 404)")
    if kind == "RepositoryNotFoundError" or status in (401, 404):
        if what and status == 404:
            return DownloadError(f"{what} not found in {repo} (HTTP 404)")
        return DownloadError(
            f"{repo}: no such repository on {endpoint} (HTTP {status or 404}); if it is gated or "
            f"private, accept the licence on {page} and set HF_TOKEN{token_note}"
        )
    if status is not None and status >= 500:
        return DownloadError(f"{endpoint} kept failing (HTTP {status}); try again later")
    if status is not None:
        return DownloadError(f"{endpoint} refused the request for {repo} (HTTP {status})")
    reason = str(error).splitlines()[0] if str(error) else kind
    return _Unreachable(
        f"cannot reach {endpoint}: {reason}; check the network connection and HF_ENDPOINT"
    )


def _status_of(error: BaseException) -> int | None:
    response = getattr(error, "response", None)
    code = getattr(response, "status_code", None)
    return code if isinstance(code, int) else None


def _retryable(error: BaseException) -> bool:
    status = _status_of(error)
    if status is not None:
        return status >= 500 or status in (408, 429)
    name = type(error).__name__
    return name in (
        "ConnectError",
        "ConnectTimeout",
        "ReadTimeout",
        "ReadError",
        "RemoteProtocolError",
        "WriteError",
        "PoolTimeout",
        "TimeoutException",
        "NetworkError",
    )


def _sleep_or_cancel(seconds: float, cancel: threading.Event | None) -> None:
    if cancel is None:
        time.sleep(seconds)
    elif cancel.wait(seconds):
        raise DownloadCancelled("download cancelled")


def _model_info(repo: str, endpoint: str, token: str | None, cancel: threading.Event | None) -> Any:
    from huggingface_hub import HfApi

    api = HfApi(endpoint=endpoint, token=token or False, library_name="localctl")
    for attempt in range(len(RETRY_DELAYS_S) + 1):
        try:
            return api.model_info(repo, files_metadata=True, token=token or False)
        except Exception as error:
            if not _retryable(error) or attempt == len(RETRY_DELAYS_S):
                raise _hub_error(error, repo, endpoint) from error
            _sleep_or_cancel(RETRY_DELAYS_S[attempt], cancel)
    raise AssertionError("unreachable")


def _remote_files(info: Any) -> dict[str, RemoteFile]:
    files: dict[str, RemoteFile] = {}
    for sibling in info.siblings or ():
        name = safe_repo_path(sibling.rfilename)
        blob_id = sibling.blob_id
        if not isinstance(blob_id, str) or not _HEX40.fullmatch(blob_id):
            raise DownloadError(
                f"the hub sent a malformed object id for {name!r}: {blob_id!r}; refusing it"
            )
        size = sibling.size
        sha256: str | None = None
        if sibling.lfs is not None:
            sha256 = sibling.lfs.sha256
            size = sibling.lfs.size
            if not isinstance(sha256, str) or not _HEX64.fullmatch(sha256):
                raise DownloadError(
                    f"the hub sent a malformed sha256 for {name!r}: {sha256!r}; refusing it"
                )
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise DownloadError(
                f"the hub sent a malformed size for {name!r}: {size!r}; refusing it"
            )
        files[name] = RemoteFile(path=name, size_bytes=size, sha256=sha256, blob_id=blob_id)
    return files


def _choose_files(
    ref: Ref, repo: str, available: Collection[str], catalog_files: tuple[str, ...]
) -> tuple[list[str], str | None]:
    names = [n for n in available if n.lower().endswith(".gguf")]
    found = quants_in_files(names)
    if catalog_files:
        missing = [f for f in catalog_files if f not in available]
        if missing:
            raise DownloadError(
                f"{missing[0]} is not in {repo} any more; {_describe_quants(found)}"
            )
        return list(catalog_files), ref.quant
    if ref.filename is not None:
        if ref.filename not in available:
            raise DownloadError(
                f"{ref.filename} not found in {repo} (HTTP 404); {_describe_quants(found)}"
            )
        part = split_part(ref.filename)
        if part is None:
            return [ref.filename], quant_of(ref.filename)
        key = _set_key(ref.filename)
        members = sorted(
            (n for n in names if _set_key(n) == key and split_part(n) is not None), key=_part_number
        )
        if [_part_number(m) for m in members] != list(range(1, part[1] + 1)):
            raise DownloadError(
                f"{ref.filename} is part of a split set that is incomplete in {repo}"
            )
        return members, quant_of(ref.filename)
    wanted = (ref.quant or "").upper()
    if not wanted:
        if len(found) == 1:
            wanted = next(iter(found))
        elif DEFAULT_QUANT in found:
            wanted = DEFAULT_QUANT
        else:
            raise BadInputError(f"{repo}: name a quant as {repo}:QUANT; {_describe_quants(found)}")
    sets = found.get(wanted)
    if not sets:
        raise BadInputError(f"no {wanted} files in {repo}; {_describe_quants(found)}")
    if len(sets) > 1:
        options = ", ".join(s[0] for s in sets)
        raise BadInputError(
            f"several {wanted} files in {repo} ({options}); pull one as {repo}/FILE.gguf"
        )
    return sets[0], wanted


def _catalog_entry(ref: Ref) -> tuple[str, tuple[str, ...], tuple[str, ...], str]:
    """(repo, files, sha256s, quant) of a catalog reference."""
    try:
        from localctl.snapshot import load_catalog
    except ModuleNotFoundError:
        raise BadInputError(
            f"{ref.model_id}: the catalog is not installed; pull OWNER/REPO:QUANT instead"
        ) from None

    catalog = load_catalog()
    text = ref.model_id if ref.quant is None else f"{ref.model_id}:{ref.quant}"
    model, quant = catalog.resolve(text or "")
    return check_repo_id(model.repo), tuple(quant.files), tuple(quant.sha256), quant.name


def resolve(ref: str, *, cancel: threading.Event | None = None) -> PullPlan:
    """Resolve ``ref`` against the hub: pinned commit, file list, sizes, sha256s.

    Args:
        ref: ``MODEL[:QUANT]``, ``OWNER/REPO[:QUANT]`` or ``OWNER/REPO/FILE.gguf``.
        cancel: Set it to stop retries early.

    Returns:
        The plan; no file byte has been fetched.

    Raises:
        BadInputError: malformed reference, unknown catalog id, or a quant with no match
            (the message lists the quants that exist).
        DownloadError: hub errors, hostile hub values, no network.
    """
    parsed = parse_ref(ref)
    catalog_files: tuple[str, ...] = ()
    catalog_sha: tuple[str, ...] = ()
    if parsed.repo is None:
        repo, catalog_files, catalog_sha, quant_name = _catalog_entry(parsed)
        for name in catalog_files:
            safe_repo_path(name)
        parsed = Ref(repo=repo, model_id=parsed.model_id, quant=quant_name, filename=None)
    repo = parsed.repo or ""
    endpoint = hub_endpoint()
    info = _model_info(repo, endpoint, hub_token(), cancel)
    commit = info.sha
    if not isinstance(commit, str) or not _HEX40.fullmatch(commit):
        raise DownloadError(
            f"the hub sent a malformed commit id for {repo}: {commit!r}; refusing it"
        )
    available = _remote_files(info)
    chosen, quant = _choose_files(parsed, repo, available, catalog_files)
    files = tuple(available[name] for name in chosen)
    for remote, expected in zip(files, catalog_sha, strict=False):
        if expected and remote.sha256 and expected.lower() != remote.sha256:
            raise DownloadError(
                f"{remote.path} in {repo} no longer matches the catalog's sha256 "
                f"(hub {remote.sha256[:12]}…, catalog {expected[:12]}…); "
                f"pull it as {repo}:{quant} to take the hub's"
            )
    return PullPlan(repo=repo, commit=commit, files=files, endpoint=endpoint, quant=quant)


# --------------------------------------------------------------------------- cache layout


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


def _known_good(blob: Path, etag: str) -> str | None:
    """The sha256 recorded when ``blob`` was last verified, if it has not changed since."""
    try:
        record = json.loads(_verified_marker(etag).read_text(encoding="utf-8"))
        if record.get("stat") == _stat_key(blob) and _HEX64.fullmatch(str(record.get("sha256"))):
            return str(record["sha256"])
    except (OSError, ValueError, AttributeError):
        pass
    return None


def _remember_good(blob: Path, etag: str, sha256: str) -> None:
    marker = _verified_marker(etag)
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        tmp = marker.with_name(f".{marker.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"stat": _stat_key(blob), "sha256": sha256}), encoding="utf-8")
        os.replace(tmp, marker)
    except OSError:
        pass


def _new_hasher(remote: RemoteFile) -> Any:
    hasher = hashlib.sha256() if remote.sha256 else hashlib.sha1()
    if remote.sha256 is None:
        hasher.update(f"blob {remote.size_bytes}\0".encode())
    return hasher


def _link_snapshot(blob: Path, pointer: Path) -> None:
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


def _write_ref(storage: Path, commit: str) -> None:
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


# --------------------------------------------------------------------------- progress


class _Meter:
    """Turns byte counts into throttled :class:`PullProgress` callbacks."""

    def __init__(self, plan: PullPlan, callback: Callable[[PullProgress], None] | None) -> None:
        self.plan = plan
        self.callback = callback
        self.file_index = 0
        self.filename = ""
        self.file_total = 0
        self.base_done = 0
        self.samples: list[tuple[float, int]] = []
        self.transferred = 0
        self.last_emit = 0.0

    def start_file(self, index: int, remote: RemoteFile, base_done: int) -> None:
        self.file_index, self.filename, self.file_total = index, remote.path, remote.size_bytes
        self.base_done = base_done

    def add_transfer(self, count: int) -> None:
        self.transferred += count

    def report(self, done: int, *, phase: str = "download", force: bool = False) -> None:
        if self.callback is None:
            return
        now = time.monotonic()
        if not force and now - self.last_emit < PROGRESS_INTERVAL_S:
            return
        self.last_emit = now
        self.samples.append((now, self.transferred))
        while len(self.samples) > 2 and now - self.samples[0][0] > 3.0:
            self.samples.pop(0)
        first_t, first_n = self.samples[0]
        speed = (self.transferred - first_n) / (now - first_t) if now > first_t else 0.0
        total_done = self.base_done + done
        left = self.plan.total_bytes - total_done
        eta = left / speed if speed > 0 else (0.0 if left <= 0 else None)
        self.callback(
            PullProgress(
                file_index=self.file_index,
                file_count=len(self.plan.files),
                filename=self.filename,
                bytes_done=done,
                bytes_total=self.file_total,
                total_done=total_done,
                total_bytes=self.plan.total_bytes,
                speed_bytes_s=speed,
                eta_s=eta,
                phase=phase,
            )
        )


# --------------------------------------------------------------------------- download


def _headers(url: str) -> dict[str, str]:
    from localctl import __version__

    headers = {"User-Agent": f"localctl/{__version__}", "Accept-Encoding": "identity"}
    return headers | hub_headers(url)


def _file_url(plan: PullPlan, remote: RemoteFile) -> str:
    from urllib.parse import quote

    return f"{plan.endpoint}/{plan.repo}/resolve/{plan.commit}/{quote(remote.path)}"


def _check_headers(response: httpx.Response, plan: PullPlan, remote: RemoteFile) -> None:
    """Refuse a response whose commit or ETag is not what was pinned at the start."""
    first = response.history[0] if response.history else response
    commit = first.headers.get("X-Repo-Commit")
    if commit is not None and commit != plan.commit:
        if not _HEX40.fullmatch(commit):
            raise DownloadError(
                f"the hub sent a malformed X-Repo-Commit for {remote.path}: {commit!r}; refusing it"
            )
        raise DownloadError(
            f"{plan.repo} answered with commit {commit[:12]} instead of the pinned "
            f"{plan.commit[:12]}; run pull again"
        )
    raw = first.headers.get("X-Linked-Etag") or (
        first.headers.get("ETag") if not response.history else None
    )
    if raw is None:
        return
    etag = raw.strip()
    if etag.startswith("W/"):
        etag = etag[2:]
    etag = etag.strip('"')
    if not (_HEX64.fullmatch(etag) or _HEX40.fullmatch(etag)):
        raise DownloadError(
            f"the hub sent an unexpected ETag for {remote.path}: {raw!r}; refusing it"
        )
    if etag != remote.etag:
        raise DownloadError(
            f"the hub's ETag for {remote.path} ({etag[:12]}…) differs from its file list "
            f"({remote.etag[:12]}…); run pull again"
        )


class _HttpStatus(Exception):
    """A non-success HTTP answer while fetching file bytes."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


class _Transfer:
    """One file's bytes: partial file, resume, hashing, retries, verification."""

    def __init__(
        self,
        client: httpx.Client,
        plan: PullPlan,
        remote: RemoteFile,
        blob: Path,
        meter: _Meter,
        cancel: threading.Event | None,
    ) -> None:
        self.client, self.plan, self.remote, self.blob = client, plan, remote, blob
        self.partial = blob.with_name(blob.name + ".incomplete")
        self.meter, self.cancel = meter, cancel
        self.hasher: Any = _new_hasher(remote)
        self.plain: Any = None if remote.sha256 else hashlib.sha256()
        self.got = 0

    def run(self) -> str:
        """Fetch into the partial file, verify, move into place; return the sha256."""
        import httpx

        remote = self.remote
        if self.partial.exists() and self.partial.stat().st_size > remote.size_bytes:
            self.partial.unlink()
        self.partial.touch()
        self._hash_prefix()
        failures = 0
        while (offset := self.partial.stat().st_size) < remote.size_bytes:
            self._check_cancel()
            self.got = 0
            try:
                self._fetch(offset)
                error: BaseException | None = None
            except _HttpStatus as status_error:
                if not _retryable(status_error):
                    raise _hub_error(
                        status_error, self.plan.repo, self.plan.endpoint, remote.path
                    ) from None
                error = status_error
            except httpx.TransportError as transport_error:
                error = transport_error
            if self.got:
                failures = 0
                continue
            failures += 1
            if failures > len(RETRY_DELAYS_S):
                if error is None:
                    raise DownloadError(
                        f"{remote.path}: the hub stopped sending data; run pull again"
                    )
                raise _hub_error(error, self.plan.repo, self.plan.endpoint, remote.path) from None
            _sleep_or_cancel(RETRY_DELAYS_S[failures - 1], self.cancel)
        return self._finish()

    def _check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise DownloadCancelled(
                "download cancelled; the partial file is kept for the next pull"
            )

    def _update(self, block: bytes) -> None:
        self.hasher.update(block)
        if self.plain is not None:
            self.plain.update(block)

    def _hash_prefix(self) -> None:
        done = 0
        if self.partial.stat().st_size:
            self.meter.report(0, phase="verify", force=True)
        with self.partial.open("rb") as handle:
            while block := handle.read(8 << 20):
                self._check_cancel()
                self._update(block)
                done += len(block)
                self.meter.report(done, phase="verify")

    def _fetch(self, offset: int) -> None:
        """One GET from ``offset``, appending to the partial file (``self.got`` counts bytes)."""
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        with self.client.stream(
            "GET", _file_url(self.plan, self.remote), headers=headers
        ) as response:
            if response.status_code >= 400:
                raise _HttpStatus(response)
            _check_headers(response, self.plan, self.remote)
            mode = "ab"
            if offset and response.status_code == 200:
                # The server ignored the Range header: start over, hash included.
                mode, offset = "wb", 0
                self.hasher = _new_hasher(self.remote)
                self.plain = None if self.remote.sha256 else hashlib.sha256()
            elif offset and _range_start(response.headers.get("Content-Range")) != offset:
                raise DownloadError(
                    f"{self.remote.path}: the hub answered a resume request with the wrong "
                    "byte range "
                    f"({response.headers.get('Content-Range')!r}); run pull again"
                )
            limit = self.remote.size_bytes - offset
            with self.partial.open(mode, buffering=0) as handle:
                sink = _Sink(handle.fileno(), self._update)
                try:
                    for chunk in response.iter_raw():
                        self._check_cancel()
                        if self.got + len(chunk) > limit:
                            chunk = chunk[: limit - self.got]
                        sink.add(chunk)
                        self.got += len(chunk)
                        self.meter.add_transfer(len(chunk))
                        self.meter.report(offset + self.got)
                        if self.got >= limit:
                            break
                finally:
                    sink.close()

    def _finish(self) -> str:
        remote = self.remote
        digest = str(self.hasher.hexdigest())
        if digest != remote.etag:
            self.partial.unlink(missing_ok=True)
            kind = "sha256" if remote.sha256 else "git object id"
            raise DownloadError(
                f"{remote.path}: {kind} mismatch (expected {remote.etag[:16]}…, "
                f"got {digest[:16]}…); "
                "the bad bytes were deleted, run pull again"
            )
        os.replace(self.partial, self.blob)
        return digest if remote.sha256 else str(self.plain.hexdigest())


class _Sink:
    """Writes and hashes received chunks on two more threads, each in order.

    The receiving thread only batches chunks; the file is always a prefix of what
    was received, so a killed process leaves a partial file that resumes cleanly.
    Hashing and writing release the GIL, so the three stages overlap.
    """

    BATCH_BYTES = 4 << 20
    DEPTH = 8

    def __init__(self, fd: int, update: Callable[[bytes], None]) -> None:
        self.fd, self.update = fd, update
        self.batch: list[bytes] = []
        self.batch_bytes = 0
        self.error: BaseException | None = None
        self.queues: list[queue.Queue[list[bytes] | None]] = []
        self.threads: list[threading.Thread] = []
        for name, action in (("write", self._write), ("hash", self._hash)):
            lane: queue.Queue[list[bytes] | None] = queue.Queue(maxsize=self.DEPTH)
            thread = threading.Thread(
                target=self._drain, args=(lane, action), name=f"localctl-{name}", daemon=True
            )
            self.queues.append(lane)
            self.threads.append(thread)
            thread.start()

    def _write(self, batch: list[bytes]) -> None:
        _write_all(self.fd, batch)

    def _hash(self, batch: list[bytes]) -> None:
        for chunk in batch:
            self.update(chunk)

    def _drain(
        self, lane: queue.Queue[list[bytes] | None], action: Callable[[list[bytes]], None]
    ) -> None:
        while (batch := lane.get()) is not None:
            if self.error is not None:
                continue
            try:
                action(batch)
            except BaseException as error:
                self.error = error

    def _put(self, item: list[bytes] | None) -> None:
        for lane in self.queues:
            lane.put(item)

    def add(self, chunk: bytes) -> None:
        """Queue ``chunk`` for writing and hashing; raise a write error seen so far."""
        if self.error is not None:
            raise self.error
        self.batch.append(chunk)
        self.batch_bytes += len(chunk)
        if self.batch_bytes >= self.BATCH_BYTES:
            self._put(self.batch)
            self.batch, self.batch_bytes = [], 0

    def close(self) -> None:
        """Write what is left, stop the threads; raise a write error (ENOSPC in plain words)."""
        if self.batch:
            self._put(self.batch)
            self.batch, self.batch_bytes = [], 0
        self._put(None)
        for thread in self.threads:
            thread.join()
        error, self.error = self.error, None
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:
            raise DownloadError(
                "the disk filled up while writing; the partial file is kept, "
                "free some space and run pull again"
            ) from None
        if error is not None:
            raise error


def _write_all(fd: int, chunks: list[bytes]) -> None:
    """``writev`` every byte of ``chunks`` (a short write continues where it stopped)."""
    written = os.writev(fd, chunks)
    total = sum(len(c) for c in chunks)
    if written == total:
        return
    rest = memoryview(b"".join(chunks))[written:]
    while rest:
        rest = rest[os.write(fd, rest) :]


def _range_start(content_range: str | None) -> int | None:
    match = re.fullmatch(r"bytes (\d+)-\d+/(?:\d+|\*)", (content_range or "").strip())
    return int(match.group(1)) if match else None


def _lock(storage: Path, etag: str) -> Any:
    from filelock import FileLock

    path = storage.parent / ".locks" / storage.name / f"{etag}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path), timeout=0)


def _ensure_file(
    client: httpx.Client,
    plan: PullPlan,
    remote: RemoteFile,
    storage: Path,
    meter: _Meter,
    cancel: threading.Event | None,
) -> tuple[Path, str]:
    """Make ``remote`` present and verified in the cache; return (snapshot path, sha256)."""
    from filelock import Timeout

    blob = storage / "blobs" / remote.etag
    pointer = snapshot_path(plan.repo, plan.commit, remote.path, storage.parent)
    blob.parent.mkdir(parents=True, exist_ok=True)
    lock = _lock(storage, remote.etag)
    try:
        lock.acquire()
    except Timeout:
        raise DownloadError(
            f"another process is downloading {remote.path} right now; wait for it to finish"
        ) from None
    try:
        sha = _cached_sha(blob, remote, meter, cancel)
        if sha is None:
            sha = _Transfer(client, plan, remote, blob, meter, cancel).run()
        _remember_good(blob, remote.etag, sha)
        _link_snapshot(blob, pointer)
    finally:
        lock.release()
    meter.report(remote.size_bytes, force=True)
    return pointer, sha


def _cached_sha(
    blob: Path, remote: RemoteFile, meter: _Meter, cancel: threading.Event | None
) -> str | None:
    """sha256 of a good cached blob; None (a bad blob is removed) when it must be fetched."""
    try:
        size = blob.stat().st_size
    except OSError:
        return None
    if size == remote.size_bytes:
        known = _known_good(blob, remote.etag)
        if known is not None:
            return known
        meter.report(0, phase="verify", force=True)
        hasher = _new_hasher(remote)
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


def _free_check(plan: PullPlan, storage: Path) -> int:
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
    free = free_bytes(storage)
    if free < needed + margin:
        raise DownloadError(
            f"not enough disk space in {storage.parent}: {plan.repo} needs "
            f"{human_bytes(needed)} more (+{human_bytes(margin)} margin) but only "
            f"{human_bytes(free)} is free; free some space or point HF_HOME at a larger disk"
        )
    return needed


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
    _free_check(plan, storage)
    timeout = float(os.environ.get("HF_HUB_DOWNLOAD_TIMEOUT") or 10)
    meter = _Meter(plan, progress)
    files: list[Path] = []
    digests: list[str] = []
    with httpx.Client(
        headers=_headers(plan.endpoint),
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
    _write_ref(storage, plan.commit)
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
    ref: str,
    *,
    progress: Callable[[PullProgress], None] | None = None,
    cancel: threading.Event | None = None,
) -> PullResult:
    """Download the GGUF file(s) named by ``ref`` into the HF cache, verified.

    Resolves the file list at a pinned commit, checks disk space for the whole set,
    resumes any partial file, verifies each file's sha256 and links it into the cache's
    snapshot folder. Files already cached with the right hash are not fetched again.

    Args:
        ref: ``MODEL[:QUANT]`` (catalog), ``OWNER/REPO[:QUANT]`` or ``OWNER/REPO/FILE.gguf``.
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
    try:
        plan = resolve(ref, cancel=cancel)
    except _Unreachable:
        cached = _cached_result(ref, started)
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


def _cached_result(ref: str, started: float) -> PullResult | None:
    """The verified files of ``ref`` from the cache alone (``refs/main``), or None."""
    parsed = parse_ref(ref)
    catalog_files: tuple[str, ...] = ()
    if parsed.repo is None:
        repo, catalog_files, _, quant = _catalog_entry(parsed)
        parsed = Ref(repo=repo, model_id=parsed.model_id, quant=quant, filename=None)
    repo = parsed.repo or ""
    storage = repo_cache_dir(repo)
    try:
        commit = (storage / "refs" / "main").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    snapshot = storage / "snapshots" / commit
    if not _HEX40.fullmatch(commit) or not snapshot.is_dir():
        return None
    listing = [p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if p.is_file()]
    try:
        names, _ = _choose_files(parsed, repo, listing, catalog_files)
    except (BadInputError, DownloadError):
        return None
    files: list[Path] = []
    digests: list[str] = []
    size = 0
    for name in names:
        pointer = snapshot / Path(*name.split("/"))
        blob = pointer.resolve()
        etag = blob.name
        if not _HEX64.fullmatch(etag) or not blob.is_file():
            return None
        if _known_good(blob, etag) != etag:
            digest = hashlib.sha256()
            with blob.open("rb") as handle:
                while block := handle.read(8 << 20):
                    digest.update(block)
            if digest.hexdigest() != etag:
                return None
            _remember_good(blob, etag, etag)
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

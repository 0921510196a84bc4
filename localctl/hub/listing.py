"""What a Hugging Face repository holds: every file with its exact size and LFS sha256.

One call, :func:`list_repo`, reads a repository's tree through huggingface_hub
(``HfApi.list_repo_tree(recursive=True, expand=True)``: sizes, LFS sha256 and each
file's last commit), with ``HF_ENDPOINT`` and ``HF_TOKEN`` read now, bounded retries
on 5xx answers and network errors, and every failure turned into one line
(:class:`~localctl.errors.DownloadError`; :class:`HubUnreachable` when the hub could
not be reached at all, so callers can fall back on what they stored).
:func:`quant_sets` groups the GGUF files of a listing by quant, split sets together.
"""

from __future__ import annotations

import contextlib
import datetime
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from catalog.filenames import quants_in_files
from localctl.errors import DownloadError
from localctl.hub import env as hub_env
from localctl.hub.env import hub_endpoint, hub_token
from localctl.hub.errors import (
    DownloadCancelled,
    Unreachable,
    hub_error,
    no_connection,
    retryable,
)
from localctl.hub.refs import check_repo_id, safe_repo_path
from localctl.hub.values import HEX40, checked_size_and_sha256

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

API_TIMEOUT_S = 20.0
"""Longest wait for one answer from the hub's API (huggingface_hub itself never gives up)."""

HubUnreachable = Unreachable
"""The hub could not be reached at all (no network, DNS, refused connection, timeout)."""


class GatedRepoError(DownloadError):
    """The repository is gated (or private) and the token in use has no access to it."""


def gated_message(repo: str) -> str:
    """What to do about a gated repository, in one line."""
    page = f"{hub_endpoint()}/{repo}"
    if hub_token():
        return (
            f"{repo} is gated and HF_TOKEN has no access to it yet: accept the licence on "
            f"{page} with the account of that token"
        )
    return f"{repo} is gated: accept the licence on {page}, then set HF_TOKEN"


def _is_gated(error: BaseException) -> bool:
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None) or {}
    return (
        type(error).__name__ == "GatedRepoError"
        or headers.get("X-Error-Code") == "GatedRepo"
        or getattr(response, "status_code", None) == 403
    )


@dataclass(frozen=True, slots=True)
class ListedFile:
    """One file of a repository as the hub lists it."""

    path: str
    """Relative POSIX path inside the repository."""
    size_bytes: int
    sha256: str | None
    """LFS sha256 (64 hex); None for a file stored in git itself."""
    last_commit_date: str = ""
    """ISO date of the last commit that touched the file (empty when not given)."""


@dataclass(frozen=True, slots=True)
class RepoListing:
    """Every file of a repository at one revision, and when it was read."""

    repo: str
    files: tuple[ListedFile, ...]
    checked_at: str
    """UTC time of the listing, ISO 8601 (``2026-12-01T08:00:00Z``)."""
    endpoint: str
    revision: str = "main"
    commit: str = ""
    """Commit sha the listing was read at."""
    last_modified: str = ""
    """ISO time of the repository's last commit (empty when the hub did not say)."""

    def file(self, path: str) -> ListedFile | None:
        """The listed file at ``path``, or None."""
        return next((f for f in self.files if f.path == path), None)


@dataclass(frozen=True, slots=True)
class QuantSet:
    """The file(s) of one quant in a repository: one file or every part of a split set."""

    quant: str
    files: tuple[ListedFile, ...]
    ref: str
    """The pull reference for exactly these files (``OWNER/REPO:QUANT`` when the quant has
    one set, ``OWNER/REPO/FILE.gguf`` when it has several)."""

    @property
    def size_bytes(self) -> int:
        """Total size of all files."""
        return sum(f.size_bytes for f in self.files)

    @property
    def parts(self) -> int:
        """Number of files (split parts)."""
        return len(self.files)


def utc_now() -> str:
    """Now in UTC as ``YYYY-MM-DDTHH:MM:SSZ``."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class NoConnection(Exception):
    """The hub's host refused the connection or could not be resolved.

    Raised instead of httpx's ``ConnectError`` inside :func:`no_backoff`, so
    huggingface_hub's own retry loop (five tries over about 23 s) does not hold an
    offline search; it reads as "cannot reach" like any network failure.
    """


_no_backoff = threading.local()


@contextlib.contextmanager
def no_backoff() -> Iterator[None]:
    """Within it, a refused or unresolvable connection fails at once (this thread only)."""
    _no_backoff.on = True
    try:
        yield
    finally:
        _no_backoff.on = False


_client_lock = threading.Lock()
_client_installed = False


def _bounded_client() -> Any:
    """huggingface_hub's own client whose every request times out after
    :data:`API_TIMEOUT_S` (huggingface_hub passes ``timeout=None``: wait forever)."""
    import httpx2
    from huggingface_hub.utils._http import hf_request_event_hook

    class BoundedTransport(httpx2.HTTPTransport):
        def handle_request(self, request: httpx2.Request) -> httpx2.Response:
            request.extensions["timeout"] = httpx2.Timeout(API_TIMEOUT_S).as_dict()
            try:
                return super().handle_request(request)
            except httpx2.ConnectError as error:
                if getattr(_no_backoff, "on", False):
                    raise NoConnection(str(error) or "connection failed") from error
                raise

    return httpx2.Client(
        transport=BoundedTransport(),
        event_hooks={"request": [hf_request_event_hook]},
        follow_redirects=True,
    )


def hub_api(token: str | None) -> Any:
    """An ``HfApi`` for the endpoint and token in the environment now, its calls bounded
    by :data:`API_TIMEOUT_S`."""
    global _client_installed
    from huggingface_hub import HfApi, set_client_factory

    with _client_lock:
        if not _client_installed:
            set_client_factory(_bounded_client)
            _client_installed = True
    return HfApi(endpoint=hub_endpoint(), token=token or False, library_name="localctl")


def with_retries(
    call: Callable[[], Any],
    repo: str,
    cancel: threading.Event | None = None,
    *,
    retry: bool = True,
) -> Any:
    """Run ``call``; retry 5xx answers and network errors with bounded backoff.

    Args:
        call: The hub request.
        repo: Named in error messages.
        cancel: Set it to stop waiting between attempts.
        retry: False for calls huggingface_hub already retries itself (listings that page).

    Raises:
        DownloadError: the final failure in one line (:data:`HubUnreachable` when the hub
            could not be reached, :class:`GatedRepoError` for a gated repository).
    """
    endpoint = hub_endpoint()
    delays = hub_env.RETRY_DELAYS_S if retry else ()
    for attempt in range(len(delays) + 1):
        try:
            return call()
        except Exception as error:
            if _is_gated(error):
                raise GatedRepoError(gated_message(repo)) from None
            if not retryable(error) or no_connection(error) or attempt == len(delays):
                raise hub_error(error, repo, endpoint) from None
            if cancel is not None:
                if cancel.wait(delays[attempt]):
                    raise DownloadCancelled("cancelled") from None
            else:
                time.sleep(delays[attempt])
    raise AssertionError("unreachable")


def _listed(entry: Any) -> ListedFile:
    """Check one ``RepoFile`` from the hub and keep what localctl uses."""
    name = safe_repo_path(entry.path)
    size, sha256 = checked_size_and_sha256(name, entry.size, entry.lfs)
    date = ""
    commit = entry.last_commit
    if commit is not None and isinstance(commit.date, datetime.datetime):
        date = _iso(commit.date)
    return ListedFile(path=name, size_bytes=size, sha256=sha256, last_commit_date=date)


def list_repo(
    repo: str,
    *,
    expand: bool = True,
    revision: str = "main",
    cancel: threading.Event | None = None,
) -> RepoListing:
    """Every file of ``repo`` with exact sizes and LFS sha256, pinned to one commit.

    Two requests: the repository's head commit (``model_info``), then its tree at that
    commit (``list_repo_tree(recursive=True, expand=expand)``), so every size belongs
    to the same revision.

    Args:
        repo: ``owner/name``.
        expand: Also read each file's last commit (the hub then pages by 50 entries).
        revision: Branch, tag or commit.
        cancel: Set it to stop retries early.

    Returns:
        The listing, dated now.

    Raises:
        BadInputError: ``repo`` is not an ``owner/name`` id.
        DownloadError: not found, gated, server errors, hostile values; ``HubUnreachable``
            when the hub cannot be reached.
    """
    from huggingface_hub.hf_api import RepoFile

    check_repo_id(repo)
    api = hub_api(hub_token())
    info = with_retries(
        lambda: api.model_info(repo, revision=revision, expand=["sha", "lastModified"]),
        repo,
        cancel,
    )
    commit = info.sha
    if not isinstance(commit, str) or not HEX40.fullmatch(commit):
        raise DownloadError(
            f"the hub sent a malformed commit id for {repo}: {commit!r}; refusing it"
        )

    def fetch() -> list[Any]:
        with no_backoff():
            tree = api.list_repo_tree(repo, recursive=True, expand=expand, revision=commit)
            return [entry for entry in tree if isinstance(entry, RepoFile)]

    entries = with_retries(fetch, repo, cancel, retry=False)
    files = tuple(sorted((_listed(e) for e in entries), key=lambda f: f.path))
    modified = info.last_modified
    return RepoListing(
        repo=repo,
        files=files,
        checked_at=utc_now(),
        endpoint=hub_endpoint(),
        revision=revision,
        commit=commit,
        last_modified=_iso(modified) if isinstance(modified, datetime.datetime) else "",
    )


def _iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def quant_sets(repo: str, files: Iterable[ListedFile]) -> list[QuantSet]:
    """The GGUF files of a listing grouped by quant (split sets whole, in part order).

    A quant with several sets (e.g. the same quant in two folders) gives one
    :class:`QuantSet` per set, each with a file reference so it can be pulled alone.
    """
    by_path = {f.path: f for f in files}
    result: list[QuantSet] = []
    for quant, sets in quants_in_files(by_path).items():
        for names in sets:
            ref = f"{repo}:{quant}" if len(sets) == 1 else f"{repo}/{names[0]}"
            result.append(QuantSet(quant=quant, files=tuple(by_path[n] for n in names), ref=ref))
    return sorted(result, key=lambda q: (q.size_bytes, q.ref))

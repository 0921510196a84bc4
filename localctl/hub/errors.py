"""Hub failures in plain words: status codes and exceptions to one-line errors, retry rules."""

from __future__ import annotations

import socket
import threading
import time
from typing import TYPE_CHECKING

from localctl.errors import DownloadError
from localctl.hub.env import hub_token

if TYPE_CHECKING:
    pass


class DownloadCancelled(DownloadError):
    """The download was cancelled; the partial file is kept and the next pull resumes it."""


class Unreachable(DownloadError):
    """The hub could not be reached at all (the cache may still answer)."""


def hub_error(error: BaseException, repo: str, endpoint: str, what: str = "") -> DownloadError:
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
    return Unreachable(
        f"cannot reach {endpoint}: {reason}; check the network connection and HF_ENDPOINT"
    )


def _status_of(error: BaseException) -> int | None:
    response = getattr(error, "response", None)
    code = getattr(response, "status_code", None)
    return code if isinstance(code, int) else None


def retryable(error: BaseException) -> bool:
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


def no_connection(error: BaseException) -> bool:
    """True when the hub's host name could not be resolved or the connection was refused.

    Offline, waiting does not bring the network back: a request that fails like this
    fails at once instead of being retried with backoff (a pull used to spend ~9 s in
    silent retries before saying the hub was unreachable).
    """
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, socket.gaierror | ConnectionRefusedError):
            return True
        if type(cause).__name__ == "NoConnection":
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def sleep_or_cancel(seconds: float, cancel: threading.Event | None) -> None:
    if cancel is None:
        time.sleep(seconds)
    elif cancel.wait(seconds):
        raise DownloadCancelled("download cancelled")

"""The byte mover: ranged GETs into a partial blob, hashed while written, resumed, verified."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import queue
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localctl.auth import hub_headers
from localctl.errors import DownloadError
from localctl.hub import env
from localctl.hub.cache import new_hasher
from localctl.hub.env import PROGRESS_INTERVAL_S
from localctl.hub.errors import DownloadCancelled, hub_error, retryable, sleep_or_cancel
from localctl.hub.values import HEX40, HEX64, PullPlan, PullProgress, RemoteFile

if TYPE_CHECKING:
    import httpx


class Meter:
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


def request_headers(url: str) -> dict[str, str]:
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
        if not HEX40.fullmatch(commit):
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
    if not (HEX64.fullmatch(etag) or HEX40.fullmatch(etag)):
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


class Transfer:
    """One file's bytes: partial file, resume, hashing, retries, verification."""

    def __init__(
        self,
        client: httpx.Client,
        plan: PullPlan,
        remote: RemoteFile,
        blob: Path,
        meter: Meter,
        cancel: threading.Event | None,
    ) -> None:
        self.client, self.plan, self.remote, self.blob = client, plan, remote, blob
        self.partial = blob.with_name(blob.name + ".incomplete")
        self.meter, self.cancel = meter, cancel
        self.hasher: Any = new_hasher(remote)
        self.plain: Any = None if remote.sha256 else hashlib.sha256()
        self.got = 0

    def run(self) -> str:
        """Fetch into the partial file, verify, move into place; return the sha256.

        A download refused before its first byte leaves no empty partial file behind.
        """
        try:
            return self._run()
        except BaseException:
            with contextlib.suppress(OSError):
                if self.partial.stat().st_size == 0:
                    self.partial.unlink()
            raise

    def _run(self) -> str:
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
                if not retryable(status_error):
                    raise hub_error(
                        status_error, self.plan.repo, self.plan.endpoint, remote.path
                    ) from None
                error = status_error
            except httpx.TransportError as transport_error:
                error = transport_error
            if self.got:
                failures = 0
                continue
            failures += 1
            if failures > len(env.RETRY_DELAYS_S):
                if error is None:
                    raise DownloadError(
                        f"{remote.path}: the hub stopped sending data; run pull again"
                    )
                raise hub_error(error, self.plan.repo, self.plan.endpoint, remote.path) from None
            sleep_or_cancel(env.RETRY_DELAYS_S[failures - 1], self.cancel)
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
                self.hasher = new_hasher(self.remote)
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

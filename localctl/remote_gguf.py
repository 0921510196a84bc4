"""Read a GGUF header over HTTP without downloading the file.

The first bytes of the file are fetched with ``Range`` requests, growing the
window (2 MiB, 4 MiB, … up to :data:`MAX_HEADER_BYTES`) until the parser in
:mod:`catalog.gguf` has what it needs. A server that ignores ``Range`` is read
as a stream and closed as soon as the header is in. Redirects are followed
(Hugging Face sends files from a CDN). The Hugging Face token goes only to the hub
it belongs to (see :mod:`localctl.auth`), and httpx drops it on a redirect to
another host.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from catalog.filenames import split_part, split_part_name
from catalog.gguf import GgufInfo, GgufSet, parse_gguf
from localctl.auth import hub_headers
from localctl.errors import DownloadError, GgufError

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    import httpx

MAX_HEADER_BYTES = 64 << 20
"""The most bytes fetched for one header (Llama 3's 128k vocabulary needs ~9 MB)."""
FIRST_WINDOW = 2 << 20
TIMEOUT_S = 30.0

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


class HttpRangeSource:
    """A :class:`catalog.gguf.ByteSource` over the start of a remote file."""

    def __init__(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        *,
        client: httpx.Client | None = None,
        max_bytes: int = MAX_HEADER_BYTES,
    ) -> None:
        """Prepare to read ``url``; nothing is fetched until the first read.

        Args:
            url: the file's URL.
            headers: extra request headers (an ``Authorization`` here wins over the
                hub token, which is added only when ``url`` is on the hub).
            client: an httpx client to reuse; one is made (and closed by :meth:`close`) if None.
            max_bytes: the most bytes this source will fetch.
        """
        import httpx

        self.url = url
        self.max_bytes = max_bytes
        # Identity: a compressed body could inflate far beyond what was asked for.
        self.headers = {"Accept-Encoding": "identity", **(headers or {})}
        if not any(k.lower() == "authorization" for k in self.headers):
            self.headers.update(hub_headers(url))
        self._own_client = client is None
        self._client = client or httpx.Client(follow_redirects=True, timeout=TIMEOUT_S)
        self._buf = bytearray()
        self._size: int | None = None
        self._known_size = False
        self._stream: Iterator[bytes] | None = None
        self._response: httpx.Response | None = None
        self.requests = 0
        self.hit_cap = False

    def size_bytes(self) -> int | None:
        """Total size of the remote file (known after the first request)."""
        if not self._known_size:
            self._grow(FIRST_WINDOW)
        return self._size

    def read_at(self, offset: int, size: int) -> bytes:
        """Bytes of the remote file; fetches more of its start when needed."""
        end = offset + size
        if self._size is not None:
            end = min(end, self._size)
        if end > self.max_bytes:
            self.hit_cap = True
            end = self.max_bytes
        if end > len(self._buf):
            self._grow(max(end, 2 * len(self._buf), FIRST_WINDOW))
        return bytes(self._buf[offset:end])

    def _grow(self, want: int) -> None:
        want = min(want, self.max_bytes)
        if self._size is not None:
            want = min(want, self._size)
        if want <= len(self._buf) and self._known_size:
            return
        if self._stream is not None:
            self._pull_stream(want)
            return
        self._fetch_range(len(self._buf), want)

    def _fetch_range(self, start: int, end: int) -> None:
        import httpx

        headers = {**self.headers, "Range": f"bytes={start}-{max(start, end - 1)}"}
        self.requests += 1
        try:
            request = self._client.build_request("GET", self.url, headers=headers)
            response = self._client.send(request, stream=True)
        except httpx.HTTPError as error:
            raise DownloadError(f"cannot fetch {self.url}: {error}") from None
        _check_status(response, self.url)
        if response.status_code == 206:
            match = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
            if match is None or int(match.group(1)) != start:
                response.close()
                raise DownloadError(f"{self.url}: server sent a range that was not asked for")
            if match.group(3) != "*":
                self._size = int(match.group(3))
            self._known_size = True
            self._buf += _read_at_most(response, max(0, end - start), self.url)
            return
        # 200: the server ignores Range; read the body as a stream, only as far as needed.
        length = response.headers.get("content-length")
        self._size = int(length) if length and length.isdigit() else None
        self._known_size = True
        if start:
            response.close()
            raise DownloadError(f"{self.url}: server stopped honouring Range requests")
        self._response = response
        self._stream = response.iter_bytes(1 << 16)
        self._pull_stream(end)

    def _pull_stream(self, want: int) -> None:
        assert self._stream is not None
        import httpx

        try:
            while len(self._buf) < want:
                chunk = next(self._stream, b"")
                if not chunk:
                    break
                self._buf += chunk
        except httpx.HTTPError as error:
            raise DownloadError(f"cannot fetch {self.url}: {error}") from None

    def close(self) -> None:
        """Close the open response (if any) and the client this source made."""
        if self._response is not None:
            self._response.close()
        if self._own_client:
            self._client.close()

    def __enter__(self) -> HttpRangeSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read_at_most(response: httpx.Response, limit: int, url: str) -> bytes:
    """Up to ``limit`` bytes of ``response``'s body, streamed; the rest is never read.

    A server may answer a range request with far more than was asked for (or a body
    without end); only what was asked for is held in memory.
    """
    import httpx

    body = bytearray()
    try:
        for chunk in response.iter_bytes(1 << 16):
            body += chunk[: limit - len(body)]
            if len(body) >= limit:
                break
    except httpx.HTTPError as error:
        raise DownloadError(f"cannot fetch {url}: {error}") from None
    finally:
        response.close()
    return bytes(body)


def _check_status(response: Any, url: str) -> None:
    status = response.status_code
    if status in (200, 206):
        return
    response.close()
    if status in (401, 403):
        raise DownloadError(
            f"{url}: access denied ({status}); the repo may be gated - set HF_TOKEN"
        )
    if status == 404:
        raise DownloadError(f"{url}: not found (404)")
    if status == 416:
        raise GgufError(f"{url}: the file is shorter than a GGUF header")
    raise DownloadError(f"{url}: HTTP {status}")


def read_remote_gguf(
    url: str,
    headers: Mapping[str, str] | None = None,
    *,
    max_bytes: int = MAX_HEADER_BYTES,
    client: httpx.Client | None = None,
    need_arch: bool = True,
) -> GgufInfo:
    """Read the header of a remote GGUF file with HTTP range requests.

    Args:
        url: the file's URL (for Hugging Face, ``…/resolve/<revision>/<path>``).
        headers: extra request headers.
        max_bytes: the most bytes to fetch before giving up.
        client: an httpx client to reuse.
        need_arch: see :func:`catalog.gguf.parse_gguf`.

    Returns:
        The same :class:`~catalog.gguf.GgufInfo` as a local read.

    Raises:
        GgufError: the bytes are not a well-formed GGUF header, or it is larger than ``max_bytes``.
        DownloadError: the server could not be reached or refused the request.
    """
    with HttpRangeSource(url, headers, client=client, max_bytes=max_bytes) as source:
        try:
            return parse_gguf(source, need_arch=need_arch)
        except GgufError as error:
            if source.hit_cap:
                raise GgufError(
                    f"{url}: GGUF header is larger than {max_bytes >> 20} MiB; not reading further"
                ) from None
            raise GgufError(f"{url}: {error}") from None


def read_remote_gguf_set(url: str, headers: Mapping[str, str] | None = None) -> GgufSet:
    """Read the headers of a remote model, every part of a ``-00001-of-0000N`` split set.

    Raises:
        GgufError: a header is malformed.
        DownloadError: a part could not be fetched.
    """
    import httpx

    with httpx.Client(follow_redirects=True, timeout=TIMEOUT_S) as client:
        first = read_remote_gguf(url, headers, client=client)
        bare = url.split("?", 1)[0]
        split = split_part(bare)
        if first.split_count <= 1 or split is None or split[0] != 1:
            return GgufSet(first, (first,))
        count = split[1]
        if count != first.split_count:
            raise GgufError(f"{url}: file name says {count} parts, header says {first.split_count}")
        parts = [first]
        for index in range(2, count + 1):
            part_url = split_part_name(bare, index)
            parts.append(read_remote_gguf(part_url, headers, client=client, need_arch=False))
        return GgufSet(first, tuple(parts))

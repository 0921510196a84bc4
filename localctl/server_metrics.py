"""The native server's own figures: ``/metrics`` (Prometheus text) and ``/slots``.

localctl starts llama-server with ``--metrics --slots``; :func:`read_server_metrics` reads
both into one :class:`ServerMetrics` for the meters: how full the KV cache is, requests
running and waiting, and how many prompt tokens came from the cache. Another server (or a
native one started without those flags) gives None. A meter that reads them every second
keeps one :class:`ServerMetricsReader`, whose connection lives across readings.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from localctl.auth import bearer_headers
from localctl.endpoint import base_url

if TYPE_CHECKING:
    import httpx

TIMEOUT_S = 2.0
"""A meter must not wait longer than this for the server."""


@dataclass(frozen=True, slots=True)
class ServerMetrics:
    """One reading of llama-server's ``/metrics`` and ``/slots``."""

    kv_used_tokens: int
    """Tokens held in the KV cache, over all slots."""
    n_ctx: int
    """KV cache cells over all slots."""
    slots: int
    requests_processing: int
    requests_deferred: int
    """Requests waiting for a free slot."""
    prompt_tokens_total: int
    """Prompt tokens the server has computed."""
    prompt_tokens_cached_total: int
    """Prompt tokens it reused from the cache instead."""
    draft_tokens_total: int = 0
    draft_accepted_total: int = 0

    @property
    def kv_used_fraction(self) -> float:
        """Share of the KV cache in use, 0..1."""
        return min(1.0, self.kv_used_tokens / self.n_ctx) if self.n_ctx else 0.0

    @property
    def cache_hit_fraction(self) -> float:
        """Share of all prompt tokens that came from the cache."""
        total = self.prompt_tokens_total + self.prompt_tokens_cached_total
        return self.prompt_tokens_cached_total / total if total else 0.0


def parse_prometheus(text: str) -> dict[str, float]:
    """``name value`` lines of Prometheus text (labels and comments skipped; ``llamacpp:``
    prefix dropped)."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#") or "{" in line:
            continue
        name, _, value = line.partition(" ")
        try:
            number = float(value.strip())
        except ValueError:
            continue
        if math.isfinite(number):
            values[name.removeprefix("llamacpp:")] = number
    return values


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def read_server_metrics(
    url: str, api_key: str | None, client: httpx.Client | None = None
) -> ServerMetrics | None:
    """Read ``/metrics`` and ``/slots`` of the server at ``url`` (blocking, bounded).

    Args:
        url: Server base URL, with or without ``/v1``.
        api_key: Bearer key, if the server wants one.
        client: An httpx client to reuse; by default one is made for this reading.

    Returns:
        The figures, or None when the server does not offer both.
    """
    import httpx

    if client is None:
        with httpx.Client(timeout=TIMEOUT_S) as http:
            return read_server_metrics(url, api_key, http)
    base = base_url(url)
    headers = bearer_headers(api_key)
    try:
        metrics = client.get(base + "/metrics", headers=headers, timeout=TIMEOUT_S)
        slots = client.get(base + "/slots", headers=headers, timeout=TIMEOUT_S)
        if metrics.status_code != 200 or slots.status_code != 200:
            return None
        values = parse_prometheus(metrics.text[: 1 << 20])
        slot_list = slots.json()
    except (httpx.HTTPError, ValueError):
        return None
    if not isinstance(slot_list, list):
        return None
    used = n_ctx = 0
    for slot in slot_list:
        if not isinstance(slot, dict):
            continue
        n_ctx += _int(slot.get("n_ctx"))
        used += _int(slot.get("n_prompt_tokens"))
        steps = slot.get("next_token")
        if isinstance(steps, list) and steps and isinstance(steps[0], dict):
            used += _int(steps[0].get("n_decoded"))
    return ServerMetrics(
        kv_used_tokens=min(used, n_ctx) if n_ctx else used,
        n_ctx=n_ctx,
        slots=len(slot_list),
        requests_processing=int(values.get("requests_processing", 0)),
        requests_deferred=int(values.get("requests_deferred", 0)),
        prompt_tokens_total=int(values.get("prompt_tokens_total", 0)),
        prompt_tokens_cached_total=int(values.get("prompt_tokens_cached_total", 0)),
        draft_tokens_total=int(values.get("spec_decode_num_draft_tokens_total", 0)),
        draft_accepted_total=int(values.get("spec_decode_num_accepted_tokens_total", 0)),
    )


class ServerMetricsReader:
    """Reads server figures again and again over one HTTP client (safe from any thread).

    A new client per reading costs some 50 ms of CPU (it loads the certificate store) and
    a new connection; a meter reading every second would take that from the model it shows.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None

    def read(self, url: str, api_key: str | None) -> ServerMetrics | None:
        """:func:`read_server_metrics` of ``url`` over the kept client."""
        import httpx

        with self._lock:
            if self._client is None:
                self._client = httpx.Client(timeout=TIMEOUT_S)
            return read_server_metrics(url, api_key, self._client)

    def close(self) -> None:
        """Close the client (a later :meth:`read` opens a new one)."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

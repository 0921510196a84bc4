"""Which bearer token goes with which request: decided here, once.

Two secrets travel as ``Authorization: Bearer …``: the key of a model server, sent
only to that server, and the Hugging Face token, sent only to the hub it belongs
to. The hub is the configured ``HF_ENDPOINT`` (exactly its scheme, host and port,
so a mirror on ``http://127.0.0.1:…`` works) or ``https://huggingface.co``. Any
other URL, and plain ``http`` to huggingface.co, gets no token: a link to a GGUF
file on some host must not hand that host the user's token. httpx drops the header
itself when a redirect leaves the origin (the hub's CDN).
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit


def bearer_headers(token: str | None) -> dict[str, str]:
    """``{"Authorization": "Bearer <token>"}``, or no header without a token."""
    return {"Authorization": f"Bearer {token}"} if token else {}


def _origin(url: str) -> tuple[str, str, int | None] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in ("http", "https") or not host:
        return None
    return scheme, host, port or (443 if scheme == "https" else 80)


def token_belongs_to(url: str, endpoint: str | None = None) -> bool:
    """True when the Hugging Face token may be sent to ``url``.

    Args:
        url: Where the request goes.
        endpoint: The configured hub (``HF_ENDPOINT`` when None).

    Returns:
        True for the configured endpoint's origin, and for https://huggingface.co.
    """
    target = _origin(url)
    if target is None:
        return False
    from localctl.hub import DEFAULT_ENDPOINT

    configured = endpoint if endpoint is not None else os.environ.get("HF_ENDPOINT", "")
    allowed = {_origin(DEFAULT_ENDPOINT), _origin(configured.strip()) if configured else None}
    return target in allowed


def hub_headers(url: str) -> dict[str, str]:
    """The bearer header for ``url``: the Hugging Face token when it belongs there, else none."""
    if not token_belongs_to(url):
        return {}
    from localctl.hub import hub_token

    return bearer_headers(hub_token())

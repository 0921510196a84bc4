"""A server's address as HTTP sees it: the base URL, without ``/v1``.

The bearer header for a server's key or the hub's token is decided in :mod:`localctl.auth`.
"""

from __future__ import annotations


def base_url(url: str) -> str:
    """``http://host:port`` from a URL with or without a trailing ``/`` or ``/v1``."""
    return url.rstrip("/").removesuffix("/v1").rstrip("/")

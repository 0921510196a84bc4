"""A server's address as HTTP sees it: the base URL, without ``/v1``.

The bearer header for a server's key or the hub's token is decided in :mod:`localctl.auth`.
"""

from __future__ import annotations


def base_url(url: str) -> str:
    """``http://host:port`` from a URL with or without a trailing ``/`` or ``/v1``."""
    return url.rstrip("/").removesuffix("/v1").rstrip("/")


def check_url(url: str) -> str:
    """``url`` as a server base URL (no ``/v1``), once it is one a request can use.

    Raises:
        BadInputError: no ``http://``/``https://`` scheme, no host, or a port outside
            1-65535; the message says which and shows the expected form.
    """
    from urllib.parse import urlsplit

    from localctl.errors import BadInputError

    example = "e.g. http://127.0.0.1:8080"
    shown = url if len(url) <= 80 else url[:77] + "..."
    text = url.strip()
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not text.lower().startswith(scheme + "://"):
        guess = f"http://{text}" if text and "://" not in text else ""
        hint = f"did you mean {guess}?" if guess else example
        raise BadInputError(f"{shown!r} is not a server URL: it needs http:// or https:// ({hint})")
    try:
        port = parts.port
    except ValueError:
        raise BadInputError(f"{shown!r} has a port outside 1-65535 ({example})") from None
    if not parts.hostname:
        raise BadInputError(f"{shown!r} has no host ({example})")
    if port == 0:
        raise BadInputError(f"{shown!r} has a port outside 1-65535 ({example})")
    return base_url(text)

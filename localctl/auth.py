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


API_KEY_ENV = "LOCALCTL_API_KEY"
"""Environment variable holding an API key (kept out of ``ps``, unlike ``--api-key``)."""
_KEY_FILE_MAX_BYTES = 4096


def api_key_from(value: str | None, file: str | None) -> str | None:
    """The API key given on the command line, in a file, or in ``LOCALCTL_API_KEY``.

    ``--api-key`` shows the key to every user of the machine through the process list;
    ``--api-key-file`` (a file, or ``-`` for stdin) and the environment do not.

    Args:
        value: ``--api-key``.
        file: ``--api-key-file``.

    Returns:
        The key, or None when none was given.

    Raises:
        BadInputError: both flags given, or the file is unreadable, empty or not one line.
    """
    import sys
    from pathlib import Path

    from localctl.errors import BadInputError

    if value is not None and file is not None:
        raise BadInputError("give --api-key or --api-key-file, not both")
    if file is not None:
        try:
            if file == "-":
                text = sys.stdin.read(_KEY_FILE_MAX_BYTES + 1)
            else:
                with Path(file).expanduser().open(encoding="utf-8") as handle:
                    text = handle.read(_KEY_FILE_MAX_BYTES + 1)
        except (OSError, UnicodeDecodeError) as error:
            raise BadInputError(f"cannot read the API key file {file}: {error}") from None
        key = text.strip()
        if not key or len(text) > _KEY_FILE_MAX_BYTES or "\n" in key or not key.isprintable():
            raise BadInputError(f"the API key file {file} must hold one line with the key")
        return key
    if value is not None:
        if not value.strip():
            raise BadInputError("--api-key is empty")
        return value
    return os.environ.get(API_KEY_ENV, "").strip() or None

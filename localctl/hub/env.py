"""Where the Hugging Face cache, endpoint and token are, read from the environment at each call."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass


DEFAULT_ENDPOINT = "https://huggingface.co"

RETRY_DELAYS_S: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
"""Pauses between attempts after a 5xx answer or a network error (bounded backoff)."""

STALL_RETRIES = 5
"""Consecutive dropped connections without a new byte before a download gives up."""

PROGRESS_INTERVAL_S = 0.1
"""Least time between two progress callbacks (file start and end always report)."""

CHUNK_BYTES = 1 << 20


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

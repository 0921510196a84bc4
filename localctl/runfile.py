"""Run files: one 0600 JSON file per server localctl started, so chat finds its key.

A run file lives in ``paths.servers_dir()`` as ``<port>.json`` with the keys
``url``, ``api_key``, ``pid``, ``model``, ``backend`` and ``started_at``.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from localctl import paths
from localctl.config import atomic_write


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What a running server's run file records."""

    url: str
    """Base URL without ``/v1``, e.g. ``http://127.0.0.1:8080``."""
    api_key: str
    pid: int
    model: str
    backend: str
    started_at: float


def _normalise(url: str) -> str:
    url = url.rstrip("/")
    if url.endswith("/v1"):
        url = url[: -len("/v1")]
    return url.replace("://localhost:", "://127.0.0.1:")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_run_file(info: RunInfo) -> Path:
    """Record a started server; the file is mode 0600. Returns its path."""
    port = _normalise(info.url).rsplit(":", 1)[-1]
    path = paths.ensure_private_dir(paths.servers_dir()) / f"{port}.json"
    atomic_write(path, json.dumps(asdict(info)).encode("utf-8"))
    return path


def remove_run_file(url: str) -> None:
    """Forget the server at ``url`` (no error if there is no run file)."""
    port = _normalise(url).rsplit(":", 1)[-1]
    (paths.servers_dir() / f"{port}.json").unlink(missing_ok=True)


def live_servers() -> list[RunInfo]:
    """Servers localctl started that are still running; stale run files are removed."""
    found: list[RunInfo] = []
    folder = paths.servers_dir()
    if not folder.is_dir():
        return found
    for path in sorted(folder.glob("*.json")):
        try:
            info = RunInfo(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            continue
        if _pid_alive(info.pid):
            found.append(info)
        else:
            with contextlib.suppress(OSError):
                path.unlink()
    return found


def find_api_key(url: str) -> str | None:
    """The API key of the localctl-started server at ``url``, if there is one."""
    wanted = _normalise(url)
    for info in live_servers():
        if _normalise(info.url) == wanted:
            return info.api_key
    return None

"""Run files: one 0600 JSON file per server localctl started, so chat finds its key.

A run file lives in ``paths.servers_dir()`` as ``<port>.json`` with the keys
``url``, ``api_key``, ``pid``, ``model``, ``backend``, ``started_at`` and ``n_ctx`` (the
context per sequence; 0 when unknown, and absent from files of earlier versions).
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from localctl import paths
from localctl.config import atomic_write
from localctl.endpoint import base_url


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
    n_ctx: int = 0
    """Context per sequence the server was started with (0: unknown)."""


def _normalise(url: str) -> str:
    return base_url(url).replace("://localhost:", "://127.0.0.1:")


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


def remove_run_file(url: str, pid: int | None = None) -> None:
    """Forget the server at ``url`` once it has stopped (no error if there is no run file).

    The file is removed only when the process it records is ``pid`` or no longer runs:
    a second ``serve`` that lost the race for a port must not delete the winner's file.
    """
    port = _normalise(url).rsplit(":", 1)[-1]
    path = paths.servers_dir() / f"{port}.json"
    info = _read(path)
    if info is None or info.pid == pid or not _pid_alive(info.pid):
        path.unlink(missing_ok=True)


def _read(path: Path) -> RunInfo | None:
    """The run file at ``path``, or None when it is missing, unreadable or mistyped."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or set(doc) | {"n_ctx"} != set(RunInfo.__dataclass_fields__):
        return None
    n_ctx = doc.get("n_ctx", 0)
    if not isinstance(n_ctx, int) or isinstance(n_ctx, bool) or n_ctx < 0:
        return None
    texts = ("url", "api_key", "model", "backend")
    if not all(isinstance(doc[k], str) for k in texts):
        return None
    pid, started = doc["pid"], doc["started_at"]
    if not isinstance(pid, int) or isinstance(pid, bool) or not 0 < pid < 1 << 22:
        return None
    if not isinstance(started, int | float) or isinstance(started, bool):
        return None
    return RunInfo(**doc)


def live_servers() -> list[RunInfo]:
    """Servers localctl started that are still running; stale run files are removed."""
    found: list[RunInfo] = []
    folder = paths.servers_dir()
    if not folder.is_dir():
        return found
    for path in sorted(folder.glob("*.json")):
        info = _read(path)
        if info is None:
            continue
        if _pid_alive(info.pid):
            found.append(info)
        else:
            with contextlib.suppress(OSError):
                path.unlink()
    return found


def find_server(url: str) -> RunInfo | None:
    """The run file of the localctl-started server at ``url``, if there is one."""
    wanted = _normalise(url)
    for info in live_servers():
        if _normalise(info.url) == wanted:
            return info
    return None


def find_api_key(url: str) -> str | None:
    """The API key of the localctl-started server at ``url``, if there is one."""
    info = find_server(url)
    return info.api_key if info is not None else None


def find_context(url: str) -> int | None:
    """The context per sequence of the localctl-started server at ``url``, if recorded."""
    wanted = _normalise(url)
    for info in live_servers():
        if _normalise(info.url) == wanted and info.n_ctx:
            return info.n_ctx
    return None

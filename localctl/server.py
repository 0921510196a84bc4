"""Launch, supervise and stop a local llama.cpp server.

Public API (the CLI ``localctl serve`` and the TUI both use it):

- ``ServerOptions``: what to run (model file, ctx, host, port, backend, overrides,
  pass-through args, api key). A server localctl did not start is a
  :class:`localctl.session.RemoteEndpoint`, not a ``ModelServer``.
- ``ModelServer(options)``: one supervised server.
    - ``start_sync(timeout_s=...)`` / ``await start()``: launch and wait until ready
      (``ServerError`` with the cause and log tail if it cannot start).
    - ``stop_sync()`` / ``await stop()``: SIGTERM, wait, SIGKILL of the process group.
    - ``url`` (base URL, no ``/v1``), ``api_key``, ``status`` (``ServerStatus``),
      ``log_tail(n)``, ``buffers`` (llama.cpp's reported buffers, native backend),
      ``exit_reason`` (plain explanation once the child died).
    - ``on_log`` / ``on_exit`` callbacks (called from a reader thread; a Textual app
      posts messages from them), ``await wait_exit()`` to await a crash.
  Port 0 means "any free port"; a taken default port is replaced by a free one and
  ``port_note`` says so (a port the user chose is an error instead). ``start()``
  may be called from any thread (a Textual worker): the child is spawned by a
  supervisor thread that lives as long as the child, so the Linux parent-death
  signal (SIGTERM) fires only when localctl dies.
  Keys go to the child through its environment (``LLAMA_API_KEY`` / ``API_KEY``),
  never argv; the child's environment is allow-listed (``child_env``).
- ``explain_exit(returncode)``: plain words for an exit code or signal.

Which backend runs and its argv live in :mod:`localctl.backends`; llama.cpp's
reported buffers and the estimate-vs-measured records in :mod:`localctl.measurements`
(both re-exported here).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import enum
import ipaddress
import logging
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from localctl import paths
from localctl.auth import bearer_headers
from localctl.backends import (
    BACKENDS,
    KV_TYPES,
    backend_argv,
    backend_env,
    check_passthrough,
    child_env,
    find_llama_server,
    resolve_backend,
)
from localctl.errors import BadInputError, ServerError
from localctl.measurements import (
    Buffers,
    append_measurement,
    format_memory_report,
    measure_memory,
    memory_report,
    parse_buffers,
    process_tree_rss,
)
from localctl.sanitize import printable

if TYPE_CHECKING:
    pass


__all__ = [
    "BACKENDS",
    "KV_TYPES",
    "Buffers",
    "ModelServer",
    "ServerOptions",
    "ServerStatus",
    "append_measurement",
    "check_passthrough",
    "child_env",
    "explain_exit",
    "find_llama_server",
    "format_memory_report",
    "free_port",
    "is_loopback",
    "measure_memory",
    "memory_report",
    "parse_buffers",
    "port_free",
    "resolve_backend",
]


class ServerStatus(enum.Enum):
    """Life cycle of a ``ModelServer``."""

    IDLE = "idle"
    STARTING = "starting"
    READY = "ready"
    STOPPING = "stopping"
    STOPPED = "stopped"
    CRASHED = "crashed"


@dataclass(frozen=True, slots=True)
class ServerOptions:
    """What to launch. ``None`` means: from the fit plan / config / defaults."""

    model_path: Path | None = None
    model_name: str = ""
    backend: str = "auto"
    host: str = "127.0.0.1"
    port: int = 8080
    ctx: int = 4096
    gpu_layers: int | None = None
    cpu_moe_layers: int = 0
    """Blocks whose routed experts stay in RAM (llama-server ``--n-cpu-moe``; 0: none)."""
    threads: int | None = None
    parallel: int = 1
    kv_type: str = "f16"
    flash_attn: str = "auto"
    """``on``, ``off`` or ``auto`` (what the backend does by itself; on for a quantized KV)."""
    batch: int = 512
    api_key: str | None = None
    extra_args: tuple[str, ...] = ()
    llama_server_path: str = ""
    draft_path: Path | None = None
    """A draft model for speculative decoding (native llama-server only)."""
    draft_gpu_layers: int | None = None
    """Layers of the draft model on the GPU; None: as many as the main model's."""
    log_dir: Path | None = None
    port_fallback: bool = True
    """When ``port`` is taken, serve on a free one (``port_note`` says so). Only for the
    default port: a port the user chose that cannot be bound is an error."""


@dataclass(slots=True)
class _Child:
    proc: subprocess.Popen[bytes]
    log_file: IO[bytes] | None
    reader: threading.Thread


_log = logging.getLogger("localctl.server")


_SIGNAL_HINTS = {
    signal.SIGSEGV: "llama.cpp crashed (SIGSEGV) — often a CPU-feature mismatch: "
    "rebuild with CMAKE_ARGS=-DGGML_NATIVE=OFF",
    signal.SIGILL: "llama.cpp hit an illegal instruction (SIGILL) — the build uses CPU "
    "features this machine lacks: rebuild with CMAKE_ARGS=-DGGML_NATIVE=OFF",
    signal.SIGKILL: "the server was killed (SIGKILL) — most likely the kernel's OOM killer: "
    "try a smaller quant or context",
    signal.SIGABRT: "llama.cpp aborted (SIGABRT) — see the log tail (often a failed "
    "allocation or an assertion)",
    signal.SIGBUS: "the server crashed (SIGBUS) — the model file may be truncated or on a "
    "vanished disk",
}


_BACKTRACE_LINE = re.compile(
    r"^\s*(?:#\d+\s+0x|\[New (?:LWP|Thread)|\[Thread debugging|\[Inferior \d|"
    r"Using host libthread_db|0x[0-9a-f]+ in |warning: (?:process \d+|Could not|Unable to)|"
    r"\(gdb\)|No symbol table|.*\(\+0x[0-9a-f]+\)\s*\[0x[0-9a-f]+\]\s*$)",
    re.IGNORECASE,
)
"""Lines of the backtrace llama.cpp prints when it aborts (gdb's or glibc's): they bury the
one line that says why."""


_CHATTER_LINE = re.compile(
    r"^\s*(?:\S+\s+[A-Z]\s+)?(?:llama_graph_n_input_tensors: input tensor|"
    r"create_tensor: loading tensor)"
)
"""Verbose llama.cpp lines written per tensor or per step (hundreds per start and per
reply): kept in the log file, left out of the tail the log pane and errors show."""


def failure_lines(lines: list[str], n: int = 8) -> list[str]:
    """The last ``n`` non-blank log lines that can explain a failure, backtraces left out.

    Args:
        lines: Log lines, oldest first.
        n: How many to keep.
    """
    kept = [ln for ln in lines if ln.strip() and not _BACKTRACE_LINE.match(ln)]
    return kept[-n:]


def explain_exit(returncode: int | None) -> str:
    """Plain words for how a server process ended.

    Args:
        returncode: ``Popen.returncode`` (negative for a signal) or a shell-style 128+N.
    """
    if returncode is None:
        return "the server is still running"
    sig = -returncode if returncode < 0 else returncode - 128 if returncode > 128 else 0
    if sig:
        with contextlib.suppress(ValueError):
            s = signal.Signals(sig)
            return _SIGNAL_HINTS.get(s, f"the server was stopped by {s.name}")
    if returncode == 0:
        return "the server exited on its own (exit code 0)"
    return f"the server exited with code {returncode}"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def port_free(host: str, port: int) -> bool:
    """True when a server can listen on ``port`` on ``host``.

    As llama.cpp's and uvicorn's servers do, the check sets ``SO_REUSEADDR``: connections
    of a server that just ended (TIME_WAIT) do not make its port look taken, a server
    listening there does.
    """
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str) -> int:
    """A port the OS says is free on ``host``."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _preexec() -> None:
    os.setsid()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class ModelServer:
    """One supervised model server (see the module docstring)."""

    def __init__(
        self,
        options: ServerOptions,
        *,
        on_log: Callable[[str], None] | None = None,
        on_exit: Callable[[str], None] | None = None,
    ) -> None:
        self.options = options
        self.on_log = on_log
        self.on_exit = on_exit
        self.backend = self._pick_backend()
        self.host = options.host
        self.port = options.port
        self.port_note = ""
        self.api_key = options.api_key or secrets.token_urlsafe(24)
        self.status = ServerStatus.IDLE
        self.exit_reason = ""
        self.log_path: Path | None = None
        self.log_problem = ""
        """Why the log file stopped being written (a full disk), or empty."""
        self._lines: collections.deque[str] = collections.deque(maxlen=200)
        self._all_lines: list[str] = []
        self._child: _Child | None = None
        self._exited = threading.Event()
        self.url = f"http://{self._url_host()}:{self.port}"

    # ------------------------------------------------------------------ facts
    def _url_host(self) -> str:
        h = "127.0.0.1" if self.host in ("0.0.0.0", "localhost") else self.host
        return f"[{h}]" if ":" in h else h

    def _pick_backend(self) -> str:
        return resolve_backend(self.options.backend, self.options.llama_server_path)

    @property
    def pid(self) -> int | None:
        """Process id of the child, if one was started."""
        return self._child.proc.pid if self._child else None

    def log_tail(self, n: int = 40) -> list[str]:
        """The last ``n`` log lines (at most 200 are kept)."""
        return list(self._lines)[-n:]

    @property
    def buffers(self) -> Buffers:
        """llama.cpp's reported buffers parsed from the whole log so far."""
        return parse_buffers(self._all_lines)

    # ------------------------------------------------------------------ argv
    def argv(self) -> list[str]:
        """The child's argv (never holds the key)."""
        return backend_argv(self.backend, self.options, self.host, self.port)

    def _env(self) -> dict[str, str]:
        return backend_env(self.backend, self.api_key)

    # ------------------------------------------------------------------ life cycle
    def start_sync(self, timeout_s: float = 120.0) -> None:
        """Launch the child and block until it answers (or raise ``ServerError``)."""
        o = self.options
        if o.model_path is None or not o.model_path.is_file():
            raise BadInputError(f"model file not found: {o.model_path}")
        self._check_address()
        try:
            if self.port == 0:
                self.port = free_port(self.host)
            elif not port_free(self.host, self.port):
                if not o.port_fallback:
                    raise ServerError(
                        f"port {self.port} on {self.host} is taken (another server?); "
                        "stop it or choose another port"
                    )
                old = self.port
                self.port = free_port(self.host)
                self.port_note = f"port {old} is taken; using {self.port}"
        except OSError as error:
            raise BadInputError(
                f"cannot listen on {self.host}: {error.strerror or error}"
            ) from None
        self.url = f"http://{self._url_host()}:{self.port}"
        argv = self.argv()
        log_file = self._open_log(o.log_dir or paths.logs_dir())
        self.status = ServerStatus.STARTING
        # The parent-death signal fires when the *thread* that forked exits, so the
        # child is spawned by a thread that lives exactly as long as the child (a
        # Textual worker or executor thread calling start() may end much sooner).
        spawned = threading.Event()
        failure: list[OSError] = []
        reader = threading.Thread(
            target=self._spawn_and_read,
            args=(argv, log_file, spawned, failure),
            name=f"llama-server-{self.port}",
            daemon=True,
        )
        reader.start()
        spawned.wait()
        if failure:
            self.status = ServerStatus.CRASHED
            raise ServerError(f"cannot start {argv[0]}: {failure[0].strerror}") from failure[0]
        path = "/health" if self.backend == "llama-server" else "/v1/models"
        try:
            self._wait_ready(timeout_s, path)
        except ServerError:
            self.stop_sync()
            raise
        self.status = ServerStatus.READY

    def _check_address(self) -> None:
        """Refuse a port out of range or a host name that does not resolve, in words."""
        if not 0 <= self.port <= 65535:
            raise BadInputError(f"port {self.port} is out of range (0-65535; 0 picks a free one)")
        try:
            socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as error:
            detail = getattr(error, "strerror", None) or error
            raise BadInputError(f"cannot listen on host {self.host!r}: {detail}") from None

    def _spawn_and_read(
        self,
        argv: list[str],
        log_file: IO[bytes],
        spawned: threading.Event,
        failure: list[OSError],
    ) -> None:
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=self._env(),
                preexec_fn=_preexec,
                close_fds=True,
            )
        except OSError as exc:
            if log_file is not None:
                log_file.close()
            failure.append(exc)
            spawned.set()
            return
        self._child = _Child(proc, log_file, threading.current_thread())
        spawned.set()
        self._read(proc, log_file)

    def _open_log(self, log_dir: Path) -> IO[bytes] | None:
        """A new private log file named for this server alone; None when none can be made.

        Port, time, pid and a random part: two ``serve`` on one port never share a file.
        """
        stamp = time.strftime("%Y%m%d-%H%M%S")
        name = f"server-{self.port}-{stamp}-{os.getpid()}-{secrets.token_hex(3)}.log"
        try:
            self.log_path = paths.ensure_private_dir(log_dir) / name
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
            return os.fdopen(paths.open_private(self.log_path, flags), "wb")
        except OSError as error:
            self._log_failed(error)
            return None

    def _log_failed(self, error: OSError) -> None:
        self.log_problem = (
            f"cannot write the server log {self.log_path}: {error.strerror or error}; "
            "the server keeps running, its log is kept in memory only"
        )
        _log.warning("warning: %s", self.log_problem)

    def _read(self, proc: subprocess.Popen[bytes], log_file: IO[bytes] | None) -> None:
        """Drain the child's output until it ends (this thread must outlive the child).

        Nothing here may end the thread early: its exit fires the child's parent-death
        signal. A log write that fails (a full disk) stops the file, not the server.
        """
        assert proc.stdout is not None
        try:
            for raw in proc.stdout:
                if log_file is not None:
                    try:
                        log_file.write(raw)
                        log_file.flush()
                    except OSError as error:
                        self._log_failed(error)
                        with contextlib.suppress(OSError):
                            log_file.close()
                        log_file = None
                # The file keeps the bytes; the tail shown in errors and panes is inert.
                line = printable(raw.decode("utf-8", "replace").rstrip("\n"))
                if _CHATTER_LINE.match(line):
                    continue  # in the log file only: it would flood the tail and the pane
                self._lines.append(line)
                if len(self._all_lines) < 5000:
                    self._all_lines.append(line)
                if self.on_log:
                    try:
                        self.on_log(line)
                    except Exception:  # a failing listener must not stop the server
                        _log.exception("server log listener failed")
            proc.wait()
        finally:
            if log_file is not None:
                with contextlib.suppress(OSError):
                    log_file.close()
            if self.status not in (ServerStatus.STOPPING, ServerStatus.STOPPED):
                self.status = ServerStatus.CRASHED
                self.exit_reason = explain_exit(proc.poll())
            self._exited.set()
            if self.status == ServerStatus.CRASHED and self.on_exit:
                self.on_exit(self.exit_reason)

    def _crash_error(self) -> ServerError:
        assert self._child is not None
        self._child.reader.join(timeout=5)
        reason = explain_exit(self._child.proc.returncode)
        tail = " | ".join(failure_lines(self.log_tail(200)))
        return ServerError(f"{reason}; log {self.log_path}: {tail}" if tail else reason)

    def _wait_ready(self, timeout_s: float, path: str) -> None:
        deadline = time.monotonic() + timeout_s
        headers = bearer_headers(self.api_key)
        while time.monotonic() < deadline:
            if self._child and self._child.proc.poll() is not None:
                raise self._crash_error()
            req = urllib.request.Request(self.url + path, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (OSError, ValueError):
                pass
            self._exited.wait(0.2)
        raise ServerError(f"the server did not answer {self.url}{path} within {timeout_s:.0f} s")

    def stop_sync(self, grace_s: float = 10.0) -> None:
        """Stop the child: SIGTERM to its group, wait, then SIGKILL. Idempotent."""
        child = self._child
        if child is None:
            self.status = ServerStatus.STOPPED
            return
        if self.status != ServerStatus.CRASHED:
            self.status = ServerStatus.STOPPING
        proc = child.proc
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(grace_s)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        child.reader.join(timeout=5)
        if self.status != ServerStatus.CRASHED:
            self.status = ServerStatus.STOPPED

    async def start(self, timeout_s: float = 120.0) -> None:
        """Async ``start_sync`` (runs in a thread)."""
        await asyncio.to_thread(self.start_sync, timeout_s)

    async def stop(self) -> None:
        """Async ``stop_sync`` (runs in a thread)."""
        await asyncio.to_thread(self.stop_sync)

    def wait_exited(self, timeout_s: float | None = None) -> bool:
        """Block up to ``timeout_s``; True once the child has ended."""
        return self._exited.wait(timeout_s)

    async def wait_exit(self, poll_s: float = 0.1) -> str:
        """Wait until the child ends; returns the plain reason.

        Polls instead of parking a thread, so cancelling the waiter leaves nothing behind
        (a thread blocked on the event would hold up the event loop's shutdown).
        """
        while not self._exited.is_set():
            await asyncio.sleep(poll_s)
        return self.exit_reason or "stopped"

    def measure(self) -> dict[str, int]:
        """RSS of the child (and its children) and VRAM in use, in bytes."""
        out = {"rss_bytes": 0, "vram_bytes": 0}
        if self._child is None:
            return out
        out["rss_bytes"] = process_tree_rss(self._child.proc.pid) or 0
        with contextlib.suppress(Exception):
            from localctl.hardware import gpu_usage

            out["vram_bytes"] = sum(g.used_bytes for g in gpu_usage())
        return out

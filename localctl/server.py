"""Launch, supervise and stop a local llama.cpp server (or attach to one).

Public API (the CLI ``localctl serve`` and the TUI both use it):

- ``ServerOptions``: what to run (model file, ctx, host, port, backend, overrides,
  pass-through args, api key, attach URL).
- ``ModelServer(options)``: one supervised server.
    - ``start_sync(timeout_s=...)`` / ``await start()``: launch and wait until ready
      (``ServerError`` with the cause and log tail if it cannot start).
    - ``stop_sync()`` / ``await stop()``: SIGTERM, wait, SIGKILL of the process group.
    - ``url`` (base URL, no ``/v1``), ``api_key``, ``status`` (``ServerStatus``),
      ``log_tail(n)``, ``buffers`` (llama.cpp's reported buffers, native backend),
      ``exit_reason`` (plain explanation once the child died).
    - ``on_log`` / ``on_exit`` callbacks (called from a reader thread; a Textual app
      posts messages from them), ``await wait_exit()`` to await a crash.
  Port 0 means "any free port"; a taken port is replaced by a free one and
  ``port_note`` says so. ``start()`` may be called from any thread (a Textual
  worker): the child is spawned by a supervisor thread that lives as long as the
  child, so the Linux parent-death signal (SIGTERM) fires only when localctl dies.
  Keys go to the child through its environment (``LLAMA_API_KEY`` / ``API_KEY``),
  never argv; the child's environment is allow-listed (``child_env``).
- ``measure_memory(server, plan, ready_s)``: plan vs llama.cpp's buffers vs measured RSS
  as a record (also appended with ``append_measurement``); ``format_memory_report``
  renders it, ``memory_report`` does both.
- ``append_measurement(record)``: one JSONL line in ``paths.measurements_file()``.
- ``explain_exit(returncode)``: plain words for an exit code or signal.
- ``parse_buffers(lines)``: llama.cpp's model/KV/compute buffers and offloaded layers.
- ``child_env(extra)``: the allow-listed environment a child gets.
- ``check_passthrough(args)``: refuses flags that change host, port, key, CORS or tools.
- ``resolve_backend(backend, llama_server_path)``: what ``auto`` stands for here.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import enum
import ipaddress
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from localctl import paths
from localctl.auth import bearer_headers
from localctl.errors import BadInputError, ServerError

if TYPE_CHECKING:
    from localctl.plan import MemoryPlan

BACKENDS = ("auto", "llama-cpp-python", "llama-server", "attach")
KV_TYPES = {"f16": 1, "q8_0": 8, "q4_0": 2}
"""KV cache types and their ggml type ids (llama-cpp-python takes the id)."""

_ENV_ALLOW = ("PATH", "HOME", "LANG", "TMPDIR", "CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES")
_ENV_ALLOW_PREFIX = ("LC_", "OMP_")

_REFUSED_FLAGS = (
    "--host",
    "--port",
    "--api-key",
    "--api-key-file",
    "--api_key",
    "--agent",
    "-ag",
    "--path",
    "--api-prefix",
    "--props",
    "--slot-save-path",
    "--media-path",
    "--models-dir",
    "--models-preset",
    "--log-prompts-dir",
    "--reuse-port",
    "--config_file",
    "--chat-template-file",
    "--ssl_keyfile",
    "--ssl_certfile",
    "--log-file",
    "--verbosity",
    "-lv",
)
_REFUSED_PREFIXES = (
    "--cors",
    "--ui",
    "--webui",
    "--no-ui",
    "--no-webui",
    "--tools",
    "--mcp",
    "--ssl",
)
"""Flags that change where or to whom the server answers, or enable tools/UI extras."""


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
    threads: int | None = None
    parallel: int = 1
    kv_type: str = "f16"
    batch: int = 512
    api_key: str | None = None
    extra_args: tuple[str, ...] = ()
    llama_server_path: str = ""
    attach_url: str = ""
    log_dir: Path | None = None


@dataclass(frozen=True, slots=True)
class Buffers:
    """What llama.cpp reported it allocated (bytes, summed over devices)."""

    model_bytes: int = 0
    kv_bytes: int = 0
    compute_bytes: int = 0
    offloaded_layers: int | None = None
    total_layers: int | None = None


@dataclass(slots=True)
class _Child:
    proc: subprocess.Popen[bytes]
    log_file: IO[bytes]
    reader: threading.Thread


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


_SIZE_RE = re.compile(r"=\s*([0-9.]+)\s*(MiB|KiB|GiB|B)\b")
_OFFLOAD_RE = re.compile(r"offloaded (\d+)/(\d+) layers")
_UNITS = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}


def _size(line: str) -> int:
    m = _SIZE_RE.search(line)
    return int(float(m.group(1)) * _UNITS[m.group(2)]) if m else 0


def parse_buffers(lines: Iterable[str]) -> Buffers:
    """Sum llama.cpp's reported buffers (per device) from its log lines.

    ``KV buffer size`` lines are preferred; the ``llama_kv_cache: size =`` summary is
    used only when a build prints no per-device KV line.
    """
    model = kv = kv_summary = compute = 0
    off: int | None = None
    tot: int | None = None
    for line in lines:
        if "model buffer size" in line:
            model += _size(line)
        elif "KV buffer size" in line:
            kv += _size(line)
        elif "llama_kv_cache: size =" in line:
            kv_summary += _size(line)
        elif "compute buffer size" in line:
            compute += _size(line)
        m = _OFFLOAD_RE.search(line)
        if m:
            off, tot = int(m.group(1)), int(m.group(2))
    return Buffers(model, kv or kv_summary, compute, off, tot)


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The allow-listed environment for a server child plus ``extra``."""
    env = {
        k: v for k, v in os.environ.items() if k in _ENV_ALLOW or k.startswith(_ENV_ALLOW_PREFIX)
    }
    env.update(extra or {})
    return env


def check_passthrough(args: Sequence[str]) -> tuple[str, ...]:
    """Refuse pass-through flags that change host, port, key, CORS or enable tools.

    Raises:
        BadInputError: naming the refused flag.
    """
    for arg in args:
        flag = arg.split("=", 1)[0]
        if flag in _REFUSED_FLAGS or flag.startswith(_REFUSED_PREFIXES) or flag in ("-h", "--help"):
            raise BadInputError(
                f"pass-through flag {flag} is not allowed "
                "(localctl sets host, port, key and safety flags)"
            )
    return tuple(args)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def port_free(host: str, port: int) -> bool:
    """True when ``port`` can be bound on ``host``."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
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


def find_llama_server(configured: str = "") -> str | None:
    """Native ``llama-server``: LOCALCTL_LLAMA_SERVER, then config, then PATH."""
    for cand in (os.environ.get("LOCALCTL_LLAMA_SERVER", ""), configured):
        if cand and os.access(cand, os.X_OK):
            return cand
    return shutil.which("llama-server")


def resolve_backend(backend: str, llama_server_path: str = "") -> str:
    """The backend a server will run: ``auto`` becomes ``llama-server`` when one is found.

    Args:
        backend: one of :data:`BACKENDS`.
        llama_server_path: the configured native binary (see :func:`find_llama_server`).

    Raises:
        BadInputError: unknown backend, or ``llama-server`` asked for but not found.
    """
    if backend not in BACKENDS:
        raise BadInputError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "auto":
        return "llama-server" if find_llama_server(llama_server_path) else "llama-cpp-python"
    if backend == "llama-server" and not find_llama_server(llama_server_path):
        raise BadInputError(
            "llama-server not found: put it on PATH, set server.llama_server_path "
            "or LOCALCTL_LLAMA_SERVER (scripts/build-llama-server.sh builds one)"
        )
    return backend


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
        self._lines: collections.deque[str] = collections.deque(maxlen=200)
        self._all_lines: list[str] = []
        self._child: _Child | None = None
        self._exited = threading.Event()
        if options.attach_url:
            self.url = options.attach_url.rstrip("/").removesuffix("/v1")
        else:
            self.url = f"http://{self._url_host()}:{self.port}"

    # ------------------------------------------------------------------ facts
    def _url_host(self) -> str:
        h = "127.0.0.1" if self.host in ("0.0.0.0", "localhost") else self.host
        return f"[{h}]" if ":" in h else h

    def _pick_backend(self) -> str:
        if self.options.attach_url:
            return "attach"
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
        o = self.options
        assert o.model_path is not None
        threads = o.threads or os.cpu_count() or 1
        if o.kv_type not in KV_TYPES:
            raise BadInputError(f"unknown KV type {o.kv_type!r}; choose {', '.join(KV_TYPES)}")
        gl = 0 if o.gpu_layers is None else o.gpu_layers
        if self.backend == "llama-server":
            exe = find_llama_server(o.llama_server_path)
            assert exe is not None
            args = [
                exe, "--model", str(o.model_path), "--ctx-size", str(o.ctx * o.parallel),
                "--parallel", str(o.parallel), "--threads", str(threads),
                "--n-gpu-layers", str(gl), "--batch-size", str(o.batch),
                "--host", self.host, "--port", str(self.port), "--no-ui",
                "--verbosity", "4",
            ]  # fmt: skip
            if o.kv_type != "f16":
                args += [
                    "--cache-type-k",
                    o.kv_type,
                    "--cache-type-v",
                    o.kv_type,
                    "--flash-attn",
                    "on",
                ]
        else:
            args = [
                sys.executable, "-m", "llama_cpp.server", "--model", str(o.model_path),
                "--n_ctx", str(o.ctx), "--n_threads", str(threads), "--n_gpu_layers", str(gl),
                "--n_batch", str(o.batch), "--logits_all", "false",
                "--host", self.host, "--port", str(self.port),
            ]  # fmt: skip
            if o.kv_type != "f16":
                t = str(KV_TYPES[o.kv_type])
                args += ["--type_k", t, "--type_v", t, "--flash_attn", "true"]
        return args + list(check_passthrough(o.extra_args))

    def _env(self) -> dict[str, str]:
        if self.backend == "llama-server":
            return child_env({"LLAMA_API_KEY": self.api_key})
        return child_env({"API_KEY": self.api_key})

    # ------------------------------------------------------------------ life cycle
    def start_sync(self, timeout_s: float = 120.0) -> None:
        """Launch the child and block until it answers (or raise ``ServerError``)."""
        o = self.options
        if self.backend == "attach":
            self._wait_ready(timeout_s, "/v1/models")
            self.status = ServerStatus.READY
            return
        if o.model_path is None or not o.model_path.is_file():
            raise BadInputError(f"model file not found: {o.model_path}")
        if self.port == 0:
            self.port = free_port(self.host)
        elif not port_free(self.host, self.port):
            old = self.port
            self.port = free_port(self.host)
            self.port_note = f"port {old} is taken; using {self.port}"
        self.url = f"http://{self._url_host()}:{self.port}"
        log_dir = paths.ensure_private_dir(o.log_dir or paths.logs_dir())
        self.log_path = log_dir / f"server-{self.port}-{int(time.time())}.log"
        argv = self.argv()
        log_file = self.log_path.open("wb")
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
            log_file.close()
            failure.append(exc)
            spawned.set()
            return
        self._child = _Child(proc, log_file, threading.current_thread())
        spawned.set()
        self._read(proc, log_file)

    def _read(self, proc: subprocess.Popen[bytes], log_file: IO[bytes]) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            log_file.write(raw)
            log_file.flush()
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self._lines.append(line)
            if len(self._all_lines) < 5000:
                self._all_lines.append(line)
            if self.on_log:
                self.on_log(line)
        proc.wait()
        log_file.close()
        if self.status not in (ServerStatus.STOPPING, ServerStatus.STOPPED):
            self.status = ServerStatus.CRASHED
            self.exit_reason = explain_exit(proc.returncode)
            if self.on_exit:
                self.on_exit(self.exit_reason)
        self._exited.set()

    def _crash_error(self) -> ServerError:
        assert self._child is not None
        self._child.reader.join(timeout=5)
        reason = explain_exit(self._child.proc.returncode)
        tail = " | ".join(ln for ln in self.log_tail(8) if ln.strip())
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
            except urllib.error.HTTPError as exc:
                if self.backend == "attach" and exc.code in (401, 403):
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
        import psutil

        out = {"rss_bytes": 0, "vram_bytes": 0}
        if self._child is None:
            return out
        with contextlib.suppress(psutil.Error):
            p = psutil.Process(self._child.proc.pid)
            out["rss_bytes"] = p.memory_info().rss + sum(
                c.memory_info().rss for c in p.children(recursive=True)
            )
        with contextlib.suppress(Exception):
            from localctl.hardware import gpu_usage

            out["vram_bytes"] = sum(g.used_bytes for g in gpu_usage())
        return out


def append_measurement(record: dict[str, object]) -> None:
    """Append one estimate-vs-measured record to ``paths.measurements_file()`` (JSONL)."""
    import json

    path = paths.measurements_file()
    paths.ensure_private_dir(path.parent)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")


def _error(ours: int, theirs: int) -> str:
    return f"{100 * (ours / theirs - 1):+.1f}%" if theirs else "-"


def measure_memory(server: ModelServer, plan: MemoryPlan, ready_s: float) -> dict[str, object]:
    """The plan beside llama.cpp's reported buffers and the measured RSS, as one record.

    The record is appended to the measurements file (see :func:`append_measurement`) so
    later estimates can be checked against reality.
    """
    import time

    got = server.buffers
    measured = server.measure()
    record: dict[str, object] = {
        "time": time.time(),
        "model": server.options.model_name,
        "backend": server.backend,
        "ctx": plan.ctx,
        "parallel": plan.parallel,
        "kv_type": plan.kv_type,
        "flash_attn": plan.flash_attn,
        "gpu_layers": plan.gpu_layers,
        "estimate_total_bytes": plan.total_bytes,
        "estimate_weights_bytes": plan.weights_bytes,
        "estimate_kv_bytes": plan.kv_bytes,
        "estimate_compute_bytes": plan.compute_bytes,
        "estimate_overhead_bytes": plan.overhead_bytes,
        "estimate_rss_bytes": plan.expected_rss_bytes,
        "reported_model_bytes": got.model_bytes,
        "reported_kv_bytes": got.kv_bytes,
        "reported_compute_bytes": got.compute_bytes,
        "reported_offloaded_layers": got.offloaded_layers,
        "reported_total_layers": got.total_layers,
        "rss_bytes": measured["rss_bytes"],
        "vram_bytes": measured["vram_bytes"],
        "ready_s": round(ready_s, 3),
    }
    append_measurement(record)
    return record


def format_memory_report(record: dict[str, Any]) -> str:
    """A small table of a :func:`measure_memory` record: plan, actual, error.

    The compute buffer's pages become resident only once a long prompt runs, so
    the RSS of a ready server is compared with the plan's expected RSS; the plan's
    total is the budget of a busy server.
    """
    from localctl.output import human_bytes

    def row(label: str, ours: str, theirs: str) -> tuple[str, str, str, str]:
        a, b = int(record[ours]), int(record[theirs])
        return (label, human_bytes(a), human_bytes(b), _error(a, b))

    rows = [
        ("", "plan", "actual", "error"),
        row("weights", "estimate_weights_bytes", "reported_model_bytes"),
        row("KV cache", "estimate_kv_bytes", "reported_kv_bytes"),
        row("compute", "estimate_compute_bytes", "reported_compute_bytes"),
        row("RSS ready", "estimate_rss_bytes", "rss_bytes"),
        (
            "total",
            human_bytes(int(record["estimate_total_bytes"])),
            "",
            "budget with compute resident",
        ),
    ]
    if record.get("reported_total_layers") is not None:
        layers = f"{record['reported_offloaded_layers']}/{record['reported_total_layers']}"
        rows.append(("GPU layers", str(record["gpu_layers"]), layers, ""))
    lines = [f"  {a:<11}{b:>12}  {c:>12}  {d}".rstrip() for a, b, c, d in rows]
    lines.append("  (actual: llama.cpp's reported buffers; RSS measured now)")
    return "\n".join(lines)


def memory_report(server: ModelServer, plan: MemoryPlan, ready_s: float) -> str:
    """:func:`format_memory_report` of a fresh :func:`measure_memory` (which stores it)."""
    return format_memory_report(measure_memory(server, plan, ready_s))

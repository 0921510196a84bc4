"""The one place the TUI calls the localctl engine.

Every function here is plain (blocking or async) code with no Textual import;
screens wrap the blocking ones in thread workers. Keeping the calls in one module
means an engine API change touches one file of the UI.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

from tui.rows import CatalogRow

if TYPE_CHECKING:
    from pathlib import Path

    from catalog.schema import ModelSpec, QuantSpec
    from localctl.config import Config
    from localctl.hardware import Hardware
    from localctl.hub import PullProgress, PullResult
    from localctl.plan import Backend, MemoryPlan
    from localctl.server import ModelServer, ServerOptions


def resolve_hardware(profile: str | None) -> Hardware:
    """The detected machine, or the simulated ``profile``.

    Raises:
        HardwareError: unknown profile.
    """
    from localctl import hardware

    return hardware.resolve_hardware(profile)


def hardware_line(hw: Hardware) -> str:
    """One line: CPU, RAM free/total, each GPU's VRAM free/total."""
    gib = 1024**3
    parts = [
        f"{hw.cpu_name} ({hw.physical_cores}c/{hw.logical_cores}t)",
        f"RAM {hw.ram_available_bytes / gib:.1f}/{hw.ram_total_bytes / gib:.1f} GiB free",
    ]
    if hw.unified_memory:
        parts.append("unified memory")
    for gpu in hw.gpus:
        parts.append(
            f"GPU{gpu.index} {gpu.name} {gpu.free_bytes / gib:.1f}/{gpu.total_bytes / gib:.1f} GiB"
        )
    if not hw.gpus:
        parts.append("no GPU")
    if hw.profile:
        parts.insert(0, f"[profile {hw.profile}]")
    return " · ".join(parts)


def load_models() -> list[ModelSpec]:
    """Every catalog model (curated plus the user's catalog file).

    Raises:
        CatalogError: a malformed catalog entry.
    """
    from localctl.snapshot import load_catalog

    return list(load_catalog().models)


def quality_note(quant: QuantSpec) -> str:
    """The quant table's quality note for ``quant``, or an empty string."""
    from catalog.quants import QUANT_TYPES

    spec = QUANT_TYPES.get(quant.name.upper())
    return spec.quality if spec is not None else ""


def find_local(model: ModelSpec, quant: QuantSpec) -> Path | None:
    """First file of ``model`` x ``quant`` when it is all on disk."""
    from localctl import inventory

    return inventory.find_local(model, quant)


def planned_backend(config: Config) -> Backend:
    """The server backend plans are made for: the configured one (``auto`` resolved)."""
    from localctl.errors import LocalctlError
    from localctl.server import resolve_backend

    try:
        backend = resolve_backend(config.server.backend, config.server.llama_server_path)
    except LocalctlError:
        return "llama-cpp-python"
    return "llama-server" if backend == "llama-server" else "llama-cpp-python"


def plan_row(
    row: CatalogRow,
    hw: Hardware,
    *,
    ctx: int,
    kv_type: str,
    parallel: int,
    backend: Backend = "llama-cpp-python",
) -> CatalogRow:
    """``row`` with its plan computed at ``ctx`` (or the error that stopped it)."""
    from localctl.errors import LocalctlError
    from localctl.plan import plan_for_file, plan_for_model

    try:
        plan: MemoryPlan
        if row.model.source == LOCAL_SOURCE and row.local_path is not None:
            plan = plan_for_file(
                row.local_path, hw, ctx=ctx, parallel=parallel, kv_type=kv_type, backend=backend
            )
        else:
            plan = plan_for_model(
                row.model,
                row.quant.name,
                hw,
                ctx=ctx,
                parallel=parallel,
                kv_type=kv_type,
                backend=backend,
            )
    except (LocalctlError, NotImplementedError, ValueError) as error:
        return replace(row, plan=None, plan_error=str(error) or type(error).__name__)
    return replace(row, plan=plan, plan_error="")


def build_rows(models: list[ModelSpec], *, include_local: bool = True) -> list[CatalogRow]:
    """Unplanned rows for every model x quant, then GGUF files on disk that no row covers.

    Args:
        models: The catalog.
        include_local: Also list local GGUF files (HF cache, model folders, LM Studio…)
            that are not catalog quants, as ``local`` family rows planned from their header.
    """
    rows = []
    for model in models:
        for quant in model.quants:
            rows.append(
                CatalogRow(
                    model=model,
                    quant=quant,
                    quality=quality_note(quant),
                    local_path=find_local(model, quant),
                )
            )
    if include_local:
        known = {row.local_path.absolute() for row in rows if row.local_path is not None}
        rows.extend(local_rows(known))
    return rows


LOCAL_SOURCE = "local"
"""``ModelSpec.source`` of rows made from a GGUF file on disk."""


def local_rows(known: set[Path]) -> list[CatalogRow]:
    """Rows for GGUF files on disk outside ``known`` (first part of a split set only).

    A file whose header cannot be read is left out (``localctl fit FILE`` says why).
    """
    import re

    from catalog.errors import GgufError
    from catalog.gguf import read_gguf
    from catalog.schema import ModelSpec, QuantSpec
    from localctl import inventory

    rows: list[CatalogRow] = []
    seen: set[Path] = set()
    for entry in inventory.scan_local_ggufs():
        path = entry.path.absolute()
        split = re.search(r"-(\d{5})-of-(\d{5})\.gguf$", path.name)
        if path in known or path in seen or (split and int(split.group(1)) != 1):
            continue
        seen.add(path)
        try:
            info = read_gguf(path)
        except (GgufError, OSError):
            continue
        stem = re.sub(r"-00001-of-\d{5}$", "", path.name.removesuffix(".gguf"))
        quant = QuantSpec(
            name=(entry.quant or info.file_type or "GGUF").upper(),
            files=(path.name,),
            size_bytes=info.file_size or entry.size_bytes,
        )
        license_ = info.metadata.get("general.license")
        model = ModelSpec(
            id=stem.lower(),
            name=info.name or stem,
            family=LOCAL_SOURCE,
            repo=entry.repo or str(path.parent),
            params=sum(t.n_elements for t in info.tensors),
            arch=info.arch,
            license=str(license_) if license_ else "",
            quants=(quant,),
            notes=f"local file ({entry.source}): {path}",
            source=LOCAL_SOURCE,
        )
        rows.append(CatalogRow(model, quant, quality_note(quant), local_path=path))
    return rows


def plan_rows(
    rows: list[CatalogRow],
    hw: Hardware,
    *,
    ctx: int,
    kv_type: str,
    parallel: int,
    backend: Backend = "llama-cpp-python",
    cancel: threading.Event | None = None,
) -> list[CatalogRow]:
    """Every row planned at ``ctx``; stops early (returning what it has) when ``cancel`` is set."""
    planned = []
    for row in rows:
        if cancel is not None and cancel.is_set():
            break
        planned.append(
            plan_row(row, hw, ctx=ctx, kv_type=kv_type, parallel=parallel, backend=backend)
        )
    return planned


def pull(
    ref: str,
    *,
    progress: Callable[[PullProgress], None] | None,
    cancel: threading.Event,
) -> PullResult:
    """Download ``ref`` (``model-id:QUANT``) into the Hugging Face cache.

    Raises:
        DownloadError: failure with its reason; ``DownloadCancelled`` when cancelled.
    """
    from localctl import hub

    return hub.pull(ref, progress=progress, cancel=cancel)


def server_args_summary(plan: MemoryPlan | None, config: Config) -> str:
    """One line of what the server will be started with."""
    if plan is None:
        return f"ctx {config.default_ctx}"
    return f"ctx {plan.ctx}, {plan.gpu_layers}/{plan.n_layers} GPU layers, kv {plan.kv_type}"


def describe_os_error(error: OSError) -> str:
    """One line for a filesystem failure (disk full named as such)."""
    import errno

    if error.errno == errno.ENOSPC:
        return f"the disk is full ({error.filename or 'download folder'})"
    return f"{error.strerror or error} ({error.filename or ''})".strip()


# -- server -----------------------------------------------------------------------


class ServerHandle(Protocol):
    """What the app needs of a running model server."""

    @property
    def url(self) -> str:
        """Base URL without ``/v1``."""

    @property
    def api_key(self) -> str | None:
        """Key the server requires."""

    @property
    def pid(self) -> int | None:
        """Process id of the server (None when attached to a remote one)."""

    def log_tail(self, n: int) -> str:
        """Last ``n`` lines of the server log."""

    async def stop(self) -> None:
        """Stop the server and wait until it is gone."""

    def stop_now(self) -> None:
        """Stop the server, blocking until it is gone."""

    async def wait_exit(self) -> str:
        """Return, in plain words, why the process ended, once it has."""


class TuiServer:
    """A ``localctl.server.ModelServer`` seen through ``ServerHandle``; keeps the run file."""

    def __init__(self, server: ModelServer, *, owned: bool = True) -> None:
        self._server = server
        self.ready_s = 0.0
        """Seconds from launch until it answered."""
        self.owned = owned
        """True when localctl started the process (False when attached)."""

    @property
    def model_server(self) -> ModelServer:
        """The supervised server underneath."""
        return self._server

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def api_key(self) -> str | None:
        return self._server.api_key

    @property
    def pid(self) -> int | None:
        return self._server.pid

    @property
    def backend(self) -> str:
        """Backend actually used (``llama-server`` or ``llama-cpp-python``)."""
        return self._server.backend

    @property
    def port_note(self) -> str:
        """Why the port differs from the configured one (empty when it does not)."""
        return self._server.port_note

    def log_tail(self, n: int) -> str:
        return "\n".join(self._server.log_tail(n))

    async def stop(self) -> None:
        from localctl.runfile import remove_run_file

        await self._server.stop()
        if self.owned:
            remove_run_file(self._server.url)

    def stop_now(self) -> None:
        """Stop the server, blocking (for the app's last moments)."""
        from localctl.runfile import remove_run_file

        self._server.stop_sync(grace_s=5.0)
        if self.owned:
            remove_run_file(self._server.url)

    async def wait_exit(self) -> str:
        from localctl.runfile import remove_run_file
        from localctl.server import ServerStatus

        reason = await self._server.wait_exit()
        if self._server.status is ServerStatus.CRASHED:
            remove_run_file(self._server.url)
        return reason


def server_options(
    path: Path, name: str, plan: MemoryPlan | None, config: Config, hw: Hardware | None = None
) -> ServerOptions:
    """What to launch for ``path``: context and GPU layers from the plan, the rest from config."""
    from localctl.server import ServerOptions

    threads = config.server.threads or None
    if threads is None and hw is not None and not hw.profile:
        threads = hw.physical_cores  # a simulated profile's cores are not this machine's
    return ServerOptions(
        model_path=path,
        model_name=name,
        backend=config.server.backend,
        host="127.0.0.1",
        port=config.server.port,
        ctx=plan.ctx if plan is not None else config.default_ctx,
        gpu_layers=plan.gpu_layers if plan is not None else 0,
        threads=threads,
        parallel=plan.parallel if plan is not None else config.parallel,
        kv_type=plan.kv_type if plan is not None else config.kv_type,
        extra_args=tuple(config.server.extra_args),
        llama_server_path=config.server.llama_server_path,
    )


async def start_server(
    path: Path,
    row: CatalogRow,
    plan: MemoryPlan | None,
    config: Config,
    hw: Hardware | None = None,
    timeout_s: float = 300.0,
) -> TuiServer:
    """Start a server for ``path`` with arguments from ``plan``; returns once it answers.

    The server always binds 127.0.0.1 with a random key; a run file lets
    ``localctl chat --url`` find that key.

    Raises:
        ServerError: it could not start (the message carries the cause and log tail).
        BadInputError: the file is missing or the configured backend is unavailable.
    """
    import time

    from localctl.runfile import RunInfo, write_run_file
    from localctl.server import ModelServer

    server = ModelServer(server_options(path, row.key, plan, config, hw))
    started = time.monotonic()
    await server.start(timeout_s)
    write_run_file(
        RunInfo(server.url, server.api_key, server.pid or 0, row.key, server.backend, time.time())
    )
    handle = TuiServer(server)
    handle.ready_s = time.monotonic() - started
    return handle


def memory_report(server: TuiServer, plan: MemoryPlan) -> str:
    """The plan beside llama.cpp's buffers and the measured RSS; the pair is stored.

    Blocking (reads the process's memory): call from a thread.
    """
    from localctl.server import memory_report as report

    return report(server.model_server, plan, server.ready_s)


async def attach_server(url: str, api_key: str | None, timeout_s: float = 8.0) -> TuiServer:
    """Attach to a running OpenAI-compatible server (nothing is launched).

    The key defaults to the one of a server localctl started at ``url``.

    Raises:
        ServerError: it does not answer ``/v1/models`` within ``timeout_s``.
    """
    from localctl.runfile import find_api_key
    from localctl.server import ModelServer, ServerOptions

    key = api_key or find_api_key(url) or ""
    server = ModelServer(ServerOptions(attach_url=url, api_key=key or None, backend="attach"))
    if not key:
        server.api_key = ""
    await server.start(timeout_s)
    return TuiServer(server, owned=False)


async def served_model_name(url: str, api_key: str | None) -> str:
    """The first model id ``url`` serves (see :func:`localctl.chat.served_model_name`)."""
    from localctl.chat import served_model_name as served

    return await served(url, api_key)

"""Serving sessions: a model server localctl runs, or a remote one it only talks to.

``localctl serve`` and the TUI serve a model the same way, through this module:

1. :mod:`localctl.library` resolves the model and finds its GGUF on disk, pulling it
   first when needed (:func:`~localctl.library.target_file`).
2. The caller plans it (a :class:`~localctl.plan.MemoryPlan`).
3. :func:`launch_options` turns plan + config + the user's overrides into the server's
   :class:`~localctl.server.ServerOptions`; host, port and threads are decided here only.
4. :class:`ServingSession` starts the process, writes the run file (so ``localctl chat``
   finds the key), measures memory against the plan, waits for an unexpected exit, stops
   it (removing the run file) and makes a fresh session to restart it.

Attaching to a server localctl did not start is a :class:`RemoteEndpoint`: a URL and a key,
no process. "No key" is ``None`` all the way, and never becomes a random or empty key.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from localctl.chat import served_model_name
from localctl.chat_session import ChatEndpoint
from localctl.config import DEFAULT_PORT
from localctl.endpoint import base_url
from localctl.errors import BadInputError, ServerError
from localctl.request import PlanRequest
from localctl.runfile import RunInfo, find_api_key, remove_run_file, write_run_file
from localctl.server import (
    ModelServer,
    ServerOptions,
    ServerStatus,
    check_passthrough,
    format_memory_report,
    measure_memory,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from localctl.config import Config
    from localctl.hardware import Hardware
    from localctl.hub import PullProgress
    from localctl.plan import MemoryPlan

DEFAULT_START_TIMEOUT_S = 300.0
"""How long a server may take to load its model and answer."""

ATTACH_TIMEOUT_S = 8.0
"""How long a remote server may take to answer ``/v1/models``."""
REFUSED_GRACE_S = 1.0
"""How long connections may be refused before attaching gives up (a server still binding
its port refuses for a moment)."""


def catalog_plan(
    ref: str, config: Config, hw: Hardware, request: PlanRequest
) -> tuple[MemoryPlan, str] | None:
    """The plan of pull reference ``ref`` before any byte is fetched: a catalog quant from
    its file when it is on disk, else from catalog numbers; a hub quant
    (``OWNER/REPO:QUANT``, ``OWNER/REPO/FILE.gguf``) from its header, read by HTTP range
    requests.

    Returns:
        The plan and the reference as shown; None when ``ref`` is a file on disk, or a hub
        quant while the hub cannot be reached or that the repository lacks (the pull then
        answers from the cache, or says what is wrong in its own words).

    Raises:
        CatalogError: a catalog model without such a quant.
        DownloadError: a catalog quant whose files the last refresh found gone; a hub
            quant the hub refuses (missing, gated).
        GgufError: a hub quant whose header cannot be read as GGUF.
    """
    from localctl.errors import BadInputError, GgufError
    from localctl.hub.errors import Unreachable
    from localctl.library import check_on_hub, is_gguf_path, plan_target, resolve
    from localctl.search import is_hub_ref

    if is_hub_ref(ref):
        try:
            target = resolve(ref, config)
        except Unreachable:
            return None
        except BadInputError as error:  # no such quant: the pull lists what the repo has
            if isinstance(error, GgufError):
                raise
            return None
    elif is_gguf_path(ref) or "/" in ref:
        return None
    else:
        target = resolve(ref, config)
        check_on_hub(target)
    return plan_target(target, hw, request), target.label


def check_fits(memory_plan: MemoryPlan, name: str, *, hint: str = "pass --force") -> None:
    """Refuse to download or serve what its plan says cannot fit (nothing is fetched or run).

    Args:
        memory_plan: The plan of ``name`` on the machine that would run it.
        name: What the user asked for, as shown.
        hint: How to go ahead anyway (the CLI's ``--force``).

    Raises:
        WontFitError: the plan's placement is ``none``; the message says by how much.
    """
    from localctl.errors import WontFitError

    if memory_plan.placement == "none":
        raise WontFitError(
            f"{name} won't fit at context {memory_plan.ctx:,}: {memory_plan.reason} "
            f"({hint} to try anyway)"
        )


@dataclass(frozen=True, slots=True)
class LaunchOverrides:
    """What the user set by hand; None takes the plan's or the config's value."""

    backend: str | None = None
    host: str | None = None
    port: int | None = None
    threads: int | None = None
    gpu_layers: int | None = None
    api_key: str | None = None
    """None: a random key for this run."""
    extra_args: tuple[str, ...] = ()
    """Passed to the server after the config's ``server.extra_args``."""
    draft_path: Path | None = None
    """A draft model for speculative decoding."""


def default_threads(config: Config, hw: Hardware | None) -> int | None:
    """Threads the server gets: the config's, else this machine's physical cores.

    Returns:
        None when neither is known (a simulated profile's cores are not this machine's);
        the server then takes every logical CPU.
    """
    if config.server.threads:
        return config.server.threads
    if hw is not None and not hw.profile:
        return hw.physical_cores
    return None


def launch_options(
    path: Path,
    name: str,
    plan: MemoryPlan | None,
    config: Config,
    hw: Hardware | None,
    overrides: LaunchOverrides | None = None,
) -> ServerOptions:
    """What to launch for ``path``: context, sequences, KV type and GPU layers from the plan;
    backend, host, port, threads and extra arguments from the config; overrides over both.

    Args:
        path: The GGUF (first file of a split set).
        name: Model name the server reports and the run file records.
        plan: The fit plan; None uses the config's context, sequences and KV type on the CPU.
        config: The user's configuration.
        hw: The machine (for the thread count); None when unknown.
        overrides: The user's explicit choices.

    Raises:
        BadInputError: a pass-through argument changes host, port, key or safety flags.
    """
    o = overrides or LaunchOverrides()
    extra = check_passthrough((*config.server.extra_args, *o.extra_args))
    request = plan.request if plan is not None else PlanRequest.from_config(config)
    gpu_layers = plan.gpu_layers if plan is not None else 0
    return ServerOptions(
        model_path=path,
        model_name=name,
        backend=o.backend or request.backend,
        host=o.host or config.server.host,
        port=o.port if o.port is not None else config.server.port,
        # Only the default port moves aside for a server already there; a port the user
        # chose (flag or config) is theirs, and a script would talk to the wrong server.
        port_fallback=o.port is None and config.server.port == DEFAULT_PORT,
        ctx=request.ctx,
        gpu_layers=o.gpu_layers if o.gpu_layers is not None else gpu_layers,
        # Experts kept in RAM come with the plan's layer count; a hand-set count drops them.
        cpu_moe_layers=plan.cpu_moe_layers if plan is not None and o.gpu_layers is None else 0,
        threads=o.threads or default_threads(config, hw),
        parallel=request.parallel,
        kv_type=request.kv_type,
        flash_attn=request.flash_attn,
        api_key=o.api_key,
        extra_args=extra,
        llama_server_path=config.server.llama_server_path,
        draft_path=o.draft_path,
        draft_gpu_layers=_draft_gpu_layers(plan),
    )


def _draft_gpu_layers(plan: MemoryPlan | None) -> int | None:
    draft = getattr(plan, "draft", None)
    return draft.gpu_layers if draft is not None else None


def plan_command(
    path: Path,
    name: str,
    plan: MemoryPlan,
    config: Config,
    hw: Hardware | None,
    overrides: LaunchOverrides | None = None,
) -> list[str]:
    """The exact command line ``serve`` would launch for ``plan`` (model path, context,
    GPU layers, flash attention, KV type, threads, draft), for a user to copy.

    The key is not in it (it goes through the environment). On a simulated machine the
    threads are its physical cores.

    Raises:
        BadInputError: the plan cannot be launched as asked (e.g. parallel sequences or a
            draft model on llama-cpp-python).
    """
    from localctl.backends import backend_argv

    o = overrides or LaunchOverrides()
    if hw is not None and hw.profile and o.threads is None:
        o = replace(o, threads=hw.physical_cores)
    options = launch_options(path, name, plan, config, hw, o)
    return backend_argv(plan.backend, options, options.host, options.port)


def draft_file(
    ref: str | None,
    name: str,
    path: Path,
    config: Config,
    *,
    pull: bool = True,
    progress: Callable[[PullProgress], None] | None = None,
) -> Path | None:
    """The draft model for speculative decoding, checked against the model's vocabulary.

    Args:
        ref: ``--draft`` (a GGUF path or a catalog ref); None takes the config's
            ``[drafts]`` entry for ``name`` (or for the file's name), if any.
        name: The served model's name (``model-id:QUANT`` or the file name).
        path: The served model's file (its vocabulary is the reference).
        config: For the ``[drafts]`` table.
        pull: Download a catalog draft that is not on disk (else refuse).
        progress: Download progress.

    Raises:
        BadInputError: the draft's vocabulary differs, or it is not on disk and ``pull``
            is off.
    """
    from localctl.draft import check_vocab
    from localctl.library import fetch_target, resolve

    ref = ref or config.drafts.get(name) or config.drafts.get(path.name)
    if not ref:
        return None
    if pull:
        target = fetch_target(ref, config, progress=progress)
    else:
        target = resolve(ref, config)
        if target.local_path is None:
            raise BadInputError(f"draft {target.label} is not downloaded: localctl pull {ref}")
    draft = target.local_path
    assert draft is not None
    if path.is_file():
        check_vocab(path, draft)
    return draft


def with_draft(
    name: str,
    path: Path,
    plan: MemoryPlan,
    config: Config,
    hw: Hardware,
    *,
    ref: str | None = None,
    pull: bool = False,
    progress: Callable[[PullProgress], None] | None = None,
) -> tuple[MemoryPlan, Path | None]:
    """``plan`` with the draft model added (``ref``: ``--draft``; None: the config's
    ``[drafts]`` entry for ``name`` or the file's name), and the draft's file;
    ``(plan, None)`` when the model has no draft. Every face plans a draft here.

    Raises:
        BadInputError: the draft is not on disk (and not pulled) or cannot draft for the
            model.
    """
    from localctl.draft import plan_with_draft

    draft = draft_file(ref, name, path, config, pull=pull, progress=progress)
    if draft is None or plan.draft is not None:  # none, or added already
        return plan, draft
    return plan_with_draft(plan, draft, hw), draft


def with_configured_draft(
    name: str, path: Path, plan: MemoryPlan | None, config: Config, hw: Hardware | None
) -> tuple[MemoryPlan | None, Path | None]:
    """``plan`` with the config's ``[drafts]`` entry for ``name`` (or the file's name)
    added, and the draft's file (see :func:`with_draft`); a row not planned yet keeps
    None and still learns its draft."""
    if plan is None or hw is None:
        return plan, draft_file(None, name, path, config, pull=False)
    return with_draft(name, path, plan, config, hw)


def launch_command(
    path: Path | None,
    name: str,
    memory_plan: MemoryPlan,
    config: Config,
    hw: Hardware,
    draft: Path | None = None,
) -> tuple[list[str] | None, str]:
    """The server command ``serve`` would run for the plan, or None and why not.

    Args:
        path: The model file (a catalog quant not yet downloaded: its file name); None
            for a remote file, which ``serve`` cannot run without downloading.
    """
    from localctl.errors import LocalctlError

    if path is None:
        return None, "download the file first (serve runs local files)"
    try:
        overrides = LaunchOverrides(draft_path=draft)
        return plan_command(path, name, memory_plan, config, hw, overrides), ""
    except LocalctlError as error:
        return None, str(error)


def launch_summary(options: ServerOptions, plan: MemoryPlan | None = None) -> str:
    """One line of what a server is started with (GPU layers out of the plan's total)."""
    layers = f"{options.gpu_layers}" if options.gpu_layers is not None else "all"
    if plan is not None:
        layers += f"/{plan.n_layers}"
    experts = f", experts of {options.cpu_moe_layers} in RAM" if options.cpu_moe_layers else ""
    return f"ctx {options.ctx}, {layers} GPU layers{experts}, kv {options.kv_type}"


class ServingSession:
    """One model server localctl runs: the process, its run file and its plan.

    Create it with :func:`launch_options`' result, then :meth:`start` (or
    :meth:`start_sync`). :meth:`stop` is safe to call at any time, also twice.
    """

    def __init__(self, options: ServerOptions, plan: MemoryPlan | None = None) -> None:
        """Prepare a session (nothing starts yet).

        Raises:
            BadInputError: the backend is unknown or not installed.
        """
        self.options = options
        self.plan = plan
        """The plan the server was launched from (None when there was none)."""
        self.server = ModelServer(options)
        """The supervised process."""
        self.ready_s = 0.0
        """Seconds from launch until the server answered."""

    # -- facts -------------------------------------------------------------------

    @property
    def name(self) -> str:
        """Model name (``model-id:QUANT`` or the file name)."""
        return self.options.model_name

    @property
    def url(self) -> str:
        """Base URL without ``/v1``."""
        return self.server.url

    @property
    def api_key(self) -> str:
        """The key the server requires (random per run unless one was given)."""
        return self.server.api_key

    @property
    def pid(self) -> int | None:
        """Process id (None before start)."""
        return self.server.pid

    @property
    def backend(self) -> str:
        """``llama-server`` or ``llama-cpp-python``."""
        return self.server.backend

    @property
    def port_note(self) -> str:
        """Why the port differs from the one asked for (empty when it does not)."""
        return self.server.port_note

    @property
    def crashed(self) -> bool:
        """True once the process ended without being asked to."""
        return self.server.status is ServerStatus.CRASHED

    @property
    def exit_reason(self) -> str:
        """How the process ended, in plain words (empty while it runs)."""
        return self.server.exit_reason

    def log_tail(self, n: int = 40) -> list[str]:
        """The last ``n`` lines of the server's log."""
        return self.server.log_tail(n)

    def chat_endpoint(self) -> ChatEndpoint:
        """Where to chat with this server."""
        return ChatEndpoint(self.url, self.api_key, self.name, n_ctx=self.options.ctx)

    # -- life cycle -----------------------------------------------------------------

    def start_sync(self, timeout_s: float = DEFAULT_START_TIMEOUT_S) -> None:
        """Launch and block until the server answers; then write its run file.

        Raises:
            ServerError: it could not start (the message carries the cause and log tail).
            BadInputError: the model file is missing.
        """
        started = time.monotonic()
        self.server.start_sync(timeout_s)
        self.ready_s = time.monotonic() - started
        write_run_file(
            RunInfo(
                self.url,
                self.api_key,
                self.pid or 0,
                self.name,
                self.backend,
                time.time(),
                n_ctx=self.options.ctx,
            )
        )

    async def start(self, timeout_s: float = DEFAULT_START_TIMEOUT_S) -> None:
        """:meth:`start_sync` in a thread."""
        await asyncio.to_thread(self.start_sync, timeout_s)

    def stop_sync(self, grace_s: float = 10.0) -> None:
        """Stop the process (SIGTERM, then SIGKILL after ``grace_s``) and forget its run file."""
        self.server.stop_sync(grace_s)
        remove_run_file(self.url, self.pid)

    async def stop(self) -> None:
        """:meth:`stop_sync` in a thread."""
        await asyncio.to_thread(self.stop_sync)

    def wait_exited(self, timeout_s: float | None = None) -> bool:
        """Block up to ``timeout_s``; True once the process has ended."""
        return self.server.wait_exited(timeout_s)

    async def wait_exit(self) -> str:
        """Wait until the process ends; return why, in plain words.

        A crashed server's run file is removed (a stopped one's by :meth:`stop`).
        """
        reason = await self.server.wait_exit()
        if self.crashed:
            remove_run_file(self.url, self.pid)
        return reason

    def restarted(self) -> ServingSession:
        """A fresh, not yet started session with the same options and plan."""
        return ServingSession(self.options, self.plan)

    # -- memory ------------------------------------------------------------------------

    def memory_record(self) -> dict[str, object] | None:
        """The plan beside llama.cpp's buffers and the measured RSS (also stored).

        Blocking (reads the process's memory): call it from a thread.

        Returns:
            The record (see :func:`localctl.server.measure_memory`), None without a plan.
        """
        if self.plan is None:
            return None
        return measure_memory(self.server, self.plan, self.ready_s)

    def memory_report(self) -> str:
        """:meth:`memory_record` as a small table ('' without a plan); blocking."""
        record = self.memory_record()
        return format_memory_report(record) if record is not None else ""


@dataclass(frozen=True, slots=True)
class RemoteEndpoint:
    """An OpenAI-compatible server localctl did not start (vLLM, Ollama, another box)."""

    url: str
    """Base URL without ``/v1``."""
    api_key: str | None
    """Bearer key; None sends none."""

    @classmethod
    async def attach(
        cls, url: str, api_key: str | None = None, timeout_s: float = ATTACH_TIMEOUT_S
    ) -> RemoteEndpoint:
        """Check that ``url`` answers ``/v1/models``; return it as an endpoint.

        Args:
            url: Base URL, with or without ``/v1``.
            api_key: Bearer key; None uses the key of a server localctl started at
                ``url``, if any, else sends none.
            timeout_s: How long to wait for an answer.

        Raises:
            BadInputError: the URL is not http(s).
            ServerError: it does not answer within ``timeout_s``.
        """
        base = base_url(url.strip())
        if not base.startswith(("http://", "https://")):
            raise BadInputError(f"not an http(s) URL: {url!r}")
        key = api_key if api_key is not None else find_api_key(base)
        endpoint = cls(base, key)
        await endpoint.wait_ready(timeout_s)
        return endpoint

    async def wait_ready(self, timeout_s: float = ATTACH_TIMEOUT_S) -> None:
        """Return once ``/v1/models`` answers (401/403 count: the server is there).

        Raises:
            ServerError: no answer within ``timeout_s``.
        """
        import httpx

        from localctl.auth import bearer_headers

        deadline = time.monotonic() + timeout_s
        refused_since = 0.0
        async with httpx.AsyncClient(timeout=2.0) as client:
            while True:
                try:
                    answer = await client.get(
                        f"{self.url}/v1/models", headers=bearer_headers(self.api_key)
                    )
                    if answer.status_code in (200, 401, 403):
                        return
                except httpx.ConnectError:
                    # Refused (or unreachable) at once, again and again: nothing listens there,
                    # and waiting the whole timeout would only delay saying so.
                    refused_since = refused_since or time.monotonic()
                    if time.monotonic() - refused_since >= REFUSED_GRACE_S:
                        raise ServerError(
                            f"cannot connect to {self.url}: connection refused (nothing listens "
                            "there; it did not answer /v1/models)"
                        ) from None
                except httpx.HTTPError:
                    pass
                if time.monotonic() >= deadline:
                    raise ServerError(
                        f"the server did not answer {self.url}/v1/models within {timeout_s:.0f} s"
                    )
                await asyncio.sleep(0.2)

    async def model_name(self) -> str:
        """The first model id the server lists, or ``"default"``."""
        return await served_model_name(self.url, self.api_key)

    def chat_endpoint(self, model: str) -> ChatEndpoint:
        """Where to chat with ``model`` on this server."""
        return ChatEndpoint(self.url, self.api_key, model)

"""The one place the TUI calls the localctl engine.

Every function here is plain (blocking or async) code with no Textual import;
screens wrap the blocking ones in thread workers. Keeping the calls in one module
means an engine API change touches one file of the UI.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from tui.rows import CatalogRow
from tui.values import MeterSnapshot, SystemReading

if TYPE_CHECKING:
    from pathlib import Path

    from catalog.schema import ModelSpec, QuantSpec
    from localctl.config import Config
    from localctl.hardware import Hardware
    from localctl.hub import PullProgress, PullResult
    from localctl.plan import MemoryPlan


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
    from catalog.loader import load_catalog
    from localctl import paths

    return list(load_catalog(paths.user_catalog_file()).models)


def quality_note(quant: QuantSpec) -> str:
    """The quant table's quality note for ``quant``, or an empty string."""
    try:
        from catalog.quants import QUANT_TYPES
    except ImportError:
        return ""
    spec = QUANT_TYPES.get(quant.name.upper())
    return spec.quality if spec is not None else ""


def find_local(model: ModelSpec, quant: QuantSpec) -> Path | None:
    """First file of ``model`` x ``quant`` when it is all on disk."""
    from localctl import inventory

    return inventory.find_local(model, quant)


def plan_row(row: CatalogRow, hw: Hardware, *, ctx: int, kv_type: str, parallel: int) -> CatalogRow:
    """``row`` with its plan computed at ``ctx`` (or the error that stopped it)."""
    from localctl.errors import LocalctlError
    from localctl.plan import plan_for_model

    try:
        plan: MemoryPlan = plan_for_model(
            row.model, row.quant.name, hw, ctx=ctx, parallel=parallel, kv_type=kv_type
        )
    except (LocalctlError, NotImplementedError, ValueError) as error:
        return replace(row, plan=None, plan_error=str(error) or type(error).__name__)
    return replace(row, plan=plan, plan_error="")


def build_rows(models: list[ModelSpec]) -> list[CatalogRow]:
    """Unplanned rows for every model x quant, with quality notes and local files."""
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
    return rows


def plan_rows(
    rows: list[CatalogRow],
    hw: Hardware,
    *,
    ctx: int,
    kv_type: str,
    parallel: int,
    cancel: threading.Event | None = None,
) -> list[CatalogRow]:
    """Every row planned at ``ctx``; stops early (returning what it has) when ``cancel`` is set."""
    planned = []
    for row in rows:
        if cancel is not None and cancel.is_set():
            break
        planned.append(plan_row(row, hw, ctx=ctx, kv_type=kv_type, parallel=parallel))
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


# -- chat ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChatEndpoint:
    """An OpenAI-compatible server to chat with."""

    url: str
    """Base URL without ``/v1``."""
    api_key: str | None
    model: str
    """Model name shown and sent in requests."""


@dataclass(frozen=True, slots=True)
class ModelSettings:
    """Chat settings remembered per model."""

    model: str = ""
    system_prompt: str = ""
    temperature: float = 0.7
    max_tokens: int = 0
    """0 means no limit."""


@dataclass(frozen=True, slots=True)
class ReplyFigures:
    """Measured figures of one reply."""

    prompt_tokens: int
    completion_tokens: int
    ttft_s: float
    prompt_tok_s: float
    gen_tok_s: float
    total_s: float


@dataclass(frozen=True, slots=True)
class ConversationInfo:
    """A saved conversation in the picker."""

    id: str
    title: str


def default_model_settings(config: Config, model: str = "") -> ModelSettings:
    """Settings for a model nobody has tuned yet (system prompt from the config)."""
    return ModelSettings(model=model, system_prompt=config.system_prompt)


def _model_settings_file() -> Path:
    from localctl import paths

    return paths.data_dir() / "tui-model-settings.json"


def model_settings_for(config: Config, model: str) -> ModelSettings:
    """The remembered settings of ``model``, or the defaults."""
    import json

    try:
        table = json.loads(_model_settings_file().read_text(encoding="utf-8"))
        values = table[model]
        return ModelSettings(
            model=model,
            system_prompt=str(values.get("system_prompt", config.system_prompt)),
            temperature=float(values.get("temperature", 0.7)),
            max_tokens=int(values.get("max_tokens", 0)),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return default_model_settings(config, model)


def remember_model_settings(settings: ModelSettings) -> None:
    """Store ``settings`` for its model (0600 JSON in the data folder)."""
    import json

    from localctl.config import atomic_write

    path = _model_settings_file()
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(table, dict):
            table = {}
    except (OSError, ValueError):
        table = {}
    table[settings.model] = {
        "system_prompt": settings.system_prompt,
        "temperature": settings.temperature,
        "max_tokens": settings.max_tokens,
    }
    atomic_write(path, json.dumps(table, indent=2).encode("utf-8"))


def request_messages(
    messages: list[dict[str, str]], settings: ModelSettings
) -> list[dict[str, str]]:
    """The messages sent: the system prompt (when set) then the conversation."""
    if settings.system_prompt.strip():
        return [{"role": "system", "content": settings.system_prompt}, *messages]
    return list(messages)


async def stream_reply(
    endpoint: ChatEndpoint, messages: list[dict[str, str]], settings: ModelSettings
) -> AsyncIterator[str | ReplyFigures]:
    """Stream one reply: text deltas as ``str``, then one ``ReplyFigures``.

    Cancelling the consuming task closes the connection, which stops generation.

    Raises:
        ChatError: the request failed or the stream broke.
    """
    from localctl import chat

    async for event in chat.stream_chat(
        endpoint.url,
        request_messages(messages, settings),
        api_key=endpoint.api_key,
        model=endpoint.model,
        temperature=settings.temperature,
        max_tokens=settings.max_tokens or None,
    ):
        if isinstance(event, chat.TokenDelta):
            yield event.text
        else:
            reply = event.reply
            if reply.status == "interrupted" and not reply.text:
                from localctl.errors import ChatError

                raise ChatError(reply.error or "the server closed the stream")
            metrics = reply.metrics
            yield ReplyFigures(
                prompt_tokens=metrics.prompt_tokens,
                completion_tokens=metrics.completion_tokens,
                ttft_s=metrics.ttft_s,
                prompt_tok_s=metrics.prompt_tok_s,
                gen_tok_s=metrics.gen_tok_s,
                total_s=metrics.total_s,
            )


# -- meters ---------------------------------------------------------------------


class SessionMeters:
    """Session totals and the derived costs shown by the meters pane."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._snapshot = MeterSnapshot()
        self._gen_s = 0.0

    def configure(self, config: Config) -> None:
        """Use ``config``'s API models and prices from the next reply on."""
        self._config = config

    def add(self, figures: ReplyFigures) -> MeterSnapshot:
        """Fold one reply into the session; returns what the meters show now."""
        snap = self._snapshot
        prompt = snap.session_prompt_tokens + figures.prompt_tokens
        completion = snap.session_completion_tokens + figures.completion_tokens
        self._gen_s += figures.total_s
        watts = self._config.cost.power_w or ESTIMATED_POWER_W
        energy_wh = watts * self._gen_s / 3600
        self._snapshot = MeterSnapshot(
            gen_tok_s=figures.gen_tok_s,
            prompt_tok_s=figures.prompt_tok_s,
            ttft_s=figures.ttft_s,
            session_prompt_tokens=prompt,
            session_completion_tokens=completion,
            replies=snap.replies + 1,
            gen_tok_s_history=(*snap.gen_tok_s_history, figures.gen_tok_s)[-120:],
            api_equivalent_usd=api_equivalent(prompt, completion, self._config.cost.api_models),
            energy_usd=energy_wh / 1000 * self._config.cost.electricity_usd_per_kwh,
            energy_wh=energy_wh,
        )
        return self._snapshot


ESTIMATED_POWER_W = 65.0
"""Wattage assumed for the energy meter when the config gives none."""


def api_equivalent(prompt: int, completion: int, models: tuple[str, ...]) -> dict[str, float]:
    """What ``prompt`` + ``completion`` tokens would cost on each API model, in USD."""
    try:
        from localctl import cost
    except ImportError:
        return {}
    return dict(cost.api_equivalent(prompt, completion, models=list(models)))


def read_system() -> SystemReading:
    """CPU, RAM and VRAM use now (blocking; call from a thread)."""
    import psutil

    memory = psutil.virtual_memory()
    vram_used = vram_total = 0
    try:
        from localctl.hardware import gpu_usage

        for gpu in gpu_usage():
            vram_used += gpu.used_bytes
            vram_total += gpu.total_bytes
    except (ImportError, NotImplementedError, AttributeError):
        pass
    return SystemReading(
        cpu_percent=psutil.cpu_percent(interval=None),
        ram_used_bytes=memory.total - memory.available,
        ram_total_bytes=memory.total,
        vram_used_bytes=vram_used,
        vram_total_bytes=vram_total,
    )


def describe_os_error(error: OSError) -> str:
    """One line for a filesystem failure (disk full named as such)."""
    import errno

    if error.errno == errno.ENOSPC:
        return f"the disk is full ({error.filename or 'download folder'})"
    return f"{error.strerror or error} ({error.filename or ''})".strip()


# -- conversations ----------------------------------------------------------------


def save_conversation(
    conversation_id: str | None,
    endpoint: ChatEndpoint | None,
    settings: ModelSettings,
    history: list[dict[str, str]],
) -> str | None:
    """Save ``history`` (0600 file); returns the conversation id (None when nothing to save)."""
    if not history:
        return conversation_id
    try:
        from localctl import conversations
    except ImportError:
        return conversation_id

    return conversations.save_messages(
        conversation_id,
        request_messages(history, settings),
        model=endpoint.model if endpoint is not None else "",
    )


def list_conversations() -> list[ConversationInfo]:
    """Saved conversations, newest first."""
    try:
        from localctl import conversations
    except ImportError:
        return []

    found, _warnings = conversations.list_conversations()
    return [ConversationInfo(c.id, c.title) for c in found]


def load_conversation(conversation_id: str) -> list[dict[str, str]]:
    """Messages of a saved conversation.

    Raises:
        ChatError: missing or unreadable conversation.
    """
    from localctl import conversations

    return list(conversations.load_messages(conversation_id))


# -- server -----------------------------------------------------------------------


class ServerHandle(Protocol):
    """What the app needs of a running model server."""

    @property
    def url(self) -> str:
        """Base URL without ``/v1``."""

    @property
    def api_key(self) -> str | None:
        """Key the server requires."""

    def log_tail(self, n: int) -> str:
        """Last ``n`` lines of the server log."""

    async def stop(self) -> None:
        """Stop the server and wait until it is gone."""

    async def wait_exit(self) -> int | None:
        """Return the exit code once the process ends."""


async def start_server(
    path: Path, row: CatalogRow, plan: MemoryPlan | None, config: Config
) -> ServerHandle:
    """Start a server for ``path`` with arguments from ``plan``; returns once it answers.

    Raises:
        ServerError: it could not start (the message carries the cause).
    """
    try:
        from localctl import server
    except ImportError:
        return await _InterimServer.start(path, plan, config)
    return await server.start_for_tui(path, row.key, plan, config)  # type: ignore[attr-defined,no-any-return]


class _InterimServer:
    """``python -m llama_cpp.server`` in its own process group; used until localctl.server lands."""

    def __init__(self, process: asyncio.subprocess.Process, url: str, key: str, log: Path) -> None:
        self._process = process
        self.url = url
        self.api_key: str | None = key
        self._log = log

    @classmethod
    async def start(cls, path: Path, plan: MemoryPlan | None, config: Config) -> _InterimServer:
        import os
        import secrets
        import socket
        import sys
        import time

        import httpx

        from localctl import paths
        from localctl.errors import ServerError

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        key = secrets.token_urlsafe(24)
        threads = config.server.threads or max(1, (os.cpu_count() or 2))
        argv = [
            sys.executable, "-m", "llama_cpp.server", "--model", str(path),
            "--host", "127.0.0.1", "--port", str(port), "--api_key", key,
            "--n_ctx", str(plan.ctx if plan else config.default_ctx),
            "--n_gpu_layers", str(plan.gpu_layers if plan else 0),
            "--n_threads", str(threads), "--logits_all", "false",
        ]  # fmt: skip
        log = paths.ensure_private_dir(paths.logs_dir()) / f"tui-server-{port}.log"
        handle = log.open("wb")
        process = await asyncio.create_subprocess_exec(
            *argv, stdout=handle, stderr=handle, stdin=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        handle.close()
        server = cls(process, f"http://127.0.0.1:{port}", key, log)
        deadline = time.monotonic() + 120
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                if process.returncode is not None:
                    raise ServerError(f"the server exited with code {process.returncode}")
                try:
                    answer = await client.get(
                        f"{server.url}/v1/models", headers={"Authorization": f"Bearer {key}"}
                    )
                    if answer.status_code == 200:
                        return server
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        await server.stop()
        raise ServerError("the server did not answer within 120 s")

    def log_tail(self, n: int) -> str:
        try:
            return "\n".join(self._log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    async def stop(self) -> None:
        import os
        import signal

        if self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(self._process.wait(), 10)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._process.pid, signal.SIGKILL)
                await self._process.wait()

    async def wait_exit(self) -> int | None:
        return await self._process.wait()

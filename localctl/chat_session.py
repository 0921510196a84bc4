"""A chat session: the conversation so far, its settings, its file, its power and its meters.

One :class:`ChatSession` is what ``localctl chat`` and the TUI's chat screen talk through;
a face only reads prompts and shows the events. ::

    session = ChatSession(config, ChatEndpoint(url, api_key=None, model="local"))
    async for event in session.send("Hello", cancel):
        if isinstance(event, TokenDelta):
            show(event.text)
        elif isinstance(event, SavingStopped):
            warn(event.reason)
        else:  # TurnEnded: the reply, the power it drew, the meters after it
            show_meters(event.meters)

What a turn does, in order: the prompt joins the history and the conversation file (created
on the first prompt: append-only JSONL, mode 0600, see :mod:`localctl.conversations`);
the reply streams from the server with the system prompt and sampling settings of the model,
each piece appended to the file (flushed every 0.25 s, so a kill loses at most that);
power is sampled every :data:`POWER_SAMPLE_S` while it streams; at the end the reply joins
the history, the file gets its end record (``complete``, ``stopped`` or ``interrupted``)
and the session meters count it, priced with the configured API models and electricity.

Stopping: set ``cancel`` (the stream ends at the next chunk, the partial reply is kept,
status ``stopped``), or cancel the task consuming :meth:`ChatSession.send` and close the
iterator (``contextlib.aclosing``): the partial reply is then recorded as ``stopped`` too.
"""

from __future__ import annotations

import json
import time
from contextlib import aclosing
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from localctl import paths
from localctl.chat import ReplyDone, TokenDelta, stream_chat
from localctl.conversations import Conversation, open_conversation
from localctl.errors import ChatError
from localctl.meters import PowerMeter, SessionMeters, mean_power

if TYPE_CHECKING:
    import asyncio
    from collections.abc import AsyncGenerator, Callable
    from pathlib import Path

    from localctl.chat import Reply
    from localctl.config import Config
    from localctl.meters import MeterSnapshot, PowerReading

POWER_SAMPLE_S = 0.5
"""How often power is sampled while a reply streams (the mean prices its energy)."""

DEFAULT_TEMPERATURE = 0.7
"""Sampling temperature of a model nobody has tuned yet."""

MODEL_SETTINGS_FILE = "tui-model-settings.json"
"""File in the data folder holding the remembered settings of each model (name kept so
settings saved by earlier versions are still found)."""

TITLE_CHARS = 60
"""A conversation is titled by the first characters of its first prompt."""


@dataclass(frozen=True, slots=True)
class ChatEndpoint:
    """An OpenAI-compatible server to chat with."""

    url: str
    """Base URL, with or without ``/v1``."""
    api_key: str | None
    """Bearer key; None sends the key of a server localctl started at ``url``, if any."""
    model: str
    """Model name shown and sent in requests."""


@dataclass(frozen=True, slots=True)
class ModelSettings:
    """System prompt and sampling settings of one model."""

    model: str = ""
    system_prompt: str = ""
    """Sent before the conversation when not blank."""
    temperature: float | None = DEFAULT_TEMPERATURE
    """None leaves it to the server."""
    max_tokens: int = 0
    """Cap on a reply's tokens; 0 means no limit."""
    seed: int | None = None
    """Sampling seed; None leaves it to the server."""


@dataclass(frozen=True, slots=True)
class SavingStopped:
    """The conversation file could not be written; the chat goes on unsaved."""

    reason: str
    """One line fit for the user."""


@dataclass(frozen=True, slots=True)
class TurnEnded:
    """The last event of a turn."""

    reply: Reply
    """The reply (its ``status`` says whether it completed, was stopped or interrupted)."""
    power: PowerReading
    """Mean power drawn while it streamed, and its source."""
    meters: MeterSnapshot
    """The session meters after this reply."""

    @property
    def failed(self) -> bool:
        """True when the stream broke before any text came (nothing was counted)."""
        return self.reply.status == "interrupted" and not self.reply.text


ChatSessionEvent = TokenDelta | SavingStopped | TurnEnded


def _model_settings_path() -> Path:
    return paths.data_dir() / MODEL_SETTINGS_FILE


def model_settings_for(model: str, system_prompt: str = "") -> ModelSettings:
    """The remembered settings of ``model``, or the defaults.

    Args:
        model: Model name (as served).
        system_prompt: System prompt of a model with none remembered (the config's).
    """
    defaults = ModelSettings(model=model, system_prompt=system_prompt)
    try:
        values = json.loads(_model_settings_path().read_text(encoding="utf-8"))[model]
        temperature = values.get("temperature", DEFAULT_TEMPERATURE)
        return ModelSettings(
            model=model,
            system_prompt=str(values.get("system_prompt", system_prompt)),
            temperature=None if temperature is None else float(temperature),
            max_tokens=int(values.get("max_tokens", 0)),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return defaults


def remember_model_settings(settings: ModelSettings) -> None:
    """Store ``settings`` for its model (0600 JSON in the data folder, written atomically).

    Raises:
        OSError: the data folder cannot be written.
    """
    from localctl.config import atomic_write

    path = _model_settings_path()
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


@dataclass(slots=True)
class _Turn:
    """One reply in flight: its text so far and the power samples taken."""

    parts: list[str] = field(default_factory=list)
    readings: list[PowerReading] = field(default_factory=list)
    next_sample: float = 0.0


class ChatSession:
    """History, settings, conversation file, power sampling and meters of one chat.

    Not thread-safe: use it from one event loop (one turn at a time).
    """

    def __init__(
        self,
        config: Config,
        endpoint: ChatEndpoint | None = None,
        settings: ModelSettings | None = None,
        *,
        save: bool = True,
        power_meter: PowerMeter | None = None,
    ) -> None:
        """Start an empty session.

        Args:
            config: Prices, electricity, configured watts and the default system prompt.
            endpoint: The server to chat with; None until one is connected.
            settings: Settings to use; None loads the endpoint model's remembered ones.
            save: Write the conversation to disk (``False``: ``--no-save``).
            power_meter: Where watts are read; None reads this machine (NVML, RAPL,
                else ``[cost] power_w``).
        """
        self._config = config
        self._save_enabled = save
        self.endpoint: ChatEndpoint | None = None
        """Where replies come from (None: no server)."""
        self.settings = settings or ModelSettings(system_prompt=config.system_prompt)
        """System prompt and sampling settings in force."""
        self.history: list[dict[str, str]] = []
        """The conversation so far as OpenAI-style messages, without the system prompt."""
        self.conversation: Conversation | None = None
        """The file being written (None before the first prompt, or when not saving)."""
        self.totals = SessionMeters()
        """Token, time and energy totals of the replies so far."""
        self._power_meter = power_meter or PowerMeter(config.cost.power_w or None)
        if endpoint is not None:
            self.connect(endpoint, load_settings=settings is None)

    # -- configuration ------------------------------------------------------------

    def configure(self, config: Config) -> None:
        """Use ``config``'s prices, electricity and watts from the next reply on."""
        self._config = config
        self._power_meter = PowerMeter(config.cost.power_w or None)

    def connect(self, endpoint: ChatEndpoint | None, *, load_settings: bool = True) -> None:
        """Chat with ``endpoint`` from now on (None: no server); the history is kept.

        Args:
            endpoint: The server, or None.
            load_settings: Switch to the remembered settings of the endpoint's model.
        """
        self.endpoint = endpoint
        if endpoint is not None and load_settings:
            self.settings = model_settings_for(endpoint.model, self._config.system_prompt)

    def use_settings(self, settings: ModelSettings, *, remember: bool = True) -> None:
        """Use ``settings`` from the next reply on; ``remember`` stores them for the model.

        Raises:
            OSError: they could not be stored (they are in force anyway).
        """
        self.settings = settings
        if remember:
            remember_model_settings(settings)

    @property
    def meters(self) -> MeterSnapshot:
        """What the meters show now (the served model's hosted price beside the APIs)."""
        model = self.endpoint.model if self.endpoint is not None else ""
        return self.totals.snapshot(self._config.cost, model)

    # -- conversations ---------------------------------------------------------------

    def new_conversation(self) -> None:
        """Start an empty conversation; the current one stays saved as it is."""
        self.history = []
        self.conversation = None

    def resume(self, conversation_id: str) -> None:
        """Continue saved conversation ``conversation_id``: its turns become the history and
        new turns append to its file.

        Raises:
            ChatError: no such conversation, or it is unreadable.
        """
        conversation = open_conversation(conversation_id)
        self.conversation = conversation if self._save_enabled else None
        self.history = [
            {"role": m["role"], "content": m["content"]}
            for m in conversation.messages
            if m["role"] in ("user", "assistant")
        ]

    def _write(
        self, write: Callable[[Conversation], None], *, first_prompt: str | None = None
    ) -> SavingStopped | None:
        """Append to the conversation file, creating it for ``first_prompt``.

        Returns:
            A :class:`SavingStopped` when it failed (saving then stops), else None.
        """
        if self.conversation is None and first_prompt is not None and self._save_enabled:
            try:
                conversation = Conversation.new(title=first_prompt.strip()[:TITLE_CHARS])
                if self.settings.system_prompt.strip():
                    conversation.add("system", self.settings.system_prompt)
            except OSError as error:
                self._save_enabled = False
                return SavingStopped(f"conversation not saved: {error}")
            self.conversation = conversation
        if self.conversation is None:
            return None
        try:
            write(self.conversation)
        except OSError as error:
            self.conversation = None
            self._save_enabled = False
            return SavingStopped(f"conversation no longer saved: {error}")
        return None

    # -- turns -------------------------------------------------------------------------

    def request_messages(self) -> list[dict[str, str]]:
        """The messages a reply is asked for: the system prompt (when set), then the history."""
        if self.settings.system_prompt.strip():
            return [{"role": "system", "content": self.settings.system_prompt}, *self.history]
        return list(self.history)

    def _sample_power(self, turn: _Turn, *, force: bool = False) -> None:
        now = time.monotonic()
        if force or now >= turn.next_sample:
            turn.readings.append(self._power_meter.read())
            turn.next_sample = now + POWER_SAMPLE_S

    def _end(self, turn: _Turn, text: str, status: str) -> SavingStopped | None:
        """Close the turn: the reply joins the history and the file gets its end record."""
        if text:
            self.history.append({"role": "assistant", "content": text})
        return self._write(lambda c: c.end_reply(text, status))

    async def send(
        self, prompt: str, cancel: asyncio.Event | None = None
    ) -> AsyncGenerator[ChatSessionEvent, None]:
        """Ask for a reply to ``prompt``; stream it.

        Args:
            prompt: The user's message.
            cancel: Set it to stop the reply; the partial text is kept (status ``stopped``).

        Yields:
            :class:`~localctl.chat.TokenDelta` pieces, a :class:`SavingStopped` if the file
            cannot be written, then one :class:`TurnEnded`.

        Raises:
            ChatError: no server is connected, or it cannot be reached, refuses the request
                or sends an error; the partial reply is recorded as ``interrupted`` first.
        """
        endpoint = self.endpoint
        if endpoint is None:
            raise ChatError("no server to chat with")
        settings = self.settings
        self.history.append({"role": "user", "content": prompt})
        messages = self.request_messages()
        notice = self._write(lambda c: c.add("user", prompt), first_prompt=prompt)
        if notice is not None:
            yield notice
        turn = _Turn()
        self._power_meter.read()  # starts the RAPL interval at the request
        turn.next_sample = time.monotonic() + POWER_SAMPLE_S
        ended = False
        reply: Reply | None = None
        stream = stream_chat(
            endpoint.url,
            messages,
            api_key=endpoint.api_key,
            model=endpoint.model,
            max_tokens=settings.max_tokens or None,
            temperature=settings.temperature,
            seed=settings.seed,
            cancel=cancel,
        )
        try:
            async with aclosing(stream):
                async for event in stream:
                    if isinstance(event, ReplyDone):
                        reply = event.reply
                        continue
                    text = event.text
                    turn.parts.append(text)
                    notice = self._write(partial(Conversation.delta, text=text))
                    self._sample_power(turn)
                    yield event
                    if notice is not None:
                        yield notice
            if reply is None:
                raise ChatError("the stream ended without a reply")
        except ChatError:
            ended = True
            self._end(turn, "".join(turn.parts), "interrupted")
            raise
        finally:
            if not ended and reply is None:  # the consumer was cancelled or stopped reading
                ended = True
                self._end(turn, "".join(turn.parts), "stopped")
        self._sample_power(turn, force=True)
        power = mean_power(turn.readings)
        if reply.text or reply.status != "interrupted":
            self.totals.add(reply.metrics, watts=power.watts, power_source=power.source)
        notice = self._end(turn, reply.text, reply.status)
        if notice is not None:
            yield notice
        yield TurnEnded(reply, power, self.meters)

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

Context: when the server's context per sequence is known (``ChatEndpoint.n_ctx``, else
llama-server's ``/props`` or the run file of a server localctl started), every turn knows
how full it is (``context_tokens`` of ``n_ctx``). Before a request that would not fit, the
``context_overflow`` setting decides: ``drop-oldest`` drops the oldest turns (a
:class:`ContextTrimmed` event says how many) or ``stop`` refuses with
:class:`~localctl.errors.ContextOverflowError` naming both numbers; a prompt that does not fit
alone is always refused. Thinking streams as :class:`~localctl.chat.ThinkingDelta`, kept out of
the history sent back to the model.

Stopping: set ``cancel`` (the stream ends at the next chunk, the partial reply is kept,
status ``stopped``), or cancel the task consuming :meth:`ChatSession.send` and close the
iterator (``contextlib.aclosing``): the partial reply is then recorded as ``stopped`` too.
"""

from __future__ import annotations

import dataclasses
import time
from contextlib import aclosing
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from localctl.chat import prompt_tokens, stream_chat
from localctl.conversations import Conversation, open_conversation
from localctl.errors import ChatError, ContextOverflowError
from localctl.meters import PowerMeter, SessionMeters, mean_power
from localctl.model_settings import ModelSettings as ModelSettings  # the type of .settings
from localctl.model_settings import model_settings_for, remember_model_settings
from localctl.replies import PromptProgress, ReplyDone, ReplyMetrics, ThinkingDelta, TokenDelta

if TYPE_CHECKING:
    import asyncio
    from collections.abc import AsyncGenerator, Callable

    from localctl.config import Config
    from localctl.meters import MeterSnapshot, PowerReading
    from localctl.replies import Reply

POWER_SAMPLE_S = 0.5
"""How often power is sampled while a reply streams (the mean prices its energy)."""

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
    n_ctx: int | None = None
    """Context per sequence, when the caller knows it (None: ask the server)."""


@dataclass(frozen=True, slots=True)
class SavingStopped:
    """The conversation file could not be written; the chat goes on unsaved."""

    reason: str
    """One line fit for the user."""


@dataclass(frozen=True, slots=True)
class ContextTrimmed:
    """The oldest turns were dropped so that the request fits the context."""

    dropped_messages: int
    """Messages (user and assistant) left out of this and later requests."""
    prompt_tokens: int
    """Tokens of the request now."""
    n_ctx: int
    """The server's context per sequence."""

    def describe(self) -> str:
        """One line for the transcript."""
        return (
            f"{self.dropped_messages} oldest messages dropped to fit the context "
            f"({self.prompt_tokens:,} / {self.n_ctx:,} tokens)"
        )


@dataclass(frozen=True, slots=True)
class TurnEnded:
    """The last event of a turn."""

    reply: Reply
    """The reply (its ``status`` says whether it completed, was stopped or interrupted)."""
    power: PowerReading
    """Mean power drawn while it streamed, and its source."""
    meters: MeterSnapshot
    """The session meters after this reply."""
    context_tokens: int = 0
    """Tokens the conversation fills in the context after this reply."""
    n_ctx: int | None = None
    """The server's context per sequence (None: unknown)."""

    @property
    def failed(self) -> bool:
        """True when the stream broke before any text came (nothing was counted)."""
        return self.reply.status == "interrupted" and not self.reply.text


ChatSessionEvent = (
    TokenDelta | ThinkingDelta | PromptProgress | ContextTrimmed | SavingStopped | TurnEnded
)

REPLY_RESERVE_TOKENS = 256
"""Context left free for the reply when no ``max_tokens`` caps it."""
TEMPLATE_TOKENS_PER_MESSAGE = 16
"""Upper bound of the tokens a chat template adds around one message."""
CONTEXT_OVERFLOW = ("drop-oldest", "stop")
"""What a request that would overflow the context does (``context_overflow`` setting)."""


@dataclass(slots=True)
class _Turn:
    """One reply in flight: its text so far and the power samples taken."""

    parts: list[str] = field(default_factory=list)
    thinking: list[str] = field(default_factory=list)
    readings: list[PowerReading] = field(default_factory=list)
    next_sample: float = 0.0
    started: float = field(default_factory=time.perf_counter)
    """When the request was sent."""
    first: float | None = None
    """When the first piece of the reply (or of its thinking) arrived."""
    last: float | None = None
    """When the latest piece arrived."""
    pieces: int = 0
    """Streamed pieces so far: llama.cpp sends one token per piece."""

    def arrived(self) -> None:
        """Note one more streamed piece."""
        now = time.perf_counter()
        self.first = self.first if self.first is not None else now
        self.last = now
        self.pieces += 1

    def metrics(self, now: float) -> ReplyMetrics:
        """The reply's figures so far (tokens counted by pieces, times by the clock here)."""
        ttft = (self.first if self.first is not None else now) - self.started
        span = (self.last or now) - (self.first or now)
        return ReplyMetrics(
            ttft_s=ttft,
            prompt_tokens=0,
            prompt_tok_s=0.0,
            completion_tokens=self.pieces,
            gen_tok_s=(self.pieces - 1) / span if self.pieces > 1 and span > 0 else 0.0,
            total_s=now - self.started,
            token_count_source="chunks",
        )


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
        self._turn: _Turn | None = None
        """The reply streaming now (None between replies)."""
        """Token, time and energy totals of the replies so far."""
        self.context_tokens = 0
        """Tokens the conversation fills in the context after the last reply."""
        self.n_ctx: int | None = None
        """The server's context per sequence (None: unknown)."""
        self._probed = False
        self._llama_server = False
        self.read_every: Callable[[], float] | None = None
        """Once a reply's text flows, how long to wait after each piece that had to be
        waited for (None: read each piece as it comes); a display that shows text a few times
        a second sets it. Only for a llama-server, which times its own tokens (see
        :func:`~localctl.chat.stream_chat`)."""
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
        self._probed = False
        self.n_ctx = endpoint.n_ctx if endpoint is not None else None
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

    def live_meters(self) -> MeterSnapshot:
        """The meters with the reply still streaming counted as far as it got.

        While a reply streams, its tokens are its streamed pieces and its times the clock
        here (``MeterSnapshot.live``); once it ends, :attr:`meters` holds the server's
        figures. Without a reply in flight this is :attr:`meters`.
        """
        import copy

        turn = self._turn
        if turn is None or not turn.pieces:
            return self.meters
        totals = copy.deepcopy(self.totals)
        power = mean_power(turn.readings) if turn.readings else None
        totals.add(
            turn.metrics(time.perf_counter()),
            watts=power.watts if power is not None else None,
            power_source=power.source if power is not None else "estimate",
        )
        model = self.endpoint.model if self.endpoint is not None else ""
        return dataclasses.replace(
            self._with_context(totals.snapshot(self._config.cost, model)), live=True
        )

    @property
    def native_server(self) -> bool:
        """True once the endpoint answered as llama-server (``/props``): it has ``/metrics``."""
        return self._llama_server

    def _with_context(self, snapshot: MeterSnapshot) -> MeterSnapshot:
        return dataclasses.replace(snapshot, context_tokens=self.context_tokens, n_ctx=self.n_ctx)

    @property
    def meters(self) -> MeterSnapshot:
        """What the meters show now (the served model's hosted price beside the APIs)."""
        model = self.endpoint.model if self.endpoint is not None else ""
        return self._with_context(self.totals.snapshot(self._config.cost, model))

    # -- conversations ---------------------------------------------------------------

    def new_conversation(self) -> None:
        """Start an empty conversation; the current one stays saved as it is."""
        self.history = []
        self.conversation = None
        self.context_tokens = 0

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
                model = self.endpoint.model if self.endpoint is not None else ""
                conversation = Conversation.new(
                    title=first_prompt.strip()[:TITLE_CHARS], model=model
                )
                if self.settings.system_prompt.strip():
                    conversation.add("system", self.settings.system_prompt)
            except OSError as error:
                self._save_enabled = False
                return SavingStopped(f"conversation not saved: {error}")
            self.conversation = conversation
        if self.conversation is None:
            return None
        begun = self.conversation.on_disk
        try:
            write(self.conversation)
        except OSError as error:
            self.conversation = None
            self._save_enabled = False
            return SavingStopped(f"conversation {'no longer' if begun else 'not'} saved: {error}")
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
        try:
            trimmed = await self._fit_context(endpoint)
        except BaseException:
            self.history.pop()
            raise
        if trimmed is not None:
            yield trimmed
        messages = self.request_messages()
        notice = self._write(lambda c: c.add("user", prompt), first_prompt=prompt)
        if notice is not None:
            yield notice
        turn = _Turn()
        self._turn = turn
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
            progress=self._llama_server,
            n_ctx=self.n_ctx,
            read_every=self.read_every if self._llama_server else None,
        )
        try:
            async with aclosing(stream):
                async for event in stream:
                    if isinstance(event, ReplyDone):
                        reply = event.reply
                        continue
                    if isinstance(event, PromptProgress):
                        yield event
                        continue
                    if isinstance(event, ThinkingDelta):
                        turn.arrived()
                        turn.thinking.append(event.text)
                        self._sample_power(turn)
                        yield event
                        continue
                    text = event.text
                    turn.arrived()
                    turn.parts.append(text)
                    notice = self._write(partial(Conversation.delta, text=text))
                    self._sample_power(turn)
                    yield event
                    if notice is not None:
                        yield notice
            if reply is None:
                raise ChatError("the stream ended without a reply")
        except ContextOverflowError as error:
            ended = True
            self.history.pop()  # the prompt that did not fit is not kept for the next turn
            self.n_ctx = self.n_ctx or error.n_ctx
            self._end(turn, "", "interrupted")
            raise
        except ChatError:
            ended = True
            self._end(turn, "".join(turn.parts), "interrupted")
            if not turn.parts:  # nothing came back: the prompt was never answered
                self.history.pop()
            raise
        finally:
            self._turn = None
            if not ended and reply is None:  # the consumer was cancelled or stopped reading
                ended = True
                if turn.pieces:  # what it generated was generated: it counts
                    power = mean_power(turn.readings) if turn.readings else self._power_meter.read()
                    metrics = turn.metrics(time.perf_counter())
                    self.totals.add(metrics, watts=power.watts, power_source=power.source)
                self._end(turn, "".join(turn.parts), "stopped")
        self._sample_power(turn, force=True)
        power = mean_power(turn.readings)
        if reply.text or reply.status != "interrupted":
            self.totals.add(reply.metrics, watts=power.watts, power_source=power.source)
        if reply.text or reply.status != "interrupted":
            self.context_tokens = reply.metrics.context_tokens
        notice = self._end(turn, reply.text, reply.status)
        if notice is not None:
            yield notice
        yield TurnEnded(reply, power, self.meters, self.context_tokens, self.n_ctx)

    async def _probe(self, endpoint: ChatEndpoint) -> None:
        """Learn the server's context and whether it is llama-server (once per endpoint):
        one ``/props`` request, else the run file of a server localctl started."""
        if self._probed:
            return
        import httpx

        from localctl.endpoint import base_url
        from localctl.runfile import find_context

        self._probed = True
        n_ctx = None
        try:
            async with httpx.AsyncClient(timeout=5) as http:
                props = await http.get(base_url(endpoint.url) + "/props", headers=_bearer(endpoint))
                document = props.json() if props.status_code == 200 else {}
            self._llama_server = isinstance(document, dict) and "build_info" in document
            settings = document.get("default_generation_settings") if self._llama_server else None
            if isinstance(settings, dict) and isinstance(settings.get("n_ctx"), int):
                n_ctx = settings["n_ctx"] if settings["n_ctx"] > 0 else None
        except (httpx.HTTPError, ValueError, AttributeError, TypeError):
            self._llama_server = False
        if self.n_ctx is None:
            self.n_ctx = n_ctx or find_context(endpoint.url)

    async def _fit_context(self, endpoint: ChatEndpoint) -> ContextTrimmed | None:
        """Make the request fit the context (see the module docstring).

        Raises:
            ContextOverflowError: it cannot fit (or the setting says stop).
        """
        await self._probe(endpoint)
        n_ctx = self.n_ctx
        if not n_ctx:
            return None
        reserve = self.settings.max_tokens or REPLY_RESERVE_TOKENS
        budget = max(1, n_ctx - min(reserve, n_ctx // 4))
        if _upper_bound_tokens(self.request_messages()) < budget:
            return None  # fits for sure: no token is shorter than one byte
        import httpx

        from localctl.endpoint import base_url

        base = base_url(endpoint.url)
        dropped = 0
        async with httpx.AsyncClient(timeout=30) as http:
            while True:
                count = await prompt_tokens(http, base, self.request_messages(), _key(endpoint))
                if count is None or count < budget:
                    break
                if self._config.context_overflow == "stop" or len(self.history) <= 1:
                    advice = (
                        "shorten the message or serve the model with a larger --ctx"
                        if len(self.history) <= 1
                        else 'start a new chat, or set context_overflow = "drop-oldest"'
                    )
                    raise ContextOverflowError(count, n_ctx, advice)
                drop = 2 if len(self.history) > 2 else 1
                del self.history[:drop]
                dropped += drop
        if not dropped:
            return None
        return ContextTrimmed(dropped, count or 0, n_ctx)


def _key(endpoint: ChatEndpoint) -> str | None:
    if endpoint.api_key is not None:
        return endpoint.api_key
    from localctl.runfile import find_api_key

    return find_api_key(endpoint.url)


def _bearer(endpoint: ChatEndpoint) -> dict[str, str]:
    from localctl.auth import bearer_headers

    return bearer_headers(_key(endpoint))


def _upper_bound_tokens(messages: list[dict[str, str]]) -> int:
    """At least as many tokens as ``messages`` take: a token covers one byte or more."""
    return sum(len(m["content"].encode("utf-8")) + TEMPLATE_TOKENS_PER_MESSAGE for m in messages)

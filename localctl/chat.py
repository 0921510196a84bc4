"""Streaming chat against any OpenAI-compatible server, with per-reply metrics.

``stream_chat`` is an async iterator of :class:`TokenDelta` events ending with one
:class:`ReplyDone`. Metrics come from the server when it sends them (llama-server's
``timings``, ``usage``); otherwise tokens are counted exactly with the server's own
tokenizer (``/tokenize`` on llama-server, ``/extras/tokenize`` on llama-cpp-python),
never estimated from characters.

Definitions: ``ttft_s`` is request start → first content token; ``gen_tok_s`` is
(completion tokens − 1) ÷ (last token time − first token time), the decode rate;
``prompt_tok_s`` is prompt tokens ÷ ``ttft_s``. When the final chunk carries
llama-server's ``timings``, both rates are the server's own (``predicted_per_second``,
``prompt_per_second``) and ``ReplyMetrics.timing_source`` is ``server``.

Thinking: a reasoning model's thinking streams as :class:`ThinkingDelta` events, apart from
the answer's :class:`TokenDelta`, whether the server separates it (``reasoning_content``
deltas, llama-server with ``--reasoning-format``) or leaves ``<think>…</think>`` inline in
the content (split here, tags across chunk boundaries included). ``Reply.reasoning`` holds
it; ``ReplyMetrics.reasoning_tokens`` counts it (the server's
``completion_tokens_details.reasoning_tokens``, else its tokenizer); those tokens are part of
``completion_tokens``, as a paid API bills them as output.

Prompt progress: with ``progress=True`` llama-server streams ``prompt_progress`` while it
reads a long prompt; each becomes a :class:`PromptProgress` event.

A prompt longer than the server's context raises :class:`ContextOverflowError` naming both
numbers (llama-server says so itself; llama-cpp-python's server just ends the stream, so the
prompt is counted and compared with the context localctl knows).


The reply events and values live in :mod:`localctl.replies`, what the server is asked
about its tokenizer, context and model in :mod:`localctl.tokens` (both re-exported here).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from localctl.auth import bearer_headers
from localctl.endpoint import check_url
from localctl.errors import ChatError, ContextOverflowError
from localctl.replies import (
    ERROR_CHARS,
    MAX_SSE_LINE_BYTES,
    THINK_CLOSE,
    THINK_OPEN,
    ChatEvent,
    PromptProgress,
    Reply,
    ReplyDone,
    ReplyMetrics,
    Status,
    ThinkingDelta,
    ThinkSplitter,
    TokenDelta,
)
from localctl.sanitize import printable
from localctl.tokens import (
    count_tokens,
    prompt_tokens,
    served_model_name,
    server_context,
    token_count,
)

if TYPE_CHECKING:
    import httpx


__all__ = [
    "MAX_SSE_LINE_BYTES",
    "THINK_CLOSE",
    "THINK_OPEN",
    "ChatEvent",
    "PromptProgress",
    "Reply",
    "ReplyDone",
    "ReplyMetrics",
    "Status",
    "ThinkSplitter",
    "ThinkingDelta",
    "TokenDelta",
    "chat_once",
    "count_tokens",
    "prompt_tokens",
    "served_model_name",
    "server_context",
    "stream_chat",
]


@dataclass(slots=True)
class _Stream:
    parts: list[str] = field(default_factory=list)
    thinking: list[str] = field(default_factory=list)
    splitter: ThinkSplitter = field(default_factory=ThinkSplitter)
    thinking_chunks: int = 0
    chunks: int = 0
    malformed: int = 0
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    timings: dict[str, Any] | None = None
    t_first: float | None = None
    t_last: float | None = None


async def _error_body(response: httpx.Response) -> bytes:
    """The start of an error body (the rest is not read)."""
    body = b""
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) >= 4 * ERROR_CHARS:
            break
    return body


def _clean_detail(body: bytes) -> str:
    """An error body as one clean line."""
    text = printable(body.decode("utf-8", "replace"))
    return " ".join(text.split())[:ERROR_CHARS]


def _overflow_in(body: bytes) -> ContextOverflowError | None:
    try:
        document = json.loads(body)
    except ValueError:
        return None
    return _overflow_error(document.get("error")) if isinstance(document, dict) else None


WAITED_S = 0.001
"""A chunk that took longer than this to come was waited for, not already read."""


class _LineTooLong(Exception):
    """A stream line ran past :data:`MAX_SSE_LINE_BYTES`."""


async def _sse_lines(
    response: httpx.Response, pause: Callable[[], float] | None = None
) -> AsyncIterator[str]:
    """The stream's lines, each at most :data:`MAX_SSE_LINE_BYTES` long.

    With ``pause``, each chunk that had to be waited for (the data read before was used up)
    is followed by a wait of ``pause()`` seconds: what the server sends meanwhile comes
    in one read of the socket and is then taken chunk by chunk without waiting.

    Raises:
        _LineTooLong: a line went on past the bound; reading stops there.
    """
    pending = b""
    asked = time.monotonic()
    async for chunk in response.aiter_bytes():
        waited = time.monotonic() - asked > WAITED_S
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line.removesuffix(b"\r").decode("utf-8", "replace")
        if len(pending) > MAX_SSE_LINE_BYTES:
            raise _LineTooLong(
                f"the server sent a stream line over {MAX_SSE_LINE_BYTES >> 20} MiB; "
                "stopped reading"
            )
        wait = pause() if pause is not None and waited else 0.0
        if wait > 0:
            await asyncio.sleep(wait)
        asked = time.monotonic()
    if pending:
        yield pending.removesuffix(b"\r").decode("utf-8", "replace")


def _after_text(state: _Stream, read_every: Callable[[], float]) -> Callable[[], float]:
    """``read_every()`` once the reply's first text has come, 0 before it (the time to the
    first token is never delayed)."""
    return lambda: read_every() if state.t_first is not None else 0.0


def _parse_line(line: str, state: _Stream, now: float) -> list[ChatEvent]:
    """Apply one SSE line; return the events it carries. Raises ChatError on error chunks."""
    if not line or line.startswith(":") or not line.startswith("data:"):
        return []
    data = line[5:].strip()
    if data == "[DONE]":
        return []
    try:
        chunk = json.loads(data)
    except json.JSONDecodeError:
        state.malformed += 1
        return []
    if not isinstance(chunk, dict):
        state.malformed += 1
        return []
    if "error" in chunk:
        error = chunk["error"]
        overflow = _overflow_error(error)
        if overflow is not None:
            raise overflow
        message = error.get("message", error) if isinstance(error, dict) else error
        raise ChatError(f"server error: {printable(message)[:ERROR_CHARS]}")
    if isinstance(chunk.get("usage"), dict):
        state.usage = chunk["usage"]
    if isinstance(chunk.get("timings"), dict):
        state.timings = chunk["timings"]
    events: list[ChatEvent] = []
    progress = _progress(chunk.get("prompt_progress"))
    if progress is not None:
        events.append(progress)
    choices = chunk.get("choices") or []
    if not isinstance(choices, list) or not all(isinstance(c, dict) for c in choices):
        state.malformed += 1
        return events
    pieces: list[tuple[bool, str]] = []
    for choice in choices:
        delta = choice.get("delta") or {}
        if not isinstance(delta, dict):
            state.malformed += 1
            continue
        piece = delta.get("content")
        thought = delta.get("reasoning_content", delta.get("reasoning"))
        if (piece is not None and not isinstance(piece, str)) or (
            thought is not None and not isinstance(thought, str)
        ):
            state.malformed += 1
            continue
        if thought:
            pieces.append((True, printable(thought)))
        if piece:
            pieces.extend(state.splitter.feed(printable(piece)))
        finish = choice.get("finish_reason")
        if finish:
            state.finish_reason = printable(finish)[:40]
            pieces.extend(state.splitter.flush())
    return events + _take(pieces, state, now)


def _take(pieces: list[tuple[bool, str]], state: _Stream, now: float) -> list[ChatEvent]:
    """Record split pieces in ``state``; one event per kind, in order."""
    events: list[ChatEvent] = []
    for thinking, text in pieces:
        if not text:
            continue
        if state.t_first is None:
            state.t_first = now
        state.t_last = now
        if thinking:
            state.thinking.append(text)
            state.thinking_chunks += 1
            events.append(ThinkingDelta(text))
        else:
            state.parts.append(text)
            state.chunks += 1
            events.append(TokenDelta(text))
    return events


def _progress(value: object) -> PromptProgress | None:
    if not isinstance(value, dict):
        return None
    total, processed = token_count(value.get("total")), token_count(value.get("processed"))
    if total is None or processed is None:
        return None
    seconds = (_positive(value.get("time_ms")) or 0.0) / 1000
    return PromptProgress(processed, total, token_count(value.get("cache")) or 0, seconds)


def _overflow_error(error: object) -> ContextOverflowError | None:
    """llama-server's ``exceed_context_size_error`` as a :class:`ContextOverflowError`."""
    if not isinstance(error, dict) or error.get("type") != "exceed_context_size_error":
        return None
    prompt, n_ctx = token_count(error.get("n_prompt_tokens")), token_count(error.get("n_ctx"))
    if not prompt or not n_ctx:
        return None
    return ContextOverflowError(prompt, n_ctx)


async def stream_chat(
    url: str,
    messages: list[dict[str, str]],
    *,
    api_key: str | None = None,
    model: str = "local",
    max_tokens: int | None = None,
    temperature: float | None = None,
    seed: int | None = None,
    system: str | None = None,
    cancel: asyncio.Event | None = None,
    client: httpx.AsyncClient | None = None,
    timeout_s: float = 600.0,
    progress: bool = False,
    n_ctx: int | None = None,
    read_every: Callable[[], float] | None = None,
) -> AsyncGenerator[ChatEvent, None]:
    """Stream one reply from ``url``'s ``/v1/chat/completions``.

    Args:
        url: Server base URL, with or without ``/v1``.
        messages: Conversation so far (``role``/``content`` dicts).
        api_key: Bearer key; defaults to the key of a server localctl started there.
        model: Model name sent to the server.
        max_tokens: Cap on generated tokens.
        temperature: Sampling temperature.
        seed: Sampling seed.
        system: System prompt prepended to ``messages``.
        cancel: Set it to stop generation; the partial reply is kept, status ``stopped``.
        client: An httpx client to reuse.
        timeout_s: Read timeout between chunks.
        progress: Ask llama-server for ``prompt_progress`` chunks (only llama-server
            knows the field; other servers may refuse it).
        n_ctx: The server's context per sequence when the caller knows it; an empty
            stream is then checked for a prompt that did not fit.
        read_every: Once the reply's text flows, wait ``read_every()`` seconds after each
            chunk that had to be waited for: the tokens that come meanwhile arrive in one
            read (some two wake-ups each ``read_every()`` instead of one a token). Each
            wake-up takes a core from a model decoding on the CPU for a moment; a display
            that shows text a few times a second needs no more.
            Tokens read together share one arrival time, so use it only where the server
            times its own tokens (llama-server's ``timings``).

    Yields:
        TokenDelta, ThinkingDelta and PromptProgress events, then one ReplyDone.

    Raises:
        ContextOverflowError: the prompt is longer than the server's context.
        ChatError: the server cannot be reached, refuses the request or sends an error chunk.
    """
    import httpx

    base = check_url(url)
    key_given = api_key is not None
    if api_key is None:
        from localctl.runfile import find_api_key

        api_key = find_api_key(base)
    if system:
        messages = [{"role": "system", "content": system}, *messages]
    body: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    for key, value in (("max_tokens", max_tokens), ("temperature", temperature), ("seed", seed)):
        if value is not None:
            body[key] = value
    if progress:
        body["return_progress"] = True
    own = client is None
    http = client or httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, connect=10.0))
    state = _Stream()
    status: Status = "complete"
    error = ""
    started = time.perf_counter()
    try:
        try:
            async with http.stream(
                "POST", base + "/v1/chat/completions", json=body, headers=bearer_headers(api_key)
            ) as response:
                if response.status_code == 401:
                    raise ChatError(_refused_key(base, api_key, given=key_given))
                if response.status_code >= 400:
                    body_bytes = await _error_body(response)
                    overflow = _overflow_in(body_bytes)
                    if overflow is not None:
                        raise overflow
                    detail = _clean_detail(body_bytes)
                    raise ChatError(f"{base} answered {response.status_code}: {detail}")
                pause = None if read_every is None else _after_text(state, read_every)
                async for line in _sse_lines(response, pause):
                    for event in _parse_line(line, state, time.perf_counter()):
                        yield event
                    if cancel is not None and cancel.is_set():
                        status = "stopped"
                        break
        except httpx.ConnectError as caught:
            raise ChatError(f"cannot connect to {base}: is the server running?") from caught
        except httpx.ConnectTimeout as caught:
            raise ChatError(f"{base} did not accept a connection in time") from caught
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as caught:
            raise ChatError(f"cannot use {base}: {caught}") from caught
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.ReadTimeout) as caught:
            status = "interrupted"
            error = f"the server closed the stream mid-reply ({type(caught).__name__})"
        except _LineTooLong as caught:
            status = "interrupted"
            error = str(caught)
        for event in _take(state.splitter.flush(), state, time.perf_counter()):
            yield event
        if status == "complete" and state.finish_reason is None:
            if not state.parts and not state.thinking and not error:
                await _raise_if_overflow(http, base, messages, api_key, n_ctx)
            status = "interrupted"
            error = error or "the stream ended without a finish reason (server stopped or crashed)"
        ended = time.perf_counter()
        text, reasoning = _answer_and_reasoning(state)
        metrics = await _metrics(
            http, base, messages, (text, reasoning), state, started, ended, api_key
        )
        yield ReplyDone(
            Reply(
                text=text,
                finish_reason=state.finish_reason,
                status=status,
                metrics=metrics,
                error=error,
                malformed_chunks=state.malformed,
                reasoning=reasoning,
            )
        )
    finally:
        if own:
            await http.aclose()


async def _metrics(
    http: httpx.AsyncClient,
    base: str,
    messages: list[dict[str, str]],
    texts: tuple[str, str],
    state: _Stream,
    started: float,
    ended: float,
    api_key: str | None,
) -> ReplyMetrics:
    text, reasoning = texts
    ttft = (state.t_first - started) if state.t_first is not None else ended - started
    span = (state.t_last - state.t_first) if state.t_first is not None and state.t_last else 0.0
    timings = state.timings or {}
    usage = state.usage or {}
    source = "server"
    completion = token_count(usage.get("completion_tokens")) or token_count(
        timings.get("predicted_n")
    )
    prompt = token_count(usage.get("prompt_tokens")) or token_count(timings.get("prompt_n"))
    details = usage.get("completion_tokens_details")
    thinking = token_count(details.get("reasoning_tokens")) if isinstance(details, dict) else None
    if thinking is None and reasoning:
        counted = await count_tokens(http, base, reasoning, api_key)
        thinking = counted if counted is not None else state.thinking_chunks
    thinking = thinking or 0
    if not isinstance(completion, int):
        counted = await count_tokens(http, base, text, api_key)
        completion, source = (
            (counted + thinking, "tokenizer")
            if counted is not None
            else (state.chunks + thinking, "chunks")
        )
    if not isinstance(prompt, int):
        counted = await prompt_tokens(http, base, messages, api_key)
        prompt = counted if counted is not None else 0
        source = source if counted is not None else "chunks"
    server_gen = _positive(timings.get("predicted_per_second"))
    server_prompt = _positive(timings.get("prompt_per_second"))
    gen = server_gen or ((completion - 1) / span if completion > 1 and span > 0 else 0.0)
    prompt_rate = server_prompt or (prompt / ttft if ttft > 0 else 0.0)
    return ReplyMetrics(
        ttft_s=ttft,
        prompt_tokens=prompt,
        prompt_tok_s=prompt_rate,
        completion_tokens=completion,
        gen_tok_s=gen,
        total_s=ended - started,
        token_count_source=source,
        timing_source="server" if server_gen else "client",
        reasoning_tokens=min(thinking, completion),
        cached_tokens=token_count(timings.get("cache_n")) or 0,
        draft_tokens=token_count(timings.get("draft_n")) or 0,
        draft_accepted=token_count(timings.get("draft_n_accepted")) or 0,
    )


def _answer_and_reasoning(state: _Stream) -> tuple[str, str]:
    """The reply's answer and thinking; a lone ``</think>`` (the template opened the block
    in the prompt) makes everything before it thinking."""
    text, reasoning = "".join(state.parts), "".join(state.thinking)
    if not reasoning and THINK_CLOSE in text:
        reasoning, _, text = text.partition(THINK_CLOSE)
    if reasoning:
        text = text.lstrip()
    return text, reasoning


async def _raise_if_overflow(
    http: httpx.AsyncClient,
    base: str,
    messages: list[dict[str, str]],
    api_key: str | None,
    n_ctx: int | None,
) -> None:
    """After an empty stream: raise :class:`ContextOverflowError` if the prompt did not fit.

    llama-cpp-python's server ends the stream of a too-long prompt without a word.
    """
    n_ctx = n_ctx or await server_context(http, base, api_key)
    if not n_ctx:
        return
    prompt = await prompt_tokens(http, base, messages, api_key)
    if prompt is not None and prompt >= n_ctx:
        raise ContextOverflowError(prompt, n_ctx)


def _refused_key(base: str, api_key: str | None, *, given: bool) -> str:
    """Why ``base`` answered 401, in words that match what was sent."""
    if not api_key:
        return f"{base} needs an API key (401) and none was sent (pass one, e.g. --api-key)"
    if given:
        return f"{base} refused the API key it was given (401): the key is wrong for this server"
    return (
        f"{base} refused the key localctl recorded when it started a server there (401): "
        "another server now listens there; pass its key"
    )


def _positive(value: object) -> float | None:
    """``value`` as a float when it is a positive number (not a bool), else None."""
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < math.inf:
        return float(value)
    return None


def chat_once(
    url: str,
    messages: list[dict[str, str]],
    *,
    on_delta: Callable[[str], None] | None = None,
    **options: Any,
) -> Reply:
    """Run :func:`stream_chat` to completion synchronously (for the CLI).

    Args:
        url: Server base URL.
        messages: Conversation so far.
        on_delta: Called with each piece of text as it arrives.
        **options: Passed to :func:`stream_chat`.

    Returns:
        The final reply.

    Raises:
        ChatError: as :func:`stream_chat`.
    """

    async def _run() -> Reply:
        async for event in stream_chat(url, messages, **options):
            if isinstance(event, TokenDelta):
                if on_delta is not None:
                    on_delta(event.text)
            elif isinstance(event, ReplyDone):
                return event.reply
        raise ChatError("the stream ended without a reply")

    return asyncio.run(_run())

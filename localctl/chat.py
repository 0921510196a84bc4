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
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from localctl.auth import bearer_headers
from localctl.endpoint import base_url
from localctl.errors import ChatError
from localctl.sanitize import printable

if TYPE_CHECKING:
    import httpx

Status = Literal["complete", "stopped", "interrupted"]

ERROR_CHARS = 200
"""The most characters of a server's error message shown to a user."""


@dataclass(frozen=True, slots=True)
class ReplyMetrics:
    """Timing and token counts of one reply."""

    ttft_s: float
    prompt_tokens: int
    prompt_tok_s: float
    completion_tokens: int
    gen_tok_s: float
    total_s: float
    token_count_source: str = "server"
    """``server`` (usage/timings), ``tokenizer`` (server tokenize endpoint) or ``chunks``."""
    timing_source: str = "client"
    """``server`` when the tok/s rates come from llama-server's ``timings``, ``client``
    when measured here from chunk arrival times."""


@dataclass(frozen=True, slots=True)
class Reply:
    """A finished (or stopped, or interrupted) reply."""

    text: str
    finish_reason: str | None
    status: Status
    metrics: ReplyMetrics
    error: str = ""
    malformed_chunks: int = 0


@dataclass(frozen=True, slots=True)
class TokenDelta:
    """A piece of streamed reply text."""

    text: str


@dataclass(frozen=True, slots=True)
class ReplyDone:
    """The last event of a stream."""

    reply: Reply


ChatEvent = TokenDelta | ReplyDone


@dataclass(slots=True)
class _Stream:
    parts: list[str] = field(default_factory=list)
    chunks: int = 0
    malformed: int = 0
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    timings: dict[str, Any] | None = None
    t_first: float | None = None
    t_last: float | None = None


async def count_tokens(
    client: httpx.AsyncClient,
    base: str,
    text: str,
    api_key: str | None,
    *,
    add_special: bool = False,
) -> int | None:
    """Exact token count of ``text`` by the server's tokenizer, or None if it has none.

    Args:
        client: HTTP client.
        base: Server base URL (no ``/v1``).
        text: Text to count.
        api_key: Bearer key.
        add_special: Count the BOS token the model puts before a prompt (for prompts);
            off for generated text, which has none.

    Returns:
        Tokens, or None when the server has no tokenize endpoint.
    """
    if not text and not add_special:
        return 0
    headers = bearer_headers(api_key)
    try:
        response = await client.post(
            base + "/tokenize", json={"content": text, "add_special": add_special}, headers=headers
        )
        tokens = response.json().get("tokens") if response.status_code == 200 else None
        if isinstance(tokens, list):
            return len(tokens)
    except Exception:  # a server without the endpoint may also just drop it
        pass
    # llama-cpp-python's endpoint always adds the BOS token when the model uses one.
    counts: list[int] = []
    for piece in (text, "") if not add_special else (text,):
        try:
            response = await client.post(
                base + "/extras/tokenize", json={"input": piece}, headers=headers
            )
            tokens = response.json().get("tokens") if response.status_code == 200 else None
        except Exception:
            return None
        if not isinstance(tokens, list):
            return None
        counts.append(len(tokens))
    return counts[0] - sum(counts[1:])


async def _error_detail(response: httpx.Response) -> str:
    """The start of an error body, as one clean line (the rest is not read)."""
    body = b""
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) >= 4 * ERROR_CHARS:
            break
    text = printable(body.decode("utf-8", "replace"))
    return " ".join(text.split())[:ERROR_CHARS]


async def served_model_name(url: str, api_key: str | None) -> str:
    """The first model id ``url`` serves (``/v1/models``), or ``"default"``.

    The id is the server's text: it comes back cleaned and at most 200 characters long.
    """
    import httpx

    try:
        async with httpx.AsyncClient(timeout=5) as client:
            answer = await client.get(f"{base_url(url)}/v1/models", headers=bearer_headers(api_key))
            answer.raise_for_status()
            name = " ".join(printable(answer.json()["data"][0]["id"]).split())[:ERROR_CHARS]
    except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError):
        return "default"
    return name or "default"


async def _prompt_tokens(
    client: httpx.AsyncClient, base: str, messages: list[dict[str, str]], api_key: str | None
) -> int | None:
    try:
        response = await client.post(
            base + "/apply-template", json={"messages": messages}, headers=bearer_headers(api_key)
        )
        if response.status_code == 200 and isinstance(response.json().get("prompt"), str):
            return await count_tokens(client, base, response.json()["prompt"], api_key)
    except Exception:  # not llama-server; fall back below
        pass
    # llama-cpp-python: the ChatML-style rendering its templates produce, tokenized
    # with the BOS token it puts before every prompt.
    rendered = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    rendered += "<|im_start|>assistant\n"
    return await count_tokens(client, base, rendered, api_key, add_special=True)


def _parse_line(line: str, state: _Stream, now: float) -> str | None:
    """Apply one SSE line; return new text, or None. Raises ChatError on error chunks."""
    if not line or line.startswith(":") or not line.startswith("data:"):
        return None
    data = line[5:].strip()
    if data == "[DONE]":
        return None
    try:
        chunk = json.loads(data)
    except json.JSONDecodeError:
        state.malformed += 1
        return None
    if not isinstance(chunk, dict):
        state.malformed += 1
        return None
    if "error" in chunk:
        error = chunk["error"]
        message = error.get("message", error) if isinstance(error, dict) else error
        raise ChatError(f"server error: {printable(message)[:ERROR_CHARS]}")
    if isinstance(chunk.get("usage"), dict):
        state.usage = chunk["usage"]
    if isinstance(chunk.get("timings"), dict):
        state.timings = chunk["timings"]
    choices = chunk.get("choices") or []
    if not isinstance(choices, list) or not all(isinstance(c, dict) for c in choices):
        state.malformed += 1
        return None
    text = ""
    for choice in choices:
        delta = choice.get("delta") or {}
        piece = delta.get("content") if isinstance(delta, dict) else None
        if not isinstance(delta, dict) or (piece is not None and not isinstance(piece, str)):
            state.malformed += 1
            continue
        if piece:
            text += printable(piece)
        finish = choice.get("finish_reason")
        if finish:
            state.finish_reason = printable(finish)[:40]
    if text:
        state.chunks += 1
        if state.t_first is None:
            state.t_first = now
        state.t_last = now
        state.parts.append(text)
        return text
    return None


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

    Yields:
        TokenDelta events, then one ReplyDone.

    Raises:
        ChatError: the server cannot be reached, refuses the request or sends an error chunk.
    """
    import httpx

    base = base_url(url)
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
                    raise ChatError(f"{base} refused the API key (401); pass --api-key")
                if response.status_code >= 400:
                    detail = await _error_detail(response)
                    raise ChatError(f"{base} answered {response.status_code}: {detail}")
                async for line in response.aiter_lines():
                    piece = _parse_line(line, state, time.perf_counter())
                    if piece:
                        yield TokenDelta(piece)
                    if cancel is not None and cancel.is_set():
                        status = "stopped"
                        break
        except httpx.ConnectError as caught:
            raise ChatError(f"cannot connect to {base}: is the server running?") from caught
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.ReadTimeout) as caught:
            status = "interrupted"
            error = f"the server closed the stream mid-reply ({type(caught).__name__})"
        if status == "complete" and state.finish_reason is None:
            status = "interrupted"
            error = error or "the stream ended without a finish reason (server stopped or crashed)"
        ended = time.perf_counter()
        text = "".join(state.parts)
        metrics = await _metrics(http, base, messages, text, state, started, ended, api_key)
        yield ReplyDone(
            Reply(
                text=text,
                finish_reason=state.finish_reason,
                status=status,
                metrics=metrics,
                error=error,
                malformed_chunks=state.malformed,
            )
        )
    finally:
        if own:
            await http.aclose()


async def _metrics(
    http: httpx.AsyncClient,
    base: str,
    messages: list[dict[str, str]],
    text: str,
    state: _Stream,
    started: float,
    ended: float,
    api_key: str | None,
) -> ReplyMetrics:
    ttft = (state.t_first - started) if state.t_first is not None else ended - started
    span = (state.t_last - state.t_first) if state.t_first is not None and state.t_last else 0.0
    timings = state.timings or {}
    usage = state.usage or {}
    source = "server"
    completion = _count(usage.get("completion_tokens")) or _count(timings.get("predicted_n"))
    prompt = _count(usage.get("prompt_tokens")) or _count(timings.get("prompt_n"))
    if not isinstance(completion, int):
        counted = await count_tokens(http, base, text, api_key)
        completion, source = (
            (counted, "tokenizer") if counted is not None else (state.chunks, "chunks")
        )
    if not isinstance(prompt, int):
        counted = await _prompt_tokens(http, base, messages, api_key)
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
    )


def _count(value: object) -> int | None:
    """``value`` when it is a token count (a non-negative int, not a bool), else None."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


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
            else:
                return event.reply
        raise ChatError("the stream ended without a reply")

    return asyncio.run(_run())

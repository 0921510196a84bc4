"""What a server says about its model: exact token counts with its own tokenizer and
chat template, its context length and the model id it serves.

Helper endpoints (``/tokenize``, ``/extras/tokenize``, ``/apply-template``) are asked for
until a server has answered once; one it lacks is not requested again.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from localctl.auth import bearer_headers
from localctl.endpoint import base_url
from localctl.replies import (
    ERROR_CHARS,
    MAX_SSE_LINE_BYTES,
)
from localctl.sanitize import printable

if TYPE_CHECKING:
    import httpx


MAX_HELPER_REPLY_BYTES = 16 << 20
"""Most of a helper endpoint's answer read: the token ids of a million-token text, about
7 MB of JSON, fit twice; a server streaming more is not counting tokens."""
MISSING_ROUTE_CODES = frozenset({404, 405, 501})
"""Answers meaning a server has no such endpoint (as opposed to a refused key or an error)."""

_routes: dict[tuple[str, str], bool] = {}
"""``(base URL, path)`` → whether that server has the helper endpoint. A server is asked
for ``/tokenize``, ``/extras/tokenize`` or ``/apply-template`` until it has answered
once; an endpoint it lacks is not requested again (each miss was a 404 per reply)."""


async def _body_within(response: httpx.Response, limit: int) -> bytes | None:
    """The whole body, or None once it runs past ``limit`` bytes (the rest is not read)."""
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


async def _helper_post(
    client: httpx.AsyncClient, base: str, path: str, body: dict[str, Any], api_key: str | None
) -> dict[str, Any] | None:
    """POST to one of the server's helper endpoints; None when it lacks it or failed."""
    if _routes.get((base, path)) is False:
        return None
    try:
        async with client.stream(
            "POST", base + path, json=body, headers=bearer_headers(api_key)
        ) as response:
            status = response.status_code
            raw: bytes | None = b""
            if status == 200:
                raw = await _body_within(response, MAX_HELPER_REPLY_BYTES)
            if raw is None:
                return None  # no tokenizer answers that much: not one to trust
    except Exception:  # a server without the endpoint may also just drop the connection
        return None
    if status in MISSING_ROUTE_CODES:
        _routes[(base, path)] = False
        return None
    if status != 200:
        return None
    try:
        document = json.loads(raw)
    except ValueError:
        _routes[(base, path)] = False
        return None
    _routes[(base, path)] = True
    return document if isinstance(document, dict) else None


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
    answer = await _helper_post(
        client, base, "/tokenize", {"content": text, "add_special": add_special}, api_key
    )
    tokens = answer.get("tokens") if answer is not None else None
    if isinstance(tokens, list):
        return len(tokens)
    # llama-cpp-python's endpoint always adds the BOS token when the model uses one.
    counts: list[int] = []
    for piece in (text, "") if not add_special else (text,):
        answer = await _helper_post(client, base, "/extras/tokenize", {"input": piece}, api_key)
        tokens = answer.get("tokens") if answer is not None else None
        if not isinstance(tokens, list):
            return None
        counts.append(len(tokens))
    return counts[0] - sum(counts[1:])


async def served_model_name(url: str, api_key: str | None) -> str:
    """The first model id ``url`` serves (``/v1/models``), or ``"default"``.

    The id is the server's text: it comes back cleaned and at most 200 characters long,
    and at most :data:`MAX_SSE_LINE_BYTES` of the answer are read.
    """
    import httpx

    models = f"{base_url(url)}/v1/models"
    try:
        async with (
            httpx.AsyncClient(timeout=5) as client,
            client.stream("GET", models, headers=bearer_headers(api_key)) as answer,
        ):
            answer.raise_for_status()
            body = await _body_within(answer, MAX_SSE_LINE_BYTES)
        if body is None:
            return "default"
        name = " ".join(printable(json.loads(body)["data"][0]["id"]).split())[:ERROR_CHARS]
    except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError):
        return "default"
    return name or "default"


async def _prompt_tokens(
    client: httpx.AsyncClient, base: str, messages: list[dict[str, str]], api_key: str | None
) -> int | None:
    answer = await _helper_post(client, base, "/apply-template", {"messages": messages}, api_key)
    prompt = answer.get("prompt") if answer is not None else None
    if isinstance(prompt, str):
        return await count_tokens(client, base, prompt, api_key)
    # llama-cpp-python: the ChatML-style rendering its templates produce, tokenized
    # with the BOS token it puts before every prompt.
    rendered = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    rendered += "<|im_start|>assistant\n"
    return await count_tokens(client, base, rendered, api_key, add_special=True)


async def server_context(http: httpx.AsyncClient, base: str, api_key: str | None) -> int | None:
    """The context per sequence of the server at ``base``, when it can be learnt.

    llama-server says it in ``/props``; for a server localctl started the run file holds it.
    """
    try:
        response = await http.get(base + "/props", headers=bearer_headers(api_key))
        settings = response.json().get("default_generation_settings")
        n_ctx = token_count(settings.get("n_ctx")) if isinstance(settings, dict) else None
        if response.status_code == 200 and n_ctx:
            return n_ctx
    except Exception:  # not llama-server
        pass
    from localctl.runfile import find_context

    return find_context(base)


async def prompt_tokens(
    http: httpx.AsyncClient, base: str, messages: list[dict[str, str]], api_key: str | None
) -> int | None:
    """Exact tokens ``messages`` take as a prompt, by the server's template and tokenizer."""
    return await _prompt_tokens(http, base, messages, api_key)


def token_count(value: object) -> int | None:
    """``value`` when it is a token count (a non-negative int, not a bool), else None."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None

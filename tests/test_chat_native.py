"""Where the chat metrics come from on the two real backends.

Native llama-server ends its stream with ``timings``; the client must report those
figures. llama-cpp-python sends neither usage nor timings when streaming; the client
must then count tokens exactly with the server's tokenizer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from localctl import chat
from localctl.chat import stream_chat
from localctl.replies import Reply, ReplyDone
from localctl.server import ModelServer
from tests.server_helpers import start_native_smollm2

# A prompt the 135M model answers at length, so ``max_tokens`` is what ends the reply.
COUNTING = [{"role": "user", "content": "List 100 animals, one per line."}]
MAX_TOKENS = 40


@pytest.fixture(scope="module")
def native_server(
    native_llama_server: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ModelServer]:
    logs = tmp_path_factory.mktemp("native-chat-logs")
    server = start_native_smollm2(native_llama_server, 1024, logs)
    yield server
    server.stop_sync()


async def _reply_and_chunks(
    server: ModelServer, monkeypatch: pytest.MonkeyPatch
) -> tuple[Reply, list[dict[str, Any]]]:
    """Stream a reply, keeping every JSON chunk the server sent."""
    chunks: list[dict[str, Any]] = []
    parse = chat._parse_line

    def recording(line: str, state: Any, now: float) -> str | None:
        if line.startswith("data:") and line[5:].strip() != "[DONE]":
            chunks.append(json.loads(line[5:]))
        return parse(line, state, now)

    monkeypatch.setattr(chat, "_parse_line", recording)
    reply = None
    async for event in stream_chat(
        server.url,
        COUNTING,
        api_key=server.api_key,
        max_tokens=MAX_TOKENS,
        temperature=0.0,
        seed=1,
    ):
        if isinstance(event, ReplyDone):
            reply = event.reply
    assert reply is not None
    return reply, chunks


@pytest.mark.slow
@pytest.mark.native
async def test_native_metrics_are_the_server_timings(
    native_server: ModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    reply, chunks = await _reply_and_chunks(native_server, monkeypatch)
    assert reply.status == "complete" and reply.finish_reason == "length"
    timings = [c["timings"] for c in chunks if isinstance(c.get("timings"), dict)][-1]
    metrics = reply.metrics
    assert metrics.timing_source == "server" and metrics.token_count_source == "server"
    assert metrics.gen_tok_s == pytest.approx(timings["predicted_per_second"])
    assert metrics.prompt_tok_s == pytest.approx(timings["prompt_per_second"])
    assert metrics.completion_tokens == timings["predicted_n"] == MAX_TOKENS
    assert metrics.prompt_tokens >= timings["prompt_n"] > 5


@pytest.mark.slow
async def test_llama_cpp_python_counts_tokens_with_the_server_tokenizer(
    smollm2_server: ModelServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reply, chunks = await _reply_and_chunks(smollm2_server, monkeypatch)
    assert reply.status == "complete" and reply.finish_reason == "length"
    assert not any("timings" in c or c.get("usage") for c in chunks)
    metrics = reply.metrics
    assert metrics.token_count_source == "tokenizer" and metrics.timing_source == "client"
    # The reply ended at max_tokens, so exactly MAX_TOKENS tokens were generated.
    assert metrics.completion_tokens == MAX_TOKENS
    async with httpx.AsyncClient() as client:
        counted = await chat.count_tokens(
            client, smollm2_server.url, reply.text, smollm2_server.api_key
        )
    assert counted == MAX_TOKENS


async def test_llama_cpp_python_bos_is_not_counted_in_the_reply() -> None:
    """Its ``/extras/tokenize`` always prepends BOS for models that use one."""
    bos = 1

    def tokenizer(request: httpx.Request) -> httpx.Response:
        if request.url.path != "/extras/tokenize":
            return httpx.Response(404)
        words = json.loads(request.content)["input"].split()
        return httpx.Response(200, json={"tokens": [bos] + [7] * len(words)})

    async with httpx.AsyncClient(transport=httpx.MockTransport(tokenizer)) as client:
        base = "http://fake"
        assert await chat.count_tokens(client, base, "three words here", None) == 3
        assert await chat.count_tokens(client, base, "", None) == 0
        prompt = await chat.count_tokens(client, base, "a prompt", None, add_special=True)
        assert prompt == 3

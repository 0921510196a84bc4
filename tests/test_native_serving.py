"""The native llama-server with the real SmolLM2: self-draft, context limit, prompt progress,
and its own figures (/metrics, /slots)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from localctl.chat import stream_chat
from localctl.chat_session import ChatSession, TurnEnded
from localctl.config import Config
from localctl.draft import speedup
from localctl.errors import ContextOverflowError
from localctl.model_settings import ModelSettings
from localctl.replies import PromptProgress, Reply, ReplyDone
from localctl.server_metrics import read_server_metrics
from tests.server_helpers import start_native_smollm2

pytestmark = [pytest.mark.slow, pytest.mark.native]

COUNT = [{"role": "user", "content": "Count from 1 to 40, separated by commas."}]


async def _reply(url: str, key: str, messages: list[dict[str, str]], **options: object) -> Reply:
    async for event in stream_chat(url, messages, api_key=key, **options):  # type: ignore[arg-type]
        if isinstance(event, ReplyDone):
            return event.reply
    raise AssertionError("no reply")


async def test_the_model_as_its_own_draft_is_accepted_nearly_always(
    native_llama_server: Path, smollm2_path: Path, tmp_path: Path
) -> None:
    server = start_native_smollm2(native_llama_server, 1024, tmp_path, draft=smollm2_path)
    try:
        reply = await _reply(
            server.url, server.api_key, COUNT, max_tokens=96, temperature=0.0, seed=1
        )
    finally:
        server.stop_sync()
    metrics = reply.metrics
    assert "--model-draft" in server.argv()
    assert metrics.draft_tokens > 0
    assert metrics.draft_acceptance is not None and metrics.draft_acceptance >= 0.9
    gain = speedup(metrics.completion_tokens, metrics.draft_accepted)
    assert gain is not None and gain > 2
    record = {
        "acceptance": metrics.draft_acceptance,
        "draft_n": metrics.draft_tokens,
        "accepted": metrics.draft_accepted,
        "tokens_per_pass": gain,
        "gen_tok_s": metrics.gen_tok_s,
    }
    (tmp_path / "self-draft.json").write_text(json.dumps(record))
    print("self-draft:", record)


async def test_a_prompt_longer_than_a_tiny_context_names_both_numbers(
    native_llama_server: Path, tmp_path: Path
) -> None:
    server = start_native_smollm2(native_llama_server, 256, tmp_path)
    try:
        long_prompt = [{"role": "user", "content": "tell me about the sea " * 200}]
        with pytest.raises(ContextOverflowError, match=r"tokens > context 256") as caught:
            await _reply(server.url, server.api_key, long_prompt, max_tokens=8)
        assert caught.value.prompt_tokens > 256
        # the session refuses before sending, from /props, and the chat goes on
        session = ChatSession(Config(), None, ModelSettings(max_tokens=8), save=False)
        session.connect(_endpoint(server), load_settings=False)
        with pytest.raises(ContextOverflowError, match="context 256"):
            async for _event in session.send("tell me about the sea " * 200):
                pass
        events = [e async for e in session.send("Hi")]
        ended = events[-1]
        assert isinstance(ended, TurnEnded) and ended.reply.status == "complete"
        assert ended.n_ctx == 256 and 0 < ended.context_tokens <= 256
    finally:
        server.stop_sync()


async def test_a_long_prompt_streams_its_progress(
    native_llama_server: Path, tmp_path: Path
) -> None:
    server = start_native_smollm2(native_llama_server, 4096, tmp_path)
    try:
        prompt = [{"role": "user", "content": "the sea is wide and deep. " * 400}]
        seen: list[PromptProgress] = []
        async for event in stream_chat(
            server.url, prompt, api_key=server.api_key, max_tokens=4, progress=True
        ):
            if isinstance(event, PromptProgress):
                seen.append(event)
        metrics = read_server_metrics(server.url, server.api_key)
    finally:
        server.stop_sync()
    assert len(seen) >= 3  # one per 512-token batch
    assert seen[-1].processed == seen[-1].total > 2048
    assert [p.processed for p in seen] == sorted(p.processed for p in seen)
    assert metrics is not None and metrics.prompt_tokens_total > 2048
    assert metrics.n_ctx == 4096 and metrics.kv_used_tokens > 2048
    assert metrics.requests_processing == 0 and metrics.requests_deferred == 0


def _endpoint(server: object) -> object:
    from localctl.chat_session import ChatEndpoint

    return ChatEndpoint(server.url, server.api_key, "smollm2")  # type: ignore[attr-defined]

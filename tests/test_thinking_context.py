"""Thinking replies, prompt progress and the context limit, against a loopback fake server."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from dataclasses import replace

import pytest

from localctl.chat import stream_chat
from localctl.chat_session import ChatEndpoint, ChatSession, ContextTrimmed
from localctl.config import Config
from localctl.errors import ContextOverflowError
from localctl.model_settings import ModelSettings
from localctl.replies import (
    PromptProgress,
    Reply,
    ReplyDone,
    ThinkingDelta,
    ThinkSplitter,
    TokenDelta,
)
from tests.fakesse import OVERFLOW_PROMPT, PROGRESS_TOTAL, THOUGHT, FakeSSE, serve_fake_sse

PROMPT = [{"role": "user", "content": "hello there"}]


def _key_env() -> dict[str, str]:
    """This test's environment (its isolated dirs) with the fake server's key."""
    return {**os.environ, "LOCALCTL_API_KEY": "k"}


ANSWER = "".join(f"w{i} " for i in range(5))


async def _events(url: str, **options: object) -> tuple[list[object], Reply]:
    events: list[object] = []
    reply = None
    async for event in stream_chat(url, PROMPT, api_key="k", **options):  # type: ignore[arg-type]
        if isinstance(event, ReplyDone):
            reply = event.reply
        else:
            events.append(event)
    assert reply is not None
    return events, reply


@pytest.mark.parametrize("mode", ["reasoning", "think_tags"])
async def test_thinking_streams_apart_from_the_answer_and_is_counted(mode: str) -> None:
    with serve_fake_sse(mode, tokens=5) as url:
        events, reply = await _events(url)
    thinking = "".join(e.text for e in events if isinstance(e, ThinkingDelta))
    answer = "".join(e.text for e in events if isinstance(e, TokenDelta))
    assert thinking.strip() == THOUGHT
    assert "think>" not in answer and answer.strip() == ANSWER.strip()
    first_answer = next(i for i, e in enumerate(events) if isinstance(e, TokenDelta))
    assert all(not isinstance(e, ThinkingDelta) for e in events[first_answer:])
    assert reply.reasoning.strip() == THOUGHT and reply.text.strip() == ANSWER.strip()
    # the fake's tokenizer splits on whitespace: 8 thinking + 5 answer tokens, all output
    assert reply.metrics.reasoning_tokens == 8
    assert reply.metrics.completion_tokens == 13


@pytest.mark.parametrize("seed", range(20))
def test_inline_think_tags_split_the_same_whatever_the_chunking(seed: int) -> None:
    text = "<think>step one, <b>not a tag</b> step two</think>\n\nThe answer <think is text"
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(text)), 12))
    chunks = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    splitter = ThinkSplitter()
    pieces = [p for chunk in chunks for p in splitter.feed(chunk)] + splitter.flush()
    thinking = "".join(t for inside, t in pieces if inside)
    answer = "".join(t for inside, t in pieces if not inside)
    assert thinking == "step one, <b>not a tag</b> step two"
    assert answer == "\n\nThe answer <think is text"


async def test_thinking_is_kept_out_of_the_history_sent_back() -> None:
    with serve_fake_sse("reasoning", tokens=3) as url:
        session = ChatSession(Config(), ChatEndpoint(url, "k", "fake"), ModelSettings(), save=False)
        kinds = [type(e).__name__ async for e in session.send("hi")]
        assert "ThinkingDelta" in kinds and kinds[-1] == "TurnEnded"
        assert session.history[-1] == {"role": "assistant", "content": "w0 w1 w2 "}
        assert session.meters.session_completion_tokens == 11


def test_chat_json_carries_reasoning_and_context(tmp_path) -> None:
    with serve_fake_sse("reasoning", tokens=4, n_ctx=4096) as url:
        out = subprocess.run(
            [sys.executable, "-m", "localctl", "chat", "--url", url,
             "--prompt", "hi", "--json", "--no-save"],
            capture_output=True, text=True, timeout=60, env=_key_env(),
        )  # fmt: skip
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["reasoning"].strip() == THOUGHT and doc["reasoning_tokens"] == 8
    assert doc["completion_tokens"] == 12 and doc["text"].strip() == "w0 w1 w2 w3"
    assert doc["n_ctx"] == 4096 and doc["context_tokens"] == doc["prompt_tokens"] + 12


def test_a_prompt_longer_than_the_context_says_both_numbers_and_no_cost() -> None:
    with serve_fake_sse("overflow", n_ctx=4096) as url:
        out = subprocess.run(
            [sys.executable, "-m", "localctl", "chat", "--url", url,
             "--prompt", "long " * 100, "--no-save"],
            capture_output=True, text=True, timeout=60, env=_key_env(),
        )  # fmt: skip
    assert out.returncode == 1
    assert "20,009 tokens > context 4,096" in out.stderr
    assert "crashed" not in out.stderr
    assert "API-equivalent" not in out.stderr + out.stdout and "$" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


async def test_an_empty_stream_for_a_too_long_prompt_is_named_as_such() -> None:
    # llama-cpp-python's server ends the stream of a too-long prompt without a word
    long_prompt = [{"role": "user", "content": "word " * 600}]
    with (
        serve_fake_sse("empty") as url,
        pytest.raises(ContextOverflowError, match=r"\d+ tokens > context 512") as caught,
    ):
        async for _event in stream_chat(url, long_prompt, api_key="k", n_ctx=512):
            pass
    assert caught.value.prompt_tokens >= 600 and caught.value.n_ctx == 512
    with serve_fake_sse("empty") as url:
        _events_seen, reply = await _events(url, n_ctx=512)  # a short prompt: not an overflow
    assert reply.status == "interrupted" and "crashed" in reply.error


async def test_session_refuses_an_overflow_before_sending_and_keeps_the_history() -> None:
    with FakeSSE("normal", tokens=3, n_ctx=4096) as fake:
        endpoint = ChatEndpoint(fake.url, "k", "fake")
        session = ChatSession(Config(), endpoint, ModelSettings(), save=False)
        with pytest.raises(ContextOverflowError, match=r"tokens > context 4,096; shorten"):
            async for _event in session.send("word " * 5000):
                pass
        assert session.history == [] and fake.requests == []  # never sent
        kinds = [type(e).__name__ async for e in session.send("hi")]
        assert kinds[-1] == "TurnEnded" and len(fake.requests) == 1


@pytest.mark.parametrize("policy", ["drop-oldest", "stop"])
async def test_a_conversation_outgrowing_its_context_drops_oldest_turns_or_stops(
    policy: str,
) -> None:
    with serve_fake_sse("normal", tokens=3, n_ctx=400) as url:
        config = replace(Config(), context_overflow=policy)
        settings = ModelSettings(max_tokens=20)
        session = ChatSession(config, ChatEndpoint(url, "k", "fake"), settings, save=False)
        for turn in range(3):
            async for _event in session.send(f"turn {turn} " + "word " * 100):
                pass
        assert len(session.history) == 6
        if policy == "stop":
            with pytest.raises(ContextOverflowError, match=r"tokens > context 400; start a new"):
                async for _event in session.send("turn 3 " + "word " * 100):
                    pass
            assert len(session.history) == 6
            return
        events = [e async for e in session.send("turn 3 " + "word " * 100)]
    trimmed = [e for e in events if isinstance(e, ContextTrimmed)]
    assert len(trimmed) == 1 and trimmed[0].dropped_messages >= 2
    assert trimmed[0].prompt_tokens < 400 and "oldest messages dropped" in trimmed[0].describe()
    assert session.history[0]["role"] == "user" and "turn 0" not in session.history[0]["content"]
    assert session.context_tokens > 0 and session.n_ctx == 400


async def test_prompt_progress_is_asked_of_llama_server_and_streamed() -> None:
    with serve_fake_sse("progress", tokens=2, n_ctx=8192, delay_s=0.01) as fake_url:
        session = ChatSession(
            Config(), ChatEndpoint(fake_url, "k", "fake"), ModelSettings(), save=False
        )
        events = [e async for e in session.send("hi")]
    progress = [e for e in events if isinstance(e, PromptProgress)]
    assert [p.processed for p in progress] == [0, 2048, 4096, 6144, 8192]
    assert progress[-1].fraction == 1.0 and progress[-1].total == PROGRESS_TOTAL
    first_token = next(i for i, e in enumerate(events) if isinstance(e, TokenDelta))
    assert all(isinstance(e, PromptProgress) for e in events[: len(progress)])
    assert first_token == len(progress)


async def test_prompt_progress_is_not_asked_of_other_servers() -> None:
    with serve_fake_sse("progress", tokens=2) as url:
        events, _reply = await _events(url)
    assert not any(isinstance(e, PromptProgress) for e in events)


def test_overflow_counts_are_exact() -> None:
    error = ContextOverflowError(OVERFLOW_PROMPT, 4096)
    assert str(error) == "the prompt is 20,009 tokens > context 4,096"

"""The streaming chat client against a real SmolLM2 server and a fake SSE server."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from localctl.chat import stream_chat
from localctl.conversations import list_conversations, load
from localctl.errors import ChatError
from localctl.replies import Reply, ReplyDone, TokenDelta
from tests.fakesse import TIMINGS, serve_fake_sse

PROMPT = [{"role": "user", "content": "Write a short poem about the sea."}]


async def _collect(url: str, **kwargs: object) -> tuple[list[str], Reply]:
    pieces: list[str] = []
    reply = None
    async for event in stream_chat(url, PROMPT, **kwargs):  # type: ignore[arg-type]
        if isinstance(event, TokenDelta):
            pieces.append(event.text)
        elif isinstance(event, ReplyDone):
            reply = event.reply
    assert reply is not None
    return pieces, reply


@pytest.mark.slow
async def test_real_server_streams_a_reply_with_exact_token_counts(
    smollm2_server, smollm2_path
) -> None:
    from llama_cpp import Llama

    pieces, reply = await _collect(
        smollm2_server.url, api_key=smollm2_server.api_key, max_tokens=48, temperature=0.0, seed=1
    )
    assert len(pieces) > 5 and "".join(pieces) == reply.text
    assert reply.status == "complete" and reply.finish_reason in ("stop", "length")
    vocab = Llama(model_path=str(smollm2_path), vocab_only=True, verbose=False)
    expected = len(vocab.tokenize(reply.text.encode(), add_bos=False, special=True))
    assert reply.metrics.token_count_source == "tokenizer"
    assert abs(reply.metrics.completion_tokens - expected) <= 1
    assert reply.metrics.gen_tok_s > 0 and reply.metrics.ttft_s > 0
    assert reply.metrics.prompt_tokens > 5


@pytest.mark.slow
async def test_stop_mid_stream_keeps_the_partial_reply(smollm2_server) -> None:
    cancel = asyncio.Event()
    seen: list[str] = []
    reply = None
    async for event in stream_chat(
        smollm2_server.url, PROMPT, api_key=smollm2_server.api_key, max_tokens=200, cancel=cancel
    ):
        if isinstance(event, TokenDelta):
            seen.append(event.text)
            if len(seen) == 3:
                cancel.set()
        elif isinstance(event, ReplyDone):
            reply = event.reply
    assert reply is not None and reply.status == "stopped"
    assert reply.text == "".join(seen) and len(seen) == 3


@pytest.mark.slow
async def test_wrong_key_is_a_clear_error(smollm2_server) -> None:
    with pytest.raises(ChatError, match="refused the API key"):
        await _collect(smollm2_server.url, api_key="wrong")


@pytest.mark.parametrize("mode", ["normal", "ping", "slow"])
async def test_fake_stream_modes_complete(mode: str) -> None:
    with serve_fake_sse(mode, tokens=20) as url:
        _, reply = await _collect(url, api_key="k")
    assert reply.text == "".join(f"w{i} " for i in range(20))
    assert reply.status == "complete" and reply.metrics.completion_tokens == 20


async def test_final_chunk_timings_are_the_metrics() -> None:
    with serve_fake_sse("timings", tokens=12) as url:
        _, reply = await _collect(url, api_key="k")
    metrics = reply.metrics
    assert metrics.timing_source == "server" and metrics.token_count_source == "server"
    assert metrics.gen_tok_s == TIMINGS["predicted_per_second"]
    assert metrics.prompt_tok_s == TIMINGS["prompt_per_second"]
    assert (metrics.prompt_tokens, metrics.completion_tokens) == (TIMINGS["prompt_n"], 12)


async def test_without_timings_the_rates_are_measured_here() -> None:
    with serve_fake_sse("normal", tokens=12) as url:
        _, reply = await _collect(url, api_key="k")
    assert reply.metrics.timing_source == "client" and reply.metrics.gen_tok_s > 0


async def test_malformed_chunk_is_skipped_and_counted() -> None:
    with serve_fake_sse("malformed", tokens=5) as url:
        _, reply = await _collect(url, api_key="k")
    assert reply.malformed_chunks == 1 and reply.status == "complete"


async def test_error_chunk_raises_the_server_message() -> None:
    with serve_fake_sse("error", tokens=5) as url, pytest.raises(ChatError, match="model exploded"):
        await _collect(url, api_key="k")


@pytest.mark.parametrize("mode", ["die", "no_finish"])
async def test_broken_stream_is_interrupted_and_keeps_text(mode: str) -> None:
    with serve_fake_sse(mode, tokens=10) as url:
        _, reply = await _collect(url, api_key="k")
    assert reply.status == "interrupted" and reply.error
    assert reply.text.startswith("w0 w1 w2 ")


async def test_very_fast_stream_loses_nothing() -> None:
    with serve_fake_sse("fast", tokens=10_000) as url:
        pieces, reply = await _collect(url, api_key="k")
    assert len(pieces) == 10_000 and reply.metrics.completion_tokens == 10_000


async def test_connection_refused_is_one_line() -> None:
    with pytest.raises(ChatError, match="cannot connect"):
        await _collect("http://127.0.0.1:9", api_key="k")


@pytest.mark.slow
def test_cli_json_document_and_saved_conversation(smollm2_server) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "localctl",
            "chat",
            "--url",
            smollm2_server.url,
            f"--api-key={smollm2_server.api_key}",  # a key may start with "-"
            "--prompt",
            "Say hello",
            "--max-tokens",
            "16",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env=os.environ.copy(),
    )
    doc = json.loads(result.stdout)
    for key in ("text", "prompt_tokens", "completion_tokens", "ttft_s", "gen_tok_s"):
        assert key in doc
    assert set(doc["api_equivalent_usd"]) >= {"openai:gpt-5", "anthropic:claude-sonnet-4-6"}
    conversations, warnings = list_conversations()
    assert not warnings and conversations[0].messages[-1]["content"] == doc["text"]


def test_cli_unreachable_server_exits_1_with_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "localctl", "chat", "--url", "http://127.0.0.1:9", "--prompt", "x"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "cannot connect" in result.stderr


def test_history_survives_kill_mid_reply(isolated_dirs: Path) -> None:
    with serve_fake_sse("slow", tokens=400) as url:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "localctl",
                "chat",
                "--url",
                url,
                "--api-key",
                "k",
                "--prompt",
                "go",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        folder = isolated_dirs / "data" / "conversations"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            files = list(folder.glob("*.jsonl")) if folder.is_dir() else []
            if files and "w5 " in files[0].read_text():
                break
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    conversation = load(files[0])
    assert oct(files[0].stat().st_mode & 0o777) == "0o600"
    last = conversation.messages[-1]
    assert last["role"] == "assistant" and last["content"].startswith("w0 w1 w2 w3 w4 w5 ")
    assert last.get("status") == "interrupted"


def test_corrupt_conversation_is_reported_and_skipped(isolated_dirs: Path) -> None:
    folder = isolated_dirs / "data" / "conversations"
    folder.mkdir(parents=True)
    (folder / "bad.jsonl").write_text("not json at all\n")
    conversations, warnings = list_conversations()
    assert conversations == [] and "bad.jsonl" in warnings[0]


_CHAT = [sys.executable, "-m", "localctl", "chat", "--api-key", "k", "--no-save"]


def _chat_cli(url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_CHAT, "--url", url, "--prompt", "hi", *extra],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_cli_prints_energy_and_its_source() -> None:
    with serve_fake_sse("slow", tokens=20) as url:
        result = _chat_cli(url, "--json")
        text = _chat_cli(url)
    doc = json.loads(result.stdout)
    assert doc["power_source"] in ("nvml+rapl", "nvml", "rapl", "config", "estimate")
    assert doc["energy_measured"] == (doc["power_source"] in ("nvml+rapl", "nvml", "rapl"))
    assert doc["energy_wh"] == pytest.approx(doc["power_w"] * doc["total_s"] / 3600, rel=0.01)
    assert doc["energy_usd"] == pytest.approx(doc["energy_wh"] / 1000 * 0.15)
    assert doc["timing_source"] == "client"
    assert "[energy: " in text.stderr
    assert ("measured (" in text.stderr) == doc["energy_measured"]
    assert text.stdout.strip() and text.stdout.endswith("\n"), "the reply ends its line"


def test_cli_energy_uses_configured_watts_when_nothing_is_measured(isolated_dirs: Path) -> None:
    from localctl import paths

    config = paths.config_file()
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("[cost]\npower_w = 120.0\nelectricity_usd_per_kwh = 0.3\n")
    with serve_fake_sse("slow", tokens=10) as url:
        result = _chat_cli(url, "--json")
    doc = json.loads(result.stdout)
    if doc["energy_measured"]:
        pytest.skip("this machine measures its power (NVML or RAPL)")
    assert (doc["power_w"], doc["power_source"]) == (120.0, "config")
    assert doc["energy_usd"] == pytest.approx(120.0 * doc["total_s"] / 3600 / 1000 * 0.3, rel=0.01)


def test_open_conversation_refuses_unknown_corrupt_and_path_like_ids() -> None:
    from localctl import paths
    from localctl.conversations import Conversation, open_conversation
    from localctl.errors import ChatError

    saved = Conversation.new("hello")
    saved.add("user", "hello")
    saved.end_reply("Hi.", "complete")
    assert open_conversation(saved.id).messages == [
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "Hi."},
    ]
    for bad in ("nope", "../etc/passwd"):
        with pytest.raises(ChatError, match="no saved conversation"):
            open_conversation(bad)
    (paths.conversations_dir() / "broken.jsonl").write_text("not json\n")
    with pytest.raises(ChatError, match="cannot read conversation broken"):
        open_conversation("broken")


async def _arrivals(url: str, **kwargs: object) -> tuple[list[float], str]:
    """When each batch of pieces reached the consumer (pieces within 5 ms of each other
    are one batch), and the text."""
    times: list[float] = []
    text: list[str] = []
    async for event in stream_chat(url, PROMPT, api_key="k", **kwargs):  # type: ignore[arg-type]
        if isinstance(event, TokenDelta):
            now = time.monotonic()
            if not times or now - times[-1] > 0.005:
                times.append(now)
            text.append(event.text)
    return times, "".join(text)


async def test_a_stream_read_every_so_often_comes_in_a_few_batches() -> None:
    """A display that shows text 4 times a second asks for the stream every 0.125 s: the
    tokens of a 1.2 s reply (one every 10 ms) reach it some 20 times (each wait, then the
    token that ends it) instead of 120, all of them, and the first as soon as it comes."""
    with serve_fake_sse("timings", tokens=120, delay_s=0.01) as url:
        started = time.monotonic()
        batched, text = await _arrivals(url, read_every=lambda: 0.125)
        assert text == "".join(f"w{i} " for i in range(120))
        assert len(batched) <= 24
        assert batched[0] - started < 1.0
        each, _ = await _arrivals(url)
    assert len(each) >= 60

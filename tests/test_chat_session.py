"""The chat session both faces use: history, conversation file, settings, power and meters."""

from __future__ import annotations

import asyncio
import json
from contextlib import aclosing
from pathlib import Path

import pytest

from localctl import paths
from localctl.chat_session import ChatEndpoint, ChatSession, SavingStopped, TurnEnded
from localctl.config import Config, CostConfig
from localctl.conversations import load
from localctl.errors import ChatError
from localctl.hardware import GpuUsage
from localctl.meters import PowerMeter
from localctl.model_settings import ModelSettings, model_settings_for, remember_model_settings
from localctl.replies import TokenDelta
from tests.fakesse import serve_fake_sse


def _session(url: str, **options: object) -> ChatSession:
    config = Config(system_prompt="Be brief.")
    settings = ModelSettings(model="fake", system_prompt="Be brief.")
    return ChatSession(config, ChatEndpoint(url, "k", "fake"), settings, **options)  # type: ignore[arg-type]


async def _turn(
    session: ChatSession, prompt: str, cancel: asyncio.Event | None = None
) -> tuple[list[str], list[object]]:
    pieces: list[str] = []
    others: list[object] = []
    async for event in session.send(prompt, cancel):
        if isinstance(event, TokenDelta):
            pieces.append(event.text)
        else:
            others.append(event)
    return pieces, others


def _records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_a_turn_keeps_history_file_and_meters() -> None:
    with serve_fake_sse("normal", tokens=12) as url:
        session = _session(url)
        pieces, others = await _turn(session, "hello")
        await _turn(session, "again")
    text = "".join(f"w{i} " for i in range(12))
    assert "".join(pieces) == text
    ended = others[-1]
    assert isinstance(ended, TurnEnded) and ended.reply.status == "complete"
    assert session.history == [
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": text},
        {"role": "user", "content": "again"},
        {"role": "assistant", "content": text},
    ]
    assert session.conversation is not None
    path = session.conversation.path
    assert path.stat().st_mode & 0o777 == 0o600
    assert session.conversation.title == "hello"
    assert [m["role"] for m in load(path).messages] == [
        "system",
        "user",
        "assistant",
        "user",
        "assistant",
    ]
    meters = session.meters
    assert meters.replies == 2 and meters.session_completion_tokens == 24
    assert meters.gen_tok_s_history and meters.energy_wh > 0 and meters.energy_source


async def test_the_request_carries_the_system_prompt_and_settings() -> None:
    session = ChatSession(Config(), settings=ModelSettings(system_prompt="Answer in French."))
    session.history.append({"role": "user", "content": "hi"})
    assert session.request_messages() == [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "hi"},
    ]
    session.use_settings(ModelSettings(system_prompt="  "), remember=False)
    assert session.request_messages() == [{"role": "user", "content": "hi"}]


async def test_cancel_stops_the_reply_and_keeps_the_partial_text() -> None:
    cancel = asyncio.Event()
    with serve_fake_sse("slow", tokens=500) as url:  # 10 s unless stopped
        session = _session(url)
        pieces: list[str] = []
        ended = None
        async for event in session.send("go", cancel):
            if isinstance(event, TokenDelta):
                pieces.append(event.text)
                if len(pieces) == 3:
                    cancel.set()
            elif isinstance(event, TurnEnded):
                ended = event
    assert ended is not None and ended.reply.status == "stopped"
    assert session.history[-1] == {"role": "assistant", "content": "".join(pieces)}
    assert session.conversation is not None
    assert _records(session.conversation.path)[-1] == {
        "type": "end",
        "text": "".join(pieces),
        "status": "stopped",
    }
    assert session.meters.replies == 1, "a stopped reply's tokens are counted"


async def test_closing_the_stream_midway_records_a_stopped_reply() -> None:
    with serve_fake_sse("slow", tokens=500) as url:
        session = _session(url)
        pieces: list[str] = []
        async with aclosing(session.send("go")) as events:
            async for event in events:
                if isinstance(event, TokenDelta):
                    pieces.append(event.text)
                    if len(pieces) == 2:
                        break
    assert session.conversation is not None
    assert _records(session.conversation.path)[-1] == {
        "type": "end",
        "text": "w0 w1 ",
        "status": "stopped",
    }
    assert session.history[-1] == {"role": "assistant", "content": "w0 w1 "}


async def test_a_cancelled_task_records_a_stopped_reply() -> None:
    with serve_fake_sse("slow", tokens=500) as url:
        session = _session(url)
        started = asyncio.Event()

        async def consume() -> None:
            async with aclosing(session.send("go")) as events:
                async for _event in events:
                    started.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(started.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert session.conversation is not None
    last = _records(session.conversation.path)[-1]
    assert last["type"] == "end" and last["status"] == "stopped" and last["text"]


async def test_a_server_error_is_recorded_as_interrupted_then_raised() -> None:
    with serve_fake_sse("error", tokens=5) as url:
        session = _session(url)
        with pytest.raises(ChatError, match="model exploded"):
            await _turn(session, "go")
    assert session.conversation is not None
    assert _records(session.conversation.path)[-1] == {
        "type": "end",
        "text": "w0 w1 ",
        "status": "interrupted",
    }
    assert session.meters.replies == 0


async def test_without_a_server_send_says_so() -> None:
    session = ChatSession(Config())
    with pytest.raises(ChatError, match="no server"):
        await _turn(session, "hello")
    assert session.history == []


async def test_no_save_writes_nothing() -> None:
    with serve_fake_sse("normal", tokens=3) as url:
        session = _session(url, save=False)
        await _turn(session, "hello")
    assert session.conversation is None and len(session.history) == 2
    assert not paths.conversations_dir().exists() or not list(
        paths.conversations_dir().glob("*.jsonl")
    )


async def test_an_unwritable_data_folder_is_one_notice_and_the_chat_goes_on() -> None:
    paths.conversations_dir().parent.mkdir(parents=True, exist_ok=True)
    paths.conversations_dir().write_text("a file where the folder should be")
    with serve_fake_sse("normal", tokens=4) as url:
        session = _session(url)
        pieces, others = await _turn(session, "hello")
        _, again = await _turn(session, "again")
    notices = [e for e in others if isinstance(e, SavingStopped)]
    assert len(notices) == 1 and "not saved" in notices[0].reason
    assert not any(isinstance(e, SavingStopped) for e in again)
    assert pieces and len(session.history) == 4 and session.conversation is None


async def test_a_resumed_conversation_continues_in_its_own_file() -> None:
    with serve_fake_sse("normal", tokens=3) as url:
        first = _session(url)
        await _turn(first, "one")
        assert first.conversation is not None
        second = _session(url)
        second.resume(first.conversation.id)
        assert [m["role"] for m in second.history] == ["user", "assistant"]
        await _turn(second, "two")
    assert second.conversation is not None
    assert second.conversation.path == first.conversation.path
    roles = [m["role"] for m in load(first.conversation.path).messages]
    assert roles == ["system", "user", "assistant", "user", "assistant"]
    second.new_conversation()
    assert second.history == [] and second.conversation is None


def test_model_settings_are_remembered_per_model() -> None:
    assert model_settings_for("m1", "default prompt") == ModelSettings(
        model="m1", system_prompt="default prompt"
    )
    remember_model_settings(
        ModelSettings(model="m1", system_prompt="pirate", temperature=None, max_tokens=64)
    )
    assert model_settings_for("m1", "default prompt") == ModelSettings(
        model="m1", system_prompt="pirate", temperature=None, max_tokens=64
    )
    assert model_settings_for("m2", "x").system_prompt == "x"
    file = paths.data_dir() / "tui-model-settings.json"
    assert file.stat().st_mode & 0o777 == 0o600
    session = ChatSession(Config(system_prompt="default prompt"))
    session.connect(ChatEndpoint("http://127.0.0.1:9", None, "m1"))
    assert session.settings.system_prompt == "pirate"
    file.write_text("{not json")
    assert model_settings_for("m1", "fallback").system_prompt == "fallback"


async def test_power_is_sampled_while_the_reply_streams_and_prices_its_energy(
    tmp_path: Path,
) -> None:
    reads: list[float] = []

    def gpus() -> list[GpuUsage]:
        reads.append(100.0 if not reads else 300.0)
        return [GpuUsage(0, "GPU", 90.0, 1 << 30, 8 << 30, reads[-1])]

    meter = PowerMeter(None, powercap_root=tmp_path / "no-rapl", gpu_reader=gpus)
    config = Config(cost=CostConfig(electricity_usd_per_kwh=0.5))
    with serve_fake_sse("slow", tokens=60) as url:  # 1.2 s: at least two samples
        session = ChatSession(config, ChatEndpoint(url, "k", "fake"), power_meter=meter)
        _, others = await _turn(session, "go")
    ended = others[-1]
    assert isinstance(ended, TurnEnded)
    assert len(reads) >= 3, "read at the request, while streaming and at the end"
    # The reading that opens the interval is not a sample; the others are 300 W.
    assert ended.power.watts == pytest.approx(300.0) and ended.power.source == "nvml"
    total_s = ended.reply.metrics.total_s
    assert session.meters.energy_wh == pytest.approx(300.0 * total_s / 3600)
    assert session.meters.energy_usd == pytest.approx(300.0 * total_s / 3600 / 1000 * 0.5)
    assert session.meters.energy_source == "measured (nvml)"

"""One request never cancels another on a server localctl started (issue 16 #8)."""

from __future__ import annotations

import asyncio

import pytest

from localctl.chat import stream_chat
from localctl.replies import Reply, ReplyDone
from localctl.server import ModelServer

CLIENTS = 4


async def _reply(server: ModelServer, index: int) -> Reply:
    messages = [{"role": "user", "content": f"Count from {index} to {index + 20}."}]
    async for event in stream_chat(
        server.url, messages, api_key=server.api_key, max_tokens=12, temperature=0.0, seed=index
    ):
        if isinstance(event, ReplyDone):
            return event.reply
    raise AssertionError("no reply")


@pytest.mark.slow
async def test_four_concurrent_chats_on_one_server_are_all_answered(
    smollm2_server: ModelServer,
) -> None:
    replies = await asyncio.gather(*(_reply(smollm2_server, i) for i in range(CLIENTS)))
    for reply in replies:
        assert reply.status == "complete", reply.error
        assert reply.metrics.completion_tokens > 0 and reply.text
        # The token counts came from the server's tokenizer while others streamed.
        assert reply.metrics.token_count_source in ("server", "tokenizer")

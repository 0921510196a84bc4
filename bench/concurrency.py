"""Concurrent chats on one server: every client answered, aggregate tok/s vs one client.

A server localctl starts with SmolLM2 (llama-cpp-python: requests queue with
``--interrupt_requests false``; native llama-server when built: ``--parallel 4``
slots). One client, then ``CLIENTS`` clients at once, each asking for
``MAX_TOKENS`` tokens at temperature 0. Aggregate tok/s is every completion token
over the wall time of the whole round. Before the queue, four clients on
llama-cpp-python got 0 tokens each (each new request aborted the stream in progress).
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

CLIENTS = 4
MAX_TOKENS = 64
THREADS = 1
"""One thread: on a shared, loaded 2-core machine two threads spin on each other's
barrier (one client: 1.1 tok/s with 2 threads, 14.4 with 1, minutes apart)."""


async def _round(url: str, key: str, clients: int) -> dict[str, Any]:
    from localctl.chat import stream_chat
    from localctl.replies import Reply, ReplyDone

    async def one(index: int) -> Reply:
        messages = [{"role": "user", "content": f"Write {index + 3} sentences about rivers."}]
        async for event in stream_chat(
            url, messages, api_key=key, max_tokens=MAX_TOKENS, temperature=0.0, seed=index
        ):
            if isinstance(event, ReplyDone):
                return event.reply
        raise RuntimeError("no reply")

    started = time.perf_counter()
    replies = await asyncio.gather(*(one(i) for i in range(clients)))
    wall = time.perf_counter() - started
    tokens = sum(r.metrics.completion_tokens for r in replies)
    return {
        "clients": clients,
        "answered": sum(
            r.status == "complete" and r.metrics.completion_tokens > 0 for r in replies
        ),
        "tokens": tokens,
        "wall_s": round(wall, 2),
        "aggregate_tok_s": round(tokens / wall, 1),
        "per_client_tok_s": round(sum(r.metrics.gen_tok_s for r in replies) / clients, 1),
    }


def _measure(backend: str, parallel: int, binary: str = "") -> list[dict[str, Any]]:
    from localctl.server import ModelServer, ServerOptions, free_port
    from tests.conftest import fetch_smollm2

    server = ModelServer(
        ServerOptions(
            model_path=fetch_smollm2(),
            model_name="smollm2",
            backend=backend,
            port=free_port("127.0.0.1"),
            ctx=2048,
            parallel=parallel,
            threads=THREADS,
            llama_server_path=binary,
        )
    )
    server.start_sync(timeout_s=180)
    try:
        asyncio.run(_round(server.url, server.api_key, 1))  # warm-up
        rows = [asyncio.run(_round(server.url, server.api_key, n)) for n in (1, CLIENTS)]
    finally:
        server.stop_sync()
    single = rows[0]["aggregate_tok_s"] or 1.0
    for row in rows:
        row["backend"] = f"{backend} (parallel {parallel})"
        row["vs_one_client"] = f"{row['aggregate_tok_s'] / single:.2f}x"
    return rows


def run() -> list[dict[str, Any]]:
    """Rows for llama-cpp-python, and for native llama-server when one is built."""
    from tests.server_helpers import native_binary_path

    rows = _measure("llama-cpp-python", 1)
    native = native_binary_path()
    if native.is_file() and os.access(native, os.X_OK):
        rows += _measure("llama-server", CLIENTS, str(native))
    else:
        rows.append({"backend": "llama-server", "clients": "-", "answered": "not built here"})
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)

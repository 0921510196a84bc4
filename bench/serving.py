"""Both backends in one run (decode tok/s, RSS) and speculative decoding with a self-draft.

Every server serves SmolLM2-135M at ctx 1024 on loopback and answers the same prompt at
temperature 0, one after the other, so the rows share the machine's conditions. Decode
tok/s is the server's own ``timings`` where it sends them (llama-server), else measured
here from the stream with exact token counts. RSS is the server process tree after the
reply. The draft rows run llama-server with and without SmolLM2 as its own draft:
acceptance from ``draft_n``/``draft_n_accepted``, speed-up as the ratio of decode rates.

Usage: ``python -m bench serving``
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

PROMPT = [{"role": "user", "content": "Count from 1 to 60, separated by commas."}]
MAX_TOKENS = 128
CTX = 1024
RUNS = 3


def _model() -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.conftest import fetch_smollm2

    return fetch_smollm2()


async def _replies(url: str, key: str, runs: int) -> list[Any]:
    from localctl.chat import stream_chat
    from localctl.replies import ReplyDone

    replies = []
    for _ in range(runs):
        async for event in stream_chat(
            url, PROMPT, api_key=key, max_tokens=MAX_TOKENS, temperature=0.0, seed=1
        ):
            if isinstance(event, ReplyDone):
                replies.append(event.reply)
    return replies


def _serve(backend: str, native: str, draft: Path | None) -> dict[str, Any]:
    from localctl.server import ModelServer, ServerOptions, free_port

    with tempfile.TemporaryDirectory() as logs:
        server = ModelServer(
            ServerOptions(
                model_path=_model(),
                backend=backend,
                port=free_port("127.0.0.1"),
                ctx=CTX,
                llama_server_path=native,
                log_dir=Path(logs),
                draft_path=draft,
            )
        )
        server.start_sync(timeout_s=300)
        try:
            replies = asyncio.run(_replies(server.url, server.api_key, RUNS))
            rss = server.measure()["rss_bytes"]
        finally:
            server.stop_sync()
    rates = sorted(r.metrics.gen_tok_s for r in replies)
    last = replies[-1].metrics
    row: dict[str, Any] = {
        "backend": backend + (" + self-draft" if draft else ""),
        "decode tok/s (median of 3)": round(rates[len(rates) // 2], 1),
        "timing source": last.timing_source,
        "RSS MiB": round(rss / 2**20, 1),
        "tokens": last.completion_tokens,
    }
    if draft is not None:
        accepted = sum(r.metrics.draft_accepted for r in replies)
        drafted = sum(r.metrics.draft_tokens for r in replies)
        row["draft accepted"] = (
            f"{accepted}/{drafted} ({accepted / drafted:.0%})" if drafted else "-"
        )
    return row


def run() -> list[dict[str, Any]]:
    """llama-cpp-python, llama-server, llama-server with SmolLM2 as its own draft."""
    from localctl.backends import find_llama_server

    native = find_llama_server() or ""
    rows = [_serve("llama-cpp-python", native, None)]
    if not native:
        rows.append({"backend": "llama-server", "error": "no native llama-server found"})
        return rows
    rows.append(_serve("llama-server", native, None))
    rows.append(_serve("llama-server", native, _model()))
    plain, drafted = rows[1]["decode tok/s (median of 3)"], rows[2]["decode tok/s (median of 3)"]
    rows[2]["speed-up vs no draft"] = f"x{drafted / plain:.2f}" if plain else "-"
    rows[1]["vs llama-cpp-python"] = (
        f"x{plain / rows[0]['decode tok/s (median of 3)']:.2f} tok/s, "
        f"{rows[1]['RSS MiB'] / rows[0]['RSS MiB']:.2f} RSS"
    )
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)

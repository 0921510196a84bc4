"""Client overhead: generation tok/s through ``localctl chat`` vs a bare httpx SSE loop
vs in-process llama-cpp-python, same model, prompt, seed and token budget, one run."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

PROMPT = "Write a long story about a lighthouse keeper."
MAX_TOKENS = 128
RUNS = 5


def _bare_sse(url: str, key: str) -> float:
    import httpx

    body = {
        "model": "local",
        "messages": [{"role": "user", "content": PROMPT}],
        "stream": True,
        "max_tokens": MAX_TOKENS,
        "temperature": 0.0,
        "seed": 1,
    }
    times: list[float] = []
    with httpx.stream(
        "POST",
        url + "/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=120,
    ) as response:
        for line in response.iter_lines():
            if line.startswith("data:") and '"content"' in line and "[DONE]" not in line:
                chunk = json.loads(line[5:])
                if chunk["choices"][0]["delta"].get("content"):
                    times.append(time.perf_counter())
    return (len(times) - 1) / (times[-1] - times[0])


def _localctl_chat(url: str, key: str) -> float:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "localctl",
            "chat",
            "--url",
            url,
            "--api-key",
            key,
            "--prompt",
            PROMPT,
            "--max-tokens",
            str(MAX_TOKENS),
            "--temperature",
            "0",
            "--seed",
            "1",
            "--json",
            "--no-save",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return float(json.loads(out.stdout)["gen_tok_s"])


def _in_process(model_path: str, threads: int) -> float:
    from llama_cpp import Llama

    llm = Llama(model_path=model_path, n_ctx=2048, n_threads=threads, verbose=False, seed=1)
    messages = [{"role": "user", "content": PROMPT}]
    rates = []
    for _ in range(RUNS):
        times = []
        for chunk in llm.create_chat_completion(
            messages=messages,
            max_tokens=MAX_TOKENS,
            temperature=0.0,
            stream=True,  # type: ignore[arg-type]
        ):
            if chunk["choices"][0]["delta"].get("content"):  # type: ignore[index]
                times.append(time.perf_counter())
        rates.append((len(times) - 1) / (times[-1] - times[0]))
    del llm
    return statistics.median(rates)


def run() -> list[dict[str, Any]]:
    """Median gen tok/s of each client on one llama-cpp-python server (SmolLM2, ctx 2048)."""
    import psutil

    from localctl.server import ModelServer, ServerOptions
    from tests.conftest import fetch_smollm2

    model = fetch_smollm2()
    threads = psutil.cpu_count(logical=False) or 1
    os.environ.setdefault("LOCALCTL_HOME", tempfile.mkdtemp(prefix="localctl-bench-"))
    server = ModelServer(
        ServerOptions(
            model_path=model, backend="llama-cpp-python", port=0, ctx=2048, threads=threads
        )
    )
    server.start_sync()
    try:
        url, key = server.url, server.api_key or ""
        _bare_sse(url, key)  # warm-up
        bare_runs: list[float] = []
        chat_runs: list[float] = []
        for _ in range(RUNS):  # interleaved so drift in machine load hits both alike
            bare_runs.append(_bare_sse(url, key))
            chat_runs.append(_localctl_chat(url, key))
        bare, chat = statistics.median(bare_runs), statistics.median(chat_runs)
    finally:
        server.stop_sync()
    local = _in_process(str(model), threads)
    return [
        {"client": "in-process llama-cpp-python", "gen tok/s": round(local, 1), "ratio": "-"},
        {
            "client": "bare httpx SSE loop (server)",
            "gen tok/s": round(bare, 1),
            "ratio": f"{bare / local:.3f} × in-process",
        },
        {
            "client": "localctl chat --json (server)",
            "gen tok/s": round(chat, 1),
            "ratio": f"{chat / bare:.3f} × bare httpx (target ≥ 0.97)",
        },
    ]

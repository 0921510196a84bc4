"""Client overhead: generation tok/s through ``localctl chat`` vs a bare httpx SSE loop
vs in-process llama-cpp-python, same model, prompt, seed and token budget, one run.

The bare loop computes the rate by the same definition as ``localctl chat`` (the
server's ``timings`` when sent, else exact tokens over first-to-last chunk time), so
the ratio is the client's overhead and nothing else. Each backend is measured
(native llama-server when one is built)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from localctl.server import ModelServer

PROMPT = "Write a long story about a lighthouse keeper."
MAX_TOKENS = 128
RUNS = 7


def _tokens(url: str, key: str, text: str) -> int:
    """Exact token count from the server's own tokenizer (native or llama-cpp-python)."""
    import httpx

    headers = {"Authorization": f"Bearer {key}"}
    answer = httpx.post(url + "/tokenize", json={"content": text}, headers=headers, timeout=30)
    if answer.status_code == 200:
        return len(answer.json()["tokens"])

    def extras(piece: str) -> int:
        reply = httpx.post(
            url + "/extras/tokenize", json={"input": piece}, headers=headers, timeout=30
        )
        reply.raise_for_status()
        return len(reply.json()["tokens"])

    return extras(text) - extras("")  # that endpoint adds the BOS token when a model has one


def _bare_sse(url: str, key: str) -> float:
    """Generation tok/s by the definition ``localctl chat`` uses, with nothing but httpx.

    The server's own ``timings`` when it sends them, else exact tokens (server tokenizer)
    minus one over the time from the first to the last content chunk.
    """
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
    parts: list[str] = []
    server_rate = 0.0
    with httpx.stream(
        "POST",
        url + "/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=120,
    ) as response:
        for line in response.iter_lines():
            if not line.startswith("data:") or "[DONE]" in line:
                continue
            chunk = json.loads(line[5:])
            timings = chunk.get("timings") or {}
            server_rate = float(timings.get("predicted_per_second") or server_rate)
            choices = chunk.get("choices") or [{}]
            content = (choices[0].get("delta") or {}).get("content")
            if content:
                times.append(time.perf_counter())
                parts.append(content)
    if server_rate:
        return server_rate
    return (_tokens(url, key, "".join(parts)) - 1) / (times[-1] - times[0])


def _localctl_chat(url: str, key: str, max_tokens: int = MAX_TOKENS) -> float:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "localctl",
            "chat",
            "--url",
            url,
            f"--api-key={key}",  # a key may start with "-"
            "--prompt",
            PROMPT,
            "--max-tokens",
            str(max_tokens),
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


def smollm2_server(backend: str, native: str = "") -> ModelServer:
    """The chat benches' server (not started): SmolLM2 at ctx 2048 on the physical cores."""
    import psutil

    from localctl.server import ModelServer, ServerOptions
    from tests.conftest import fetch_smollm2

    return ModelServer(
        ServerOptions(
            model_path=fetch_smollm2(),
            backend=backend,
            port=0,
            ctx=2048,
            threads=psutil.cpu_count(logical=False) or 1,
            llama_server_path=native,
        )
    )


def _server_rates(backend: str, native: str = "") -> tuple[float, float]:
    """Median gen tok/s of the bare SSE loop and of ``localctl chat`` on one server."""
    server = smollm2_server(backend, native)
    server.start_sync()
    try:
        url, key = server.url, server.api_key or ""
        _bare_sse(url, key)  # warm-up
        bare_runs: list[float] = []
        chat_runs: list[float] = []
        for _ in range(RUNS):  # interleaved so drift in machine load hits both alike
            bare_runs.append(_bare_sse(url, key))
            chat_runs.append(_localctl_chat(url, key))
    finally:
        server.stop_sync()
    return statistics.median(bare_runs), statistics.median(chat_runs)


def run() -> list[dict[str, Any]]:
    """Median gen tok/s of each client on each server backend (SmolLM2, ctx 2048)."""
    import psutil

    from bench.serve import _native
    from tests.conftest import fetch_smollm2

    os.environ.setdefault("LOCALCTL_HOME", tempfile.mkdtemp(prefix="localctl-bench-"))
    local = _in_process(str(fetch_smollm2()), psutil.cpu_count(logical=False) or 1)
    rows: list[dict[str, Any]] = [
        {"client": "in-process llama-cpp-python", "gen tok/s": round(local, 1), "ratio": "-"}
    ]
    native = _native()
    backends = [("llama-cpp-python", "")] + ([("llama-server", native)] if native else [])
    for backend, binary in backends:
        bare, chat = _server_rates(backend, binary)
        rows += [
            {
                "client": f"bare httpx SSE loop ({backend} server)",
                "gen tok/s": round(bare, 1),
                "ratio": f"{bare / local:.3f} × in-process",
            },
            {
                "client": f"localctl chat --json ({backend} server)",
                "gen tok/s": round(chat, 1),
                "ratio": f"{chat / bare:.3f} × bare httpx (target ≥ 0.97: "
                f"{'met' if chat / bare >= 0.97 else 'MISSED'}); "
                f"{chat / local:.3f} × in-process (PRODUCT.md ≥ 0.97: "
                f"{'met' if chat / local >= 0.97 else 'MISSED'})",
            },
        ]
    if not native:
        rows.append(
            {
                "client": "native llama-server",
                "gen tok/s": "-",
                "ratio": "not available here (scripts/build-llama-server.sh builds it)",
            }
        )
    return rows

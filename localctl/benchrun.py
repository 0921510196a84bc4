"""Speed measured on this machine: the store of ``localctl bench`` results and the
calibration every later prediction on this machine takes from it.

A result is kept per machine fingerprint (CPU, GPUs, backend) with the backend's build,
in ``data_dir()/bench.json``. :func:`calibration_for` turns the newest results for the
machine and backend (up to three runs of the newest build, averaged) into a
:class:`localctl.speed.Calibration`: the ratio of the
streaming rate (and matrix rate) the run implies to the one the model assumed, so a
model of any size is predicted from what was measured here.
"""

from __future__ import annotations

import functools
import json
import statistics
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from localctl import paths, speed
from localctl.auth import bearer_headers

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import httpx

    from localctl.config import Config
    from localctl.hardware import Hardware

FILE_VERSION = 1


@dataclass(frozen=True, slots=True)
class BenchResult:
    """One ``localctl bench`` run: llama-bench's pp512 / tg128, mean and sd over repetitions."""

    fingerprint: str
    """``cpu | gpus | backend`` (see :func:`fingerprint`)."""
    build: str
    """The backend's version string (llama-server build, llama-cpp-python version)."""
    model: str
    prompt_tok_s: float
    prompt_tok_s_sd: float
    gen_tok_s: float
    gen_tok_s_sd: float
    decode_scale: float
    """Measured / modelled streaming rate."""
    prompt_scale: float
    """Measured / modelled matrix throughput."""
    repetitions: int
    when: float
    """Unix time of the run."""
    fixed_extra_s: float = 0.0
    """Per-token time beyond the model's fixed costs (see :func:`scales`)."""


def fingerprint(hw: Hardware, backend: str) -> str:
    """What a measurement depends on: CPU model and cores, GPU models, the backend."""
    gpus = ",".join(g.name for g in hw.gpus) or "no GPU"
    return f"{hw.cpu_name} x{hw.physical_cores} | {gpus} | {backend}"


def store_file() -> Path:
    """JSON file of bench results, newest last."""
    return paths.data_dir() / "bench.json"


def load_results() -> list[BenchResult]:
    """Every stored result (an unreadable or foreign file reads as none)."""
    try:
        document = json.loads(store_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(document, dict) or document.get("version") != FILE_VERSION:
        return []
    results = []
    for entry in document.get("results", []):
        try:
            results.append(BenchResult(**entry))
        except TypeError:
            continue
    return results


def save_result(result: BenchResult) -> None:
    """Append ``result`` to the store (atomically, private to the user)."""
    from localctl.config import atomic_write

    results = [*load_results(), result]
    document: dict[str, Any] = {
        "version": FILE_VERSION,
        "results": [asdict(r) for r in results[-200:]],
    }
    paths.ensure_private_dir(store_file().parent)
    atomic_write(store_file(), json.dumps(document, indent=1).encode("utf-8"))


RUNS_AVERAGED = 3
"""A calibration is the mean of this many of the newest runs of one build: on a shared or
busy machine one run can read 10% off the next."""


def _label(result: BenchResult, runs: int) -> str:
    day = time.strftime("%Y-%m-%d", time.localtime(result.when))
    averaged = f"; mean of {runs} runs" if runs > 1 else ""
    return f"calibrated here ({result.build}, {day}{averaged})"


def calibration_for(hw: Hardware, backend: str) -> speed.Calibration | None:
    """The calibration of this machine and backend, or None (a simulated profile has none).

    The newest run's build decides; its newest :data:`RUNS_AVERAGED` runs are averaged
    (geometric mean of their scales), so each ``localctl bench`` refines the figure and
    a new build starts afresh.
    """
    if hw.profile:
        return None
    runs = _recent(fingerprint(hw, backend))
    if not runs:
        return None
    decode = [r.decode_scale for r in runs]
    within = statistics.fmean(r.gen_tok_s_sd / r.gen_tok_s for r in runs)
    between = statistics.stdev(decode) / statistics.fmean(decode) if len(runs) > 1 else 0.0
    return speed.Calibration(
        decode_scale=statistics.geometric_mean(decode),
        prompt_scale=statistics.geometric_mean(r.prompt_scale for r in runs),
        fixed_extra_s=statistics.fmean(r.fixed_extra_s for r in runs),
        label=_label(runs[-1], len(runs)),
        decode_sd=max(within, between),
    )


def _recent(key: str) -> tuple[BenchResult, ...]:
    try:
        stamp = store_file().stat().st_mtime_ns
    except OSError:
        return ()
    return _recent_in(key, str(store_file()), stamp)


@functools.lru_cache(maxsize=16)
def _recent_in(key: str, file: str, stamp: int) -> tuple[BenchResult, ...]:
    """Cached per store file and modification time, so planning a whole catalog reads it once."""
    del file, stamp
    matching = [
        r
        for r in load_results()
        if r.fingerprint == key and min(r.decode_scale, r.prompt_scale, r.gen_tok_s) > 0
    ]
    if not matching:
        return ()
    build = matching[-1].build
    return tuple([r for r in matching if r.build == build][-RUNS_AVERAGED:])


# --------------------------------------------------------------------------- the run

PROMPT_TOKENS = 512
GEN_TOKENS = 128
REPETITIONS = 3
FIRST_TOKEN_ID = 200
"""Prompts are token ids ``200, 201, ...`` (any vocabulary has them): like llama-bench's
random tokens, nothing for the prompt cache to reuse across repetitions."""


@dataclass(frozen=True, slots=True)
class Measurement:
    """One repetition: prompt and generation rates (tokens/s) and where they came from."""

    prompt_tok_s: float
    gen_tok_s: float
    gen_tokens: int
    source: str
    """``server timings`` (llama-server's own) or ``client clock`` (streamed chunks)."""


def bench_prompt(repetition: int, n_tokens: int = PROMPT_TOKENS) -> list[int]:
    """Token ids of the ``repetition``-th prompt (each differs from the first token on)."""
    start = FIRST_TOKEN_ID + 7 * repetition
    return [start + i % 997 for i in range(n_tokens)]


_WORDS = [
    "river",
    "stone",
    "light",
    "paper",
    "garden",
    "window",
    "music",
    "orange",
    "silver",
    "number",
    "market",
    "winter",
    "engine",
    "forest",
    "candle",
    "bridge",
    "planet",
    "yellow",
    "summer",
    "letter",
    "circle",
    "pocket",
    "island",
    "ladder",
    "mirror",
    "thunder",
    "velvet",
    "harbor",
    "meadow",
    "signal",
    "copper",
    "lantern",
]


def text_prompt(client: httpx.Client, url: str, n_tokens: int, seed: int) -> tuple[str, int]:
    """Plain words that the server tokenizes to at least ``n_tokens`` (the OpenAI route
    takes text); the text and its token count by the server's own tokenizer."""

    def words(n: int) -> str:
        return " ".join(_WORDS[(seed + 7 * i) % len(_WORDS)] for i in range(n))

    def count(text: str) -> int:
        response = client.post(f"{url}/extras/tokenize/count", json={"input": text})
        response.raise_for_status()
        return int(response.json()["count"])

    n = n_tokens
    text = words(n)
    tokens = count(text)
    for _ in range(4):
        if n_tokens <= tokens <= n_tokens + 8:
            break
        n = max(1, round(n * n_tokens / max(1, tokens)))
        text = words(n)
        tokens = count(text)
    return text, tokens


def measure_once(
    url: str,
    api_key: str,
    backend: str,
    prompt: list[int],
    gen_tokens: int = GEN_TOKENS,
    timeout_s: float = 600.0,
) -> Measurement:
    """One llama-bench-style repetition against a running server.

    llama-server: ``/completion`` with ``ignore_eos`` and no prompt cache; its ``timings``
    give both rates. Other servers: a streamed ``/v1/completions``; the prompt rate is
    prompt tokens over the time to the first chunk, the generation rate counts chunks
    after the first.

    Raises:
        ServerError: the server refused the request or sent nothing usable.
    """
    import time

    import httpx

    from localctl.errors import ServerError

    headers = bearer_headers(api_key)
    try:
        with httpx.Client(timeout=timeout_s, headers=headers) as client:
            if backend == "llama-server":
                response = client.post(
                    f"{url}/completion",
                    json={
                        "prompt": prompt,
                        "n_predict": gen_tokens,
                        "ignore_eos": True,
                        "cache_prompt": False,
                        "temperature": 0.0,
                    },
                )
                response.raise_for_status()
                timings = response.json().get("timings") or {}
                prompt_rate = float(timings.get("prompt_per_second") or 0)
                gen_rate = float(timings.get("predicted_per_second") or 0)
                count = int(timings.get("predicted_n") or 0)
                if prompt_rate <= 0 or gen_rate <= 0:
                    raise ServerError("llama-server sent no timings with its completion")
                return Measurement(prompt_rate, gen_rate, count, "server timings")
            prompt_text, n_prompt = text_prompt(client, url, len(prompt), prompt[0])
            started = time.perf_counter()
            first = last = 0.0
            chunks = 0
            body = {
                "prompt": prompt_text,
                "max_tokens": gen_tokens,
                "temperature": 0.0,
                "stream": True,
            }
            with client.stream("POST", f"{url}/v1/completions", json=body) as stream:
                stream.raise_for_status()
                for line in stream.iter_lines():
                    if not line.startswith("data:") or line.strip() == "data: [DONE]":
                        continue
                    now = time.perf_counter()
                    chunks += 1
                    if chunks == 1:
                        first = now
                    last = now
    except (httpx.HTTPError, KeyError, ValueError) as error:
        raise ServerError(f"bench request failed: {error}") from error
    if chunks < 8 or last <= first:
        raise ServerError(f"the server streamed only {chunks} tokens; cannot time generation")
    return Measurement(
        prompt_tok_s=n_prompt / (first - started),
        gen_tok_s=(chunks - 1) / (last - first),
        gen_tokens=chunks,
        source="client clock",
    )


def mean_sd(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    mean = statistics.fmean(values)
    return mean, statistics.stdev(values) if len(values) > 1 else 0.0


def scales(
    hw: Hardware,
    work: speed.DecodeWork,
    prompt: speed.PromptWork,
    *,
    prompt_tokens: int = PROMPT_TOKENS,
    flash_attn: bool,
    gen_tok_s: float,
    prompt_tok_s: float,
) -> tuple[float, float, float]:
    """``(decode scale, prompt scale, fixed extra seconds)`` that make the model reproduce
    what was measured here.

    One measurement cannot tell a slower stream from a slower step, so it corrects the
    term that dominates the benched step: the streaming rate when streaming is at least
    half of the modelled time (then a bigger model is predicted from the rate measured
    here), else the fixed cost per token (a small model on a GPU: then a bigger model
    keeps the modelled bandwidth).
    """
    measured_s = 1.0 / gen_tok_s
    stream_s, fixed_s = speed.decode_parts(hw, work, flash_attn=flash_attn)
    decode_scale, fixed_extra_s = 1.0, 0.0
    if stream_s >= fixed_s and measured_s - fixed_s > 0.3 * measured_s:
        decode_scale = stream_s / (measured_s - fixed_s)
    elif stream_s >= fixed_s:
        decode_scale = (stream_s + fixed_s) / measured_s
    else:
        fixed_extra_s = max(-fixed_s, measured_s - stream_s - fixed_s)
    modelled = speed.prompt_tok_s(hw, prompt, prompt_tokens)
    prompt_scale = prompt_tok_s / modelled if modelled > 0 else 1.0
    return round(decode_scale, 4), round(prompt_scale, 4), round(fixed_extra_s, 7)


@dataclass(frozen=True, slots=True)
class BenchReport:
    """What ``localctl bench`` shows: the stored result, the repetitions and the model's view."""

    result: BenchResult
    backend: str
    measurements: tuple[Measurement, ...]
    predicted_prompt_tok_s: float
    """The model's pp512 before this run (uncalibrated)."""
    predicted_gen_tok_s: float
    """The model's tg128 before this run (uncalibrated)."""
    busy: str
    """Why the machine was busy during the run (empty when quiet)."""
    stored: bool
    """Whether the run became this machine's calibration."""
    prompt_tokens: int = PROMPT_TOKENS
    gen_tokens: int = GEN_TOKENS


def server_build(url: str, api_key: str, backend: str) -> str:
    """The backend's version: llama-server's ``/props`` build, or the Python package's."""
    if backend == "llama-server":
        import httpx

        try:
            props = httpx.get(f"{url}/props", headers=bearer_headers(api_key), timeout=10).json()
        except (httpx.HTTPError, ValueError):
            return "llama-server (build unknown)"
        build = props.get("build_info") if isinstance(props, dict) else None
        return f"llama-server {build}" if build else "llama-server (build unknown)"
    from importlib import metadata

    try:
        return f"llama-cpp-python {metadata.version('llama_cpp_python')}"
    except metadata.PackageNotFoundError:
        return backend


def run_bench(
    path: Path,
    name: str,
    hw: Hardware,
    config: Config,
    *,
    backend: str | None = None,
    threads: int | None = None,
    repetitions: int = REPETITIONS,
    prompt_tokens: int = PROMPT_TOKENS,
    gen_tokens: int = GEN_TOKENS,
    store_busy: bool = False,
    progress: Callable[[str], None] | None = None,
    timeout_s: float = 300.0,
) -> BenchReport:
    """Bench ``path`` as ``serve`` would run it (same request, plan and launch options).

    A run on a busy machine (load average above half the CPUs) reads low, so it is not
    stored as this machine's calibration unless ``store_busy``: a figure measured while
    something else ran is never the basis of a prediction.

    Raises:
        ServerError: the server did not start or a request failed.
        GgufError: the file is not a valid GGUF.
        BadInputError: an unknown backend.
    """
    from localctl.hardware import machine_busy
    from localctl.plan import _kv_read, decode_work, plan, prompt_work
    from localctl.request import PlanRequest
    from localctl.server import ModelServer, free_port
    from localctl.session import LaunchOverrides, launch_options
    from localctl.shape import shape_from_file

    say = progress or (lambda _line: None)
    request = PlanRequest.from_config(
        config, ctx=prompt_tokens + gen_tokens + 256, parallel=1, backend=backend
    )
    shape = shape_from_file(path)
    placed = plan(shape, hw, request)
    overrides = LaunchOverrides(host="127.0.0.1", port=free_port("127.0.0.1"), threads=threads)
    server = ModelServer(launch_options(path, name, placed, config, hw, overrides))
    busy = machine_busy()
    say(f"starting {name} with {server.backend} ...")
    server.start_sync(timeout_s=timeout_s)
    try:
        build = server_build(server.url, server.api_key, server.backend)
        measure_once(server.url, server.api_key, server.backend, bench_prompt(99, 32), 8)
        measurements = []
        for repetition in range(repetitions):
            one = measure_once(
                server.url,
                server.api_key,
                server.backend,
                bench_prompt(repetition, prompt_tokens),
                gen_tokens,
            )
            say(
                f"run {repetition + 1}/{repetitions}: pp{prompt_tokens} {one.prompt_tok_s:.1f}, "
                f"tg{gen_tokens} {one.gen_tok_s:.1f} tok/s"
            )
            measurements.append(one)
    finally:
        server.stop_sync()
    prompt_mean, prompt_sd = mean_sd([m.prompt_tok_s for m in measurements])
    gen_mean, gen_sd = mean_sd([m.gen_tok_s for m in measurements])
    n = shape.arch.n_layers
    kv_layers = [1] * n
    filled = prompt_tokens + gen_tokens // 2
    kv = _kv_read(shape, filled, "f16")
    work = decode_work(shape, placed.gpu_layers, kv, kv_layers, filled=filled)
    prompt = prompt_work(shape, placed.gpu_layers if hw.gpus else 0)
    decode_scale, prompt_scale, fixed_extra_s = scales(
        hw,
        work,
        prompt,
        prompt_tokens=prompt_tokens,
        flash_attn=placed.flash_attn,
        gen_tok_s=gen_mean,
        prompt_tok_s=prompt_mean,
    )
    result = BenchResult(
        fingerprint=fingerprint(hw, request.backend),
        build=build,
        model=name,
        prompt_tok_s=round(prompt_mean, 2),
        prompt_tok_s_sd=round(prompt_sd, 2),
        gen_tok_s=round(gen_mean, 2),
        gen_tok_s_sd=round(gen_sd, 2),
        decode_scale=decode_scale,
        prompt_scale=prompt_scale,
        repetitions=repetitions,
        when=time.time(),
        fixed_extra_s=fixed_extra_s,
    )
    stored = not busy or store_busy
    if stored:
        save_result(result)
    return BenchReport(
        result=result,
        backend=server.backend,
        measurements=tuple(measurements),
        predicted_prompt_tok_s=speed.prompt_tok_s(hw, prompt, prompt_tokens),
        predicted_gen_tok_s=speed.decode_tok_s(hw, work, flash_attn=placed.flash_attn),
        busy=busy,
        stored=stored,
        prompt_tokens=prompt_tokens,
        gen_tokens=gen_tokens,
    )

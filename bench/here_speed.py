"""Measure ``bench/speed_data/here.tsv``: CPU decode at several depths on this machine.

The published llama-bench rows are large models at an empty context: they cannot tell
what a CPU's step costs per block or per (attention head, cached position) pair. This
runs the native llama-server on small models of different shape (SmolLM2 135M: 30
blocks of 9 heads; Gemma 3 270M: 18 blocks of 4 heads, sliding window) and, given
``--quantize`` (a ``llama-quantize`` binary), the SmolLM2 file requantized to Q4_0 and
Q8_0 (same blocks, other weight types), each at depths 4, 512 and 2048: a prompt of that
many tokens, then 128 generated tokens (``tg128``) from the server's own timings.
Models alternate within each repetition so a drift in machine load hits all alike.

Usage::

    python -m bench.here_speed [--threads 2] [--reps 3] [--quantize PATH] > rows.tsv

Then replace the rows of ``bench/speed_data/here.tsv`` and refit
(``python -m bench.fit_speed --write``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

DEPTHS = (4, 512, 2048)
GEN_TOKENS = 128
PORT = 8765
HEADER = (
    "device\tbackend\tmodel\tquant\tsize_gb\tparams_b\ttest\ttg_measured\tpp512_measured\t"
    "localctl_ref\tprofile\trated_bw_gb_s\tgpu_count\tdate_build\tsource_url\tnotes\tdepth\t"
    "pp_tokens"
)
MODELS = {
    "SmolLM2-135M-Instruct.Q4_1.gguf": ("SmolLM2 135M", "smollm2-135m:Q4_1"),
    "smollm2-q4_0.gguf": ("SmolLM2 135M (requantized)", "smollm2-135m-requant:Q4_0"),
    "smollm2-q8_0.gguf": ("SmolLM2 135M (requantized)", "smollm2-135m-requant:Q8_0"),
    "gemma-3-270m-q4_k_m.gguf": ("Gemma 3 270M", "gemma-3-270m:Q4_K_M"),
}


def _files(scratch: Path, quantize: str | None) -> list[Path]:
    from tests.conftest import fetch_gemma3_270m, fetch_smollm2

    smol = fetch_smollm2()
    files = [smol, fetch_gemma3_270m()]
    for quant in ("Q4_0", "Q8_0") if quantize else ():
        target = scratch / f"smollm2-{quant.lower()}.gguf"
        subprocess.run(
            [quantize, "--allow-requantize", str(smol), str(target), quant],
            check=True,
            capture_output=True,
        )
        files.append(target)
    return files


def _measure(binary: str, model: Path, threads: int, rep: int) -> dict[int, tuple[float, float]]:
    """``{depth: (tg tok/s, pp tok/s)}`` of one server run."""
    argv = [binary, "-m", str(model), "--host", "127.0.0.1", "--port", str(PORT)]
    argv += ["-t", str(threads), "-c", "4096"]
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{PORT}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        figures = {}
        for depth in DEPTHS:
            prompt = [200 + (i * 7 + rep) % 997 for i in range(depth)]
            body = {"prompt": prompt, "n_predict": GEN_TOKENS, "ignore_eos": True}
            body |= {"cache_prompt": False, "temperature": 0}
            timings = httpx.post(f"{url}/completion", json=body, timeout=600).json()["timings"]
            figures[depth] = (timings["predicted_per_second"], timings["prompt_per_second"])
        return figures
    finally:
        server.terminate()
        server.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    from bench.serve import _native

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--quantize", help="llama-quantize binary (adds Q4_0 and Q8_0 files)")
    parser.add_argument("--profile", default="g-epyc-vm-2c")
    args = parser.parse_args(argv)
    binary = _native()
    if not binary:
        print("no native llama-server: run scripts/install.sh first", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as scratch:
        files = _files(Path(scratch), args.quantize)
        runs: dict[tuple[str, int], list[tuple[float, float]]] = {}
        for rep in range(args.reps):
            for model in files:
                for depth, figures in _measure(binary, model, args.threads, rep).items():
                    runs.setdefault((model.name, depth), []).append(figures)
                print(f"rep {rep + 1}: {model.name} done", file=sys.stderr)
        sizes = {model.name: model.stat().st_size for model in files}
    print(HEADER)
    load = os.getloadavg()[0]
    for (name, depth), values in runs.items():
        label, ref = MODELS[name]
        quant = ref.split(":")[1]
        tg = statistics.fmean(v[0] for v in values)
        pp = f"{statistics.fmean(v[1] for v in values):.1f}" if depth >= 512 else ""
        notes = f"mean of {len(values)} runs; tg128 after a {depth}-token prompt; "
        notes += f"pp over that prompt; flash attention auto; load {load:.1f} at the end"
        print(
            f"CPU ({args.threads} threads)\tCPU\t{label}\t{quant}\t{sizes[name] / 1e9:.2f}\t"
            f"\ttg128\t{tg:.1f}\t{pp}\t{ref}\t{args.profile}\t\t0\tllama-server\t"
            f"bench/here_speed.py\t{notes}\t{depth}\t{max(depth, 512)}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

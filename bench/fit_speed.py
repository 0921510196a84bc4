"""Fit the speed model's constants to published llama-bench results and score it.

Data (``bench/speed_data/``, every row with its source URL):

- ``calibration.tsv``: the project's calibration set (75 rows, 38 devices);
- ``gathered.tsv``: further published rows (llama.cpp issues and PRs, Jeff Geerling's
  ai-benchmarks, normiebench), with CPU-only, AMD, Intel, small-model and host rows;
- ``context.tsv``: tg512..tg8192 and pp512..pp8192 on 16 CUDA GPUs (context cost);
- ``here.tsv``: this project's own llama-server runs on its 2-core EPYC VM, two small
  models of different shape at three depths and on 1 and 2 threads: what a CPU's step
  costs per block and per (attention head, cached position) pair, which the published
  rows (large models, empty context) cannot separate;
- ``hardware/*.toml``: one hardware profile per row (the user profile format);
- ``catalog.toml``: a user catalog with the exact sizes llama-bench reported.

Every prediction goes through the same code as ``localctl fit`` (``localctl.plan`` and
``localctl.speed``), so a refit changes exactly what users see. The decode fit is a
weighted least-squares on relative error, robust (Huber) and shrunk towards a pooled
prior so a family with few rows stays sensible; leave-one-device-out cross-validation
gives the honest error and the bands.

Usage::

    python -m bench.fit_speed            # fit, print the report
    python -m bench.fit_speed --write    # ... and rewrite localctl/speed_constants.py
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from localctl import speed
from localctl import speed_constants as constants
from localctl.speedtables import FAMILIES

if TYPE_CHECKING:
    from localctl.hardware import Hardware
    from localctl.plan import ModelShape

DATA = Path(__file__).resolve().parent / "speed_data"
CONSTANTS_FILE = Path(__file__).resolve().parents[1] / "localctl" / "speed_constants.py"
HOSTS = ("server", "arm", "sbc", "sbc-amd", "sbc-intel")
SIZE_BUCKETS = ((0, 1.0, "< 1 GB"), (1.0, 2.5, "1-2.5 GB"), (2.5, 6, "2.5-6 GB"),
                (6, 20, "6-20 GB"), (20, 1e9, "> 20 GB"))  # fmt: skip


@dataclass
class Row:
    """One published result, resolved to a machine and a model shape."""

    device: str
    backend: str
    ref: str
    test: str
    tg: float
    pp: float
    profile: str
    source: str
    origin: str
    hw: Hardware
    shape: ModelShape
    size_gb: float
    notes: str = ""
    depth: int = 0
    """Tokens cached before the ``tg`` run started (llama-bench's ``-d``; 0: empty)."""
    pp_tokens: int = 512
    """Length of the prompt ``pp`` was measured on."""
    predicted: dict[str, float] = field(default_factory=dict)

    @property
    def on_gpu(self) -> bool:
        return bool(self.hw.gpus) and self.backend != "CPU"

    @property
    def family(self) -> str:
        return speed.device_family(self.hw, on_gpu=self.on_gpu)

    @property
    def group(self) -> str:
        """The device left out together in cross-validation."""
        return self.hw.gpus[0].name if self.on_gpu else self.hw.cpu_name

    @property
    def ctx_mean(self) -> int:
        """Mean filled context over a ``tgN`` run from an empty cache."""
        return self.depth + max(1, int(self.test[2:] or 128) // 2)


def load_rows(
    kinds: Iterable[str] = ("calibration", "gathered", "here"),
) -> tuple[list[Row], list[str]]:
    """Rows of the published tables that resolve; the others as one line each."""
    from catalog.loader import load_catalog
    from localctl.errors import LocalctlError
    from localctl.hardware import load_profile
    from localctl.shape import shape_from_catalog

    catalog = load_catalog(DATA / "catalog.toml")
    rows: list[Row] = []
    skipped: list[str] = []
    for kind in kinds:
        with (DATA / f"{kind}.tsv").open(encoding="utf-8") as handle:
            for raw in csv.DictReader(handle, delimiter="\t"):
                try:
                    model, quant = catalog.resolve(raw["localctl_ref"])
                    hw = load_profile(str(DATA / "hardware" / f"{raw['profile']}.toml"))
                except LocalctlError as error:
                    skipped.append(f"{raw['device']} / {raw['localctl_ref']}: {error}")
                    continue
                rows.append(
                    Row(
                        device=raw["device"],
                        backend=raw["backend"],
                        ref=raw["localctl_ref"],
                        test=raw["test"],
                        tg=float(raw["tg_measured"] or 0),
                        pp=float(raw["pp512_measured"] or 0),
                        profile=raw["profile"],
                        source=raw["source_url"],
                        origin=kind,
                        hw=hw,
                        shape=shape_from_catalog(model, quant.size_bytes, quant.name),
                        size_gb=quant.size_bytes / 1e9,
                        notes=raw.get("notes", ""),
                        depth=int(raw.get("depth") or 0),
                        pp_tokens=int(raw.get("pp_tokens") or 512),
                    )
                )
    return rows, skipped


def decode_work(row: Row, ctx: int | None = None) -> speed.DecodeWork:
    """What one decode step of ``row`` reads (llama-bench offloads every layer with -ngl 99)."""
    from localctl.plan import _kv_read, decode_work

    n = row.shape.arch.n_layers
    filled = row.ctx_mean if ctx is None else ctx
    kv = _kv_read(row.shape, filled, "f16")
    return decode_work(row.shape, n if row.on_gpu else 0, kv, [1] * n, filled=filled)


def predict_decode(row: Row, ctx: int | None = None) -> float:
    """Predicted tg tok/s with the current constants."""
    return speed.decode_tok_s(row.hw, decode_work(row, ctx), flash_attn=False)


def predict_prompt(row: Row) -> float:
    """Predicted pp tok/s (``row.pp_tokens``, 512 for the published rows) with the current
    constants."""
    from localctl.plan import prompt_work

    n = row.shape.arch.n_layers
    work = prompt_work(row.shape, n if row.on_gpu else 0)
    return speed.prompt_tok_s(row.hw, work, row.pp_tokens)


# --------------------------------------------------------------------------- fitting


def nnls(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Least squares with every coefficient >= 0 (Lawson-Hanson active set)."""
    n = a.shape[1]
    x = np.zeros(n)
    passive = np.zeros(n, dtype=bool)
    for _ in range(3 * n):
        w = a.T @ (b - a @ x)
        if passive.all() or w[~passive].max(initial=-1) <= 1e-12:
            break
        j = int(np.argmax(np.where(passive, -np.inf, w)))
        passive[j] = True
        while True:
            z = np.zeros(n)
            z[passive] = np.linalg.lstsq(a[:, passive], b, rcond=None)[0]
            if (z[passive] > 0).all():
                x = z
                break
            mask = passive & (z <= 0)
            alpha = np.min(x[mask] / (x[mask] - z[mask]))
            x = x + alpha * (z - x)
            passive &= x > 1e-15
    return x


def fit_gpu(rows: list[Row], prior: dict[str, float]) -> dict[str, Any]:
    """Efficiency and fixed cost per GPU family, host extras and the multi-GPU cost."""
    families = [f for f in FAMILIES if f != "cpu"]
    columns = (
        [f"u:{f}" for f in families] + [f"b:{f}" for f in families]
        + [f"k:{f}" for f in families] + [f"kk:{f}" for f in families]
        + [f"h:{h}" for h in HOSTS] + ["multi"]
    )  # fmt: skip
    index = {name: i for i, name in enumerate(columns)}
    equations: list[tuple[np.ndarray, float, float]] = []
    kv_cuda = constants.KV_COST
    for row in rows:
        work = decode_work(row)
        gpu = row.hw.gpus[0]
        bandwidth = gpu.bandwidth_bytes_s or row.hw.ram_bandwidth_bytes_s
        backend = speed.kv_backend(row.hw, on_gpu=True)
        kv = kv_cuda.get(backend, kv_cuda["cuda"]) * work.gpu_kv_bytes
        vector = np.zeros(len(columns))
        vector[index[f"u:{row.family}"]] = (work.gpu_bytes + kv) / bandwidth
        vector[index[f"b:{row.family}"]] = 1.0
        kind = "kk" if work.k_quant else "k"
        vector[index[f"{kind}:{row.family}"]] = work.gpu_params / (
            speed.gpu_tflops_of(row.hw) * 1e12
        )
        host = speed.gpu_host_class(row.hw)
        if host != "desktop":
            vector[index[f"h:{host}"]] = 1.0
        if f"h:{host}-{gpu.vendor}" in index:
            vector[index[f"h:{host}-{gpu.vendor}"]] = 1.0
        vector[index["multi"]] = max(0, len(row.hw.gpus) - 1)
        equations.append((vector, 1.0 / row.tg, 1.0))
    # Shrink every family towards the pooled prior (worth about half a row each).
    for name, value in prior.items():
        vector = np.zeros(len(columns))
        vector[index[name]] = 1.0
        equations.append((vector, value, 0.1 if name.startswith("k") else 0.5))
    weights = np.ones(len(equations))
    solution = np.zeros(len(columns))
    for _ in range(6):
        a = np.array([v * w * w0 / t for (v, t, w0), w in zip(equations, weights, strict=True)])
        b = np.array([w * w0 for (_, _, w0), w in zip(equations, weights, strict=True)])
        solution = nnls(a, b)
        residual = np.abs(a @ solution / np.maximum(b, 1e-12) - 1.0)
        weights = np.where(residual > 0.15, 0.15 / np.maximum(residual, 1e-9), 1.0)
    values = dict(zip(columns, solution, strict=True))
    return {
        "efficiency": {f: round(1.0 / values[f"u:{f}"], 3) for f in families},
        "fixed": {f: round(values[f"b:{f}"], 6) for f in families},
        "flops": {f: round(values[f"k:{f}"], 2) for f in families},
        "flops_k": {f: round(values[f"kk:{f}"], 2) for f in families},
        "host": {"desktop": 0.0, **{h: round(values[f"h:{h}"], 6) for h in HOSTS}},
        "multi": round(values["multi"], 6),
    }


def fit_cpu(rows: list[Row]) -> dict[str, float]:
    """Memory efficiency (grid); the fixed cost per step, per thread and per block and
    the attention cost per (head, position) pair (NNLS)."""
    best: tuple[float, dict[str, float]] = (math.inf, {})
    if not rows:
        return {
            "efficiency": 0.6,
            "core_scale": 1.0,
            "fixed": 0.0005,
            "per_thread": 0.0,
            "per_layer": 8e-5,
            "attn_flops": 3000.0,
        }
    grid = [(e / 100, s / 100) for e in range(30, 96, 3) for s in range(70, 115, 5)]
    for efficiency, core_scale in grid:
        constants.CPU_MEMORY_EFFICIENCY = efficiency
        constants.CPU_CORE_SCALE = core_scale
        a, b = [], []
        for row in rows:
            work = decode_work(row)
            rate = speed.cpu_stream_rate(row.hw, eight_bit=work.eight_bit)
            stream = (work.cpu_bytes + constants.KV_COST["cpu"] * work.cpu_kv_bytes) / rate
            attention = work.cpu_attn_pairs * 1000 / speed.cpu_flops(row.hw)
            a.append([1.0, speed.cpu_threads(row.hw), work.cpu_layers * 1e-4, attention])
            b.append(1.0 / row.tg - stream)
        weights = np.array([row.tg for row in rows])
        # Pseudo-rows: 0.5 ms per step and 20 us per thread, a fiftieth of a row each;
        # 80 us per block and 3,000 FLOPs per (head, position) pair, half a row each:
        # only small models and deep contexts (here.tsv) can move them, and the published
        # rows (large models, empty context) must not trade them for the rest.
        prior = [0.0005, 2e-5, 0.8, 3.0]
        strength = [0.02, 0.02, 0.5, 0.5]
        prior_a = np.diag([w / value for w, value in zip(strength, prior, strict=True)])
        a_all = np.vstack([np.array(a) * weights[:, None], prior_a])
        b_all = np.concatenate([np.array(b) * weights, strength])
        coef = nnls(a_all, b_all)
        constants.CPU_FIXED_S, constants.CPU_FIXED_PER_THREAD_S = float(coef[0]), float(coef[1])
        constants.CPU_LAYER_S = float(coef[2]) * 1e-4
        constants.CPU_ATTN_FLOPS = float(coef[3]) * 1000
        errors = [math.log(predict_decode(row) / row.tg) for row in rows]
        score = sum(min(e * e, 0.09) for e in errors)
        if score < best[0]:
            best = (
                score,
                {
                    "efficiency": efficiency,
                    "core_scale": core_scale,
                    "fixed": float(coef[0]),
                    "per_thread": float(coef[1]),
                    "per_layer": float(coef[2]) * 1e-4,
                    "attn_flops": round(float(coef[3]) * 1000, 1),
                },
            )
    return best[1]


def fit_cpu_q8(rows: list[Row]) -> float:
    """How many more bytes/s a core streams of Q8_0 weights than of 4-bit ones: the grid
    value that fits the Q8_0 rows best (Ryzen 9 7950X and Threadripper PRO 5975WX on
    Llama 3 8B, SmolLM2 here: 1.15-1.26x the bytes/s of their Q4_0 runs)."""
    q8 = [row for row in rows if decode_work(row).eight_bit]
    if not q8:
        return 1.0
    scored = []
    for step in range(13):
        constants.CPU_Q8_CORE_SCALE = 1.0 + step * 0.05
        errors = [math.log(predict_decode(row) / row.tg) for row in q8]
        scored.append((sum(e * e for e in errors), constants.CPU_Q8_CORE_SCALE))
    constants.CPU_Q8_CORE_SCALE = min(scored)[1]
    return round(constants.CPU_Q8_CORE_SCALE, 2)


def fit_moe(rows: list[Row]) -> float:
    """Weight-byte cost of a routed-expert byte on a GPU (median over the MoE rows)."""
    values = []
    constants.MOE_EXPERT_COST = 1.0
    for row in rows:
        work = decode_work(row)
        gpu = row.hw.gpus[0]
        rate = constants.FAMILY_EFFICIENCY[row.family] * gpu.bandwidth_bytes_s
        missing = 1.0 / row.tg - 1.0 / predict_decode(row)
        if work.gpu_expert_bytes > 0:
            values.append(1.0 + missing / (work.gpu_expert_bytes / rate))
    return round(min(4.0, max(1.0, statistics.median(values))), 2) if values else 1.0


def fit_context(gpu_constants: dict[str, Any]) -> float:
    """Weight-byte cost of a KV byte on CUDA without flash attention (tg512 -> tg8192)."""
    from catalog.loader import load_catalog
    from localctl.hardware import load_profile
    from localctl.plan import _kv_read
    from localctl.shape import shape_from_catalog

    catalog = load_catalog(DATA / "catalog.toml")
    ratios = []
    with (DATA / "context.tsv").open(encoding="utf-8") as handle:
        for raw in csv.DictReader(handle, delimiter="\t"):
            model, quant = catalog.resolve(raw["localctl_ref"])
            shape = shape_from_catalog(model, quant.size_bytes)
            hw = load_profile(str(DATA / "hardware" / f"{raw['profile']}.toml"))
            family = speed.device_family(hw, on_gpu=True)
            rate = gpu_constants["efficiency"][family] * hw.gpus[0].bandwidth_bytes_s
            extra_kv = _kv_read(shape, 4096, "f16") - _kv_read(shape, 256, "f16")
            measured = 1 / float(raw["tg8192"]) - 1 / float(raw["tg512"])
            ratios.append(float(measured / (extra_kv / rate)))
    return round(statistics.median(ratios), 2)


def fit_attention() -> float:
    """Attention FLOPs multiplier of prompt processing (pp512 -> pp4096 on CUDA)."""
    from catalog.loader import load_catalog
    from localctl.plan import prompt_work
    from localctl.shape import shape_from_catalog

    catalog = load_catalog(DATA / "catalog.toml")
    values = []
    with (DATA / "context.tsv").open(encoding="utf-8") as handle:
        for raw in csv.DictReader(handle, delimiter="\t"):
            model, quant = catalog.resolve(raw["localctl_ref"])
            shape = shape_from_catalog(model, quant.size_bytes)
            work = prompt_work(shape, shape.arch.n_layers)
            a = 2 * work.active_params
            c = 4 * work.n_layers * work.attn_width
            ratio = (1 / float(raw["pp4096"])) / (1 / float(raw["pp512"]))
            denominator = c * (2048 - 256 * ratio)
            if denominator > 0 and ratio > 1:
                values.append(a * (ratio - 1) / denominator)
    return round(statistics.median(values), 2)


def fit_prompt(rows: list[Row]) -> dict[str, float]:
    """Share of matrix throughput a 512-token prompt reaches, per family (median)."""
    result: dict[str, float] = {}
    for family in FAMILIES:
        mine = [row for row in rows if row.family == family and row.pp > 0]
        if not mine:
            result[family] = 0.0
            continue
        result[family] = _prompt_efficiency(family, mine)
        if family == "cpu":
            # A CPU's prompt attention per (head, position) pair: the grid value whose
            # efficiency fits the rows best (pp512 against pp2048 of here.tsv sets it).
            scored = []
            for per_pair in (0.0, 25.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1600.0):
                constants.CPU_PROMPT_ATTN_FLOPS = per_pair
                efficiency = _prompt_efficiency(family, mine)
                errors = [math.log(predict_prompt(row) / row.pp) for row in mine]
                scored.append((sum(e * e for e in errors), per_pair, efficiency))
            _, per_pair, result[family] = min(scored)
            constants.CPU_PROMPT_ATTN_FLOPS = per_pair
            result["cpu_attn"] = per_pair
    pooled = statistics.median([v for f, v in result.items() if v and f in FAMILIES[:-1]])
    return {f: (v or pooled) for f, v in result.items()}


def _prompt_efficiency(family: str, rows: list[Row]) -> float:
    """The efficiency that predicts the median row exactly (it scales the matrix work
    only, so iterate)."""
    efficiency = 1.0
    for _ in range(8):
        constants.PROMPT_EFFICIENCY[family] = efficiency
        efficiency *= statistics.median(row.pp / predict_prompt(row) for row in rows)
    constants.PROMPT_EFFICIENCY[family] = efficiency
    return round(efficiency, 4)


def prior_for(rows: list[Row]) -> dict[str, float]:
    """Pooled starting values every family is shrunk towards."""
    families = [f for f in FAMILIES if f != "cpu"]
    prior = {f"u:{f}": 1 / 0.75 for f in families}
    prior.update({f"b:{f}": 0.0008 for f in families})
    prior.update({f"k:{f}": 2.0 for f in families})
    prior.update({f"kk:{f}": 4.0 for f in families})
    return prior


def fit(rows: list[Row]) -> dict[str, Any]:
    """Every constant, fitted on ``rows``; leaves them set in :mod:`localctl.speed_constants`."""
    fitted_rows = [r for r in rows if not r.notes.startswith("excluded")]
    moe_rows = [r for r in fitted_rows if r.shape.layer_expert_bytes and r.on_gpu and r.tg > 0]
    fitted_rows = [r for r in fitted_rows if not r.shape.layer_expert_bytes]
    gpu_rows = [r for r in fitted_rows if r.on_gpu and r.tg > 0]
    cpu_rows = [r for r in fitted_rows if not r.on_gpu and r.tg > 0]
    gpu = fit_gpu(gpu_rows, prior_for(gpu_rows))
    apply({"gpu": gpu})
    kv = fit_context(gpu)
    constants.KV_COST.update(kv_table(kv))
    gpu = fit_gpu(gpu_rows, prior_for(gpu_rows))
    constants.CPU_Q8_CORE_SCALE = 1.0
    cpu = fit_cpu([r for r in cpu_rows if not decode_work(r).eight_bit])
    fitted = {"gpu": gpu, "cpu": cpu, "kv_cuda": kv}
    apply(fitted)
    cpu["q8"] = fit_cpu_q8(cpu_rows)
    apply(fitted)
    fitted["moe"] = fit_moe(moe_rows)
    apply(fitted)
    constants.ATTENTION_COST = fit_attention()
    fitted["attention"] = constants.ATTENTION_COST
    fitted["prompt"] = fit_prompt([r for r in rows if r.pp > 0])
    apply(fitted)
    return fitted


def kv_table(kv_cuda: float) -> dict[str, float]:
    """The KV cost per backend from the CUDA fit (see docs/fit.md for the other entries).

    With flash attention the K and V rows are read once, fused: 1.0 (an RX 7900 XTX
    decodes an 8B Q4_K_M 0.68 ms slower at 4096 tokens of context, PR 26284: 0.89 of
    its KV bytes at the fitted bandwidth, floored at the bytes themselves). Metal:
    3/1.6 of CUDA's, as published for Apple relative to CUDA. A CPU reads its KV bytes
    once; its attention arithmetic is a term of its own (``CPU_ATTN_FLOPS`` per head
    and position, fitted on ``here.tsv``).
    """
    metal = 3.0 / 1.6
    return {
        "cuda": kv_cuda,
        "cuda-fa": 1.0,
        "metal": round(kv_cuda * metal, 2),
        "metal-fa": round(metal, 2),
        "amd": kv_cuda,
        "amd-fa": 1.0,
        "intel": kv_cuda,
        "intel-fa": 1.0,
        "cpu": 1.0,
        "cpu-fa": 1.0,
    }


def apply(fitted: dict[str, Any]) -> None:
    """Set fitted values on :mod:`localctl.speed_constants` (in memory)."""
    if "gpu" in fitted:
        gpu = fitted["gpu"]
        constants.FAMILY_EFFICIENCY.update(gpu["efficiency"])
        constants.FAMILY_FIXED_S.update(gpu["fixed"])
        constants.DECODE_FLOPS_PER_WEIGHT.update(gpu["flops"])
        constants.DECODE_FLOPS_PER_WEIGHT_K.update(gpu["flops_k"])
        constants.HOST_EXTRA_S.update(gpu["host"])
        constants.MULTI_GPU_S = gpu["multi"]
    if "cpu" in fitted:
        cpu = fitted["cpu"]
        constants.CPU_MEMORY_EFFICIENCY = cpu["efficiency"]
        constants.CPU_CORE_SCALE = cpu["core_scale"]
        constants.CPU_FIXED_S = float(cpu["fixed"])
        constants.CPU_FIXED_PER_THREAD_S = float(cpu["per_thread"])
        constants.CPU_LAYER_S = float(cpu["per_layer"])
        constants.CPU_ATTN_FLOPS = float(cpu["attn_flops"])
        constants.CPU_Q8_CORE_SCALE = float(cpu.get("q8", 1.0))
    if "kv_cuda" in fitted:
        constants.KV_COST.update(kv_table(fitted["kv_cuda"]))
    if "attention" in fitted:
        constants.ATTENTION_COST = fitted["attention"]
    if "moe" in fitted:
        constants.MOE_EXPERT_COST = fitted["moe"]
    if "prompt" in fitted:
        prompt = dict(fitted["prompt"])
        constants.CPU_PROMPT_ATTN_FLOPS = prompt.pop("cpu_attn", constants.CPU_PROMPT_ATTN_FLOPS)
        constants.PROMPT_EFFICIENCY.update(prompt)


def snapshot() -> dict[str, Any]:
    """The constants as they are now (to restore after a cross-validation fold)."""
    return {
        name: (dict(value) if isinstance(value, dict) else value)
        for name, value in vars(constants).items()
        if name.isupper()
    }


def restore(saved: dict[str, Any]) -> None:
    for name, value in saved.items():
        setattr(constants, name, dict(value) if isinstance(value, dict) else value)


# --------------------------------------------------------------------------- evaluation


def evaluate(rows: list[Row], key: str) -> None:
    """Store predictions under ``row.predicted[key]`` (tg) and ``key + ':pp'``."""
    for row in rows:
        if row.tg > 0:
            row.predicted[key] = predict_decode(row)
        if row.pp > 0:
            row.predicted[key + ":pp"] = predict_prompt(row)


def cross_validate(rows: list[Row]) -> None:
    """Leave one device out: refit without its rows, predict them (``row.predicted['cv']``)."""
    saved = snapshot()
    groups = sorted({r.group for r in rows})
    for group in groups:
        restore(saved)
        fit([r for r in rows if r.group != group])
        evaluate([r for r in rows if r.group == group], "cv")
    restore(saved)


def error(row: Row, key: str, measured: float) -> float:
    return row.predicted[key] / measured - 1.0


def summary(rows: list[Row], key: str, *, prompt: bool = False) -> dict[str, Any]:
    """n, median |error|, median bias and the share within +-20% of ``rows`` under ``key``."""
    pk = key + ":pp" if prompt else key
    errors = [error(r, pk, r.pp if prompt else r.tg) for r in rows if pk in r.predicted]
    if not errors:
        return {"n": 0}
    return {
        "n": len(errors),
        "median_abs": statistics.median(abs(e) for e in errors),
        "bias": statistics.median(errors),
        "within20": sum(abs(e) <= 0.2 for e in errors) / len(errors),
    }


def bands(rows: list[Row]) -> tuple[dict[str, tuple[float, float]], dict[str, tuple[float, float]]]:
    """Measured/predicted 10th-90th percentile ratios per family from cross-validation."""

    def quantiles(ratios: list[float]) -> tuple[float, float]:
        ratios = sorted(ratios)
        low = ratios[max(0, int(0.1 * (len(ratios) - 1)))]
        high = ratios[min(len(ratios) - 1, math.ceil(0.9 * (len(ratios) - 1)))]
        return round(min(low, 0.92), 2), round(max(high, 1.08), 2)

    decode: dict[str, tuple[float, float]] = {}
    prompt: dict[str, tuple[float, float]] = {}
    all_gpu = [r.tg / r.predicted["cv"] for r in rows if "cv" in r.predicted and r.on_gpu]
    all_gpu_pp = [r.pp / r.predicted["cv:pp"] for r in rows if "cv:pp" in r.predicted and r.on_gpu]
    for family in FAMILIES:
        mine = [
            r.tg / r.predicted["cv"] for r in rows if "cv" in r.predicted and r.family == family
        ]
        decode[family] = quantiles(mine if len(mine) >= 5 else mine + all_gpu)
        mine_pp = [
            r.pp / r.predicted["cv:pp"]
            for r in rows
            if "cv:pp" in r.predicted and r.family == family
        ]
        prompt[family] = quantiles(mine_pp if len(mine_pp) >= 5 else mine_pp + all_gpu_pp)
    return decode, prompt


def size_bucket(row: Row) -> str:
    return next(label for low, high, label in SIZE_BUCKETS if low <= row.size_gb < high)


def report(rows: list[Row]) -> str:
    """Markdown tables: by device class and by size, in-sample and cross-validated; worst rows."""
    lines = []

    def table(title: str, groups: dict[str, list[Row]], prompt: bool = False) -> None:
        lines.append(f"\n{title}\n")
        lines.append(
            "| group | n | median abs err (fit) | bias (fit) | within 20% (fit) "
            "| median abs err (CV) | bias (CV) | within 20% (CV) |"
        )
        lines.append("|---|---|---|---|---|---|---|---|")
        for name, members in groups.items():
            fit_s, cv_s = (
                summary(members, "fit", prompt=prompt),
                summary(members, "cv", prompt=prompt),
            )
            if not fit_s["n"]:
                continue
            if not cv_s["n"]:
                cv_s = {"median_abs": math.nan, "bias": math.nan, "within20": math.nan}
            lines.append(
                f"| {name} | {fit_s['n']} | {fit_s['median_abs']:.1%} | {fit_s['bias']:+.1%} "
                f"| {fit_s['within20']:.0%} | {cv_s['median_abs']:.1%} | {cv_s['bias']:+.1%} "
                f"| {cv_s['within20']:.0%} |"
            )

    by_family: dict[str, list[Row]] = {f: [r for r in rows if r.family == f] for f in FAMILIES}
    by_size = {label: [r for r in rows if size_bucket(r) == label] for *_, label in SIZE_BUCKETS}
    by_origin = {o: [r for r in rows if r.origin == o] for o in ("calibration", "gathered", "here")}
    table("Decode (tg, short context) by device class", {"all": rows, **by_family})
    table("Decode by model size", by_size)
    table("Decode by data set", by_origin)
    table("Prompt (pp512) by device class", {"all": rows, **by_family}, prompt=True)
    worst = sorted(
        (r for r in rows if "cv" in r.predicted), key=lambda r: -abs(error(r, "cv", r.tg))
    )[:12]
    lines.append("\nWorst decode rows (cross-validated)\n")
    lines.append("| device | model | backend | measured | predicted (CV) | error |")
    lines.append("|---|---|---|---|---|---|")
    for r in worst:
        lines.append(
            f"| {r.device} | {r.ref} | {r.backend} | {r.tg:.1f} | {r.predicted['cv']:.1f} "
            f"| {error(r, 'cv', r.tg):+.0%} |"
        )
    return "\n".join(lines)


def calibrated_band(rows: list[Row]) -> tuple[float, float]:
    """Measured/predicted 10th-90th percentile ratios once each device's own level is
    taken out: what a prediction calibrated on one model of a device keeps for another
    (devices with two models or more, in-sample fit)."""
    by_device: dict[str, list[float]] = {}
    for row in rows:
        if "fit" in row.predicted and row.tg > 0:
            by_device.setdefault(row.profile, []).append(math.log(row.tg / row.predicted["fit"]))
    spread = []
    for logs in by_device.values():
        if len({round(v, 6) for v in logs}) >= 2:
            centre = statistics.fmean(logs)
            spread += [math.exp(v - centre) for v in logs]
    spread.sort()
    if not spread:
        return (0.9, 1.1)
    low = spread[max(0, int(0.1 * (len(spread) - 1)))]
    high = spread[min(len(spread) - 1, math.ceil(0.9 * (len(spread) - 1)))]
    return round(min(low, 0.95), 2), round(max(high, 1.05), 2)


def constants_source(decode_band: dict[str, Any], prompt_band: dict[str, Any]) -> str:
    """``localctl/speed_constants.py`` for the constants now in memory."""

    def literal(value: Any) -> str:
        if isinstance(value, dict):
            items = ",\n".join(f'    "{k}": {literal(v)}' for k, v in value.items())
            return "{\n" + items + ",\n}"
        if isinstance(value, tuple):
            return "(" + ", ".join(literal(v) for v in value) + ")"
        if isinstance(value, float):
            return repr(round(float(value), 6))
        return repr(value)

    values = snapshot()
    values["DECODE_BAND"] = decode_band
    values["PROMPT_BAND"] = prompt_band
    types = {
        dict: "dict[str, float]",
        float: "float",
    }
    out = [
        '"""Fitted constants of the speed model (written by ``python -m bench.fit_speed',
        '--write``; do not edit by hand). Provenance and error tables: ``docs/fit.md``."""',
        "",
        "from __future__ import annotations",
        "",
    ]
    for name in sorted(values):
        value = values[name]
        if isinstance(value, tuple):
            kind = "tuple[float, float]"
        elif name.endswith("_BAND"):
            kind = "dict[str, tuple[float, float]]"
        else:
            kind = types.get(type(value), "float")
        out.append(f"{name}: {kind} = {literal(value)}")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite localctl/speed_constants.py")
    parser.add_argument("--no-cv", action="store_true", help="skip cross-validation")
    args = parser.parse_args(argv)
    rows, skipped = load_rows()
    for line in skipped:
        print(f"skipped: {line}", file=sys.stderr)
    fitted = fit(rows)
    saved = snapshot()
    evaluate(rows, "fit")
    if not args.no_cv:
        cross_validate(rows)
    restore(saved)
    decode_band, prompt_band = bands(rows) if not args.no_cv else ({}, {})
    print(f"{len(rows)} rows, {len({r.group for r in rows})} devices")
    print(f"fitted: {fitted}")
    print(report(rows))
    constants.CALIBRATED_BAND = calibrated_band(rows)
    print(f"calibrated band (spread between models on one device): {constants.CALIBRATED_BAND}")
    if args.write and decode_band:
        CONSTANTS_FILE.write_text(constants_source(decode_band, prompt_band), encoding="utf-8")
        print(f"wrote {CONSTANTS_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

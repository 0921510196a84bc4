"""Fit accuracy and speed prediction for the real test model on this machine.

Accuracy: our estimate vs llama.cpp's own reported buffers (in-process llama-cpp-python,
parsed from its verbose log) at n_ctx 512/2048/8192 and KV f16/q8_0. Measured server
RSS beside the estimate is in the ``serve`` section. Speed: predicted vs measured
decode tok/s (in-process, 2 threads, best of three) at three context fills.
"""

from __future__ import annotations

from typing import Any

MIB = 1024 * 1024


def _err(ours: float, theirs: float) -> str:
    return f"{(ours - theirs) / theirs * 100:+.1f}%" if theirs else "-"


def run() -> list[dict[str, Any]]:
    """One row per (ctx, kv type) and per speed fill."""
    from localctl.hardware import detect_hardware
    from localctl.plan import plan as make_plan
    from localctl.request import PlanRequest
    from localctl.shape import shape_from_file
    from tests.conftest import fetch_smollm2
    from tests.fit_helpers import llama_buffers, measure_decode_tok_s

    model = fetch_smollm2()
    # Measured now, beside the decode runs: a cached figure may be from a busier moment.
    hw = detect_hardware(remeasure=True)
    rows: list[dict[str, Any]] = []
    for ctx in (512, 2048, 8192):
        for kv in ("f16", "q8_0"):
            plan = make_plan(shape_from_file(model), hw, PlanRequest(ctx=ctx, kv_type=kv))
            real = llama_buffers(model, ctx, kv, flash_attn=kv != "f16")
            ours = {
                "model": plan.weights_bytes / MIB,
                "kv": plan.kv_bytes / MIB,
                "compute": plan.compute_bytes / MIB,
            }
            rows.append(
                {
                    "case": f"SmolLM2 n_ctx {ctx} kv {kv}",
                    "weights MiB ours/llama.cpp": f"{ours['model']:.2f} / {real['model']:.2f}",
                    "KV MiB ours/llama.cpp": f"{ours['kv']:.2f} / {real['kv']:.2f}",
                    "compute MiB ours/llama.cpp": f"{ours['compute']:.2f} / {real['compute']:.2f}",
                    "error (weights, KV, compute)": ", ".join(
                        _err(ours[key], real[key]) for key in ("model", "kv", "compute")
                    ),
                    "target": "within 5%",
                }
            )
    for fill in (0, 2000, 5000):
        prompt, measured = measure_decode_tok_s(model, fill)
        plan = make_plan(shape_from_file(model), hw, PlanRequest(ctx=prompt + 64))
        rows.append(
            {
                "case": f"decode speed at ~{prompt + 64} tokens of context",
                "weights MiB ours/llama.cpp": "",
                "KV MiB ours/llama.cpp": "",
                "compute MiB ours/llama.cpp": "",
                "error (weights, KV, compute)": (
                    f"predicted {plan.predicted_tok_s:.1f} vs measured {measured:.1f} tok/s "
                    f"({_err(plan.predicted_tok_s, measured)})"
                ),
                "target": "prediction",
            }
        )
    return rows

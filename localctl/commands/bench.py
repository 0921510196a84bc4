"""`localctl bench`: llama-bench-style prompt and generation speed here; calibrates predictions."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from localctl.backends import BACKEND_CHOICES

if TYPE_CHECKING:
    from localctl.benchrun import BenchReport


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``bench`` verb."""
    parser = subparsers.add_parser(
        "bench",
        help="measure prompt and generation speed here; calibrates predictions",
        description=(
            "Run a model the way serve would (same backend, same plan) and measure a "
            "512-token prompt and 128 generated tokens, 3 times (mean and sd), with the "
            "server's own timings where it sends them. The result is stored for this "
            "machine; every later prediction here is corrected by it and labelled "
            "'calibrated here'."
        ),
    )
    parser.add_argument("model", metavar="MODEL[:QUANT]|FILE.gguf")
    parser.add_argument("--backend", choices=BACKEND_CHOICES, default=None)
    parser.add_argument("--threads", type=int, metavar="N", help="default: physical cores")
    parser.add_argument("--reps", type=int, default=3, metavar="N", help="repetitions (3)")
    parser.add_argument(
        "--store-busy",
        action="store_true",
        help="keep the result as this machine's calibration even if the machine was busy",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--timeout", type=float, default=300.0, help=argparse.SUPPRESS)
    parser.set_defaults(run=run)


def report_document(report: BenchReport) -> dict[str, Any]:
    """The stable JSON of a bench run."""
    result = report.result
    return {
        "model": result.model,
        "backend": report.backend,
        "build": result.build,
        "fingerprint": result.fingerprint,
        "prompt_tokens": report.prompt_tokens,
        "gen_tokens": report.gen_tokens,
        "repetitions": result.repetitions,
        "pp512_tok_s": result.prompt_tok_s,
        "pp512_tok_s_sd": result.prompt_tok_s_sd,
        "tg128_tok_s": result.gen_tok_s,
        "tg128_tok_s_sd": result.gen_tok_s_sd,
        "timings": sorted({m.source for m in report.measurements}),
        "predicted_before": {
            "pp512_tok_s": report.predicted_prompt_tok_s,
            "tg128_tok_s": report.predicted_gen_tok_s,
        },
        "decode_scale": result.decode_scale,
        "prompt_scale": result.prompt_scale,
        "busy": report.busy,
        "stored": report.stored,
    }


def render(report: BenchReport) -> str:
    """Human-readable result."""
    result = report.result
    lines = [
        f"{result.model} with {result.build}, {result.repetitions} runs:",
        f"  pp512  {result.prompt_tok_s:9.1f} ± {result.prompt_tok_s_sd:.1f} tok/s"
        f"  (the model predicted {report.predicted_prompt_tok_s:.1f})",
        f"  tg128  {result.gen_tok_s:9.1f} ± {result.gen_tok_s_sd:.1f} tok/s"
        f"  (the model predicted {report.predicted_gen_tok_s:.1f})",
        f"stored for {result.fingerprint}: predictions on this machine are now 'calibrated here'",
    ]
    if report.busy:
        lines.append(f"note: {report.busy} during the run; figures may read low")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run ``localctl bench``."""
    from localctl.benchrun import run_bench
    from localctl.config import load_config
    from localctl.errors import BadInputError
    from localctl.hardware import resolve_hardware
    from localctl.library import fetch_target
    from localctl.output import emit_json

    if not 1 <= args.reps <= 20:
        raise BadInputError("--reps must be between 1 and 20")
    config = load_config()
    target = fetch_target(args.model, config)
    assert target.local_path is not None
    path, name = target.local_path, target.label
    hw = resolve_hardware(None)

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    report = run_bench(
        path,
        name,
        hw,
        config,
        backend=args.backend,
        threads=args.threads,
        repetitions=args.reps,
        store_busy=args.store_busy,
        progress=progress,
        timeout_s=args.timeout,
    )
    if args.json:
        emit_json(report_document(report))
    else:
        print(render(report))
    return 0

"""`localctl fit`: memory plan, placement and predicted speed of one model on a machine."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localctl.backends import BACKEND_CHOICES, KV_TYPES
from localctl.request import FLASH_ATTN_CHOICES

if TYPE_CHECKING:
    from localctl.config import Config
    from localctl.hardware import Hardware
    from localctl.plan import MemoryPlan
    from localctl.request import PlanRequest


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``fit`` verb."""
    parser = subparsers.add_parser(
        "fit",
        help="will a model fit, where, and how fast",
        description=(
            "Memory plan (weights + KV cache + compute + overhead), placement "
            "(GPU / partial / CPU / won't fit) and predicted decode speed of a catalog "
            "model or a local GGUF file."
        ),
    )
    parser.add_argument(
        "model",
        metavar="MODEL[:QUANT]|FILE.gguf",
        help=(
            "catalog id, GGUF path, OWNER/REPO:QUANT on the hub, or a GGUF URL "
            "(hub files are read with range requests, not downloaded)"
        ),
    )
    add_plan_arguments(parser)
    add_request_arguments(parser)
    parser.add_argument(
        "--draft",
        metavar="FILE.gguf|MODEL",
        help="add a draft model for speculative decoding (on disk; same vocabulary)",
    )
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    parser.set_defaults(run=run)


def add_plan_arguments(parser: argparse.ArgumentParser) -> None:
    """``--ctx`` and ``--hw``, shared by ``fit`` and ``models``."""
    parser.add_argument("--ctx", type=int, metavar="N", help="context per sequence (tokens)")
    parser.add_argument("--hw", metavar="PROFILE", help="simulate a hardware profile or TOML file")


def add_request_arguments(parser: argparse.ArgumentParser, *, ctx: bool = False) -> None:
    """What a plan is asked for, shared by ``fit``, ``models``, ``cost`` and ``serve``.

    Each flag left out takes the config's value (see :meth:`PlanRequest.from_config`).
    """
    if ctx:
        parser.add_argument("--ctx", type=int, metavar="N", help="context per sequence (tokens)")
    parser.add_argument("--parallel", type=int, metavar="N", help="sequences served at once")
    parser.add_argument("--kv-type", choices=tuple(KV_TYPES), help="KV cache type")
    parser.add_argument(
        "--backend",
        choices=BACKEND_CHOICES,
        help="the server to plan for (default from config: auto, the native llama-server "
        "when one is found)",
    )
    parser.add_argument(
        "--flash-attn",
        choices=FLASH_ATTN_CHOICES,
        help="flash attention (default auto: what the backend does by itself)",
    )


def plan_request(config: Config, args: argparse.Namespace) -> PlanRequest:
    """The :class:`PlanRequest` of a verb's flags over ``config``.

    Raises:
        BadInputError: a value is out of range or the flags contradict each other.
    """
    from localctl.request import PlanRequest

    return PlanRequest.from_config(
        config,
        ctx=getattr(args, "ctx", None),
        parallel=getattr(args, "parallel", None),
        kv_type=getattr(args, "kv_type", None),
        backend=getattr(args, "backend", None),
        flash_attn=getattr(args, "flash_attn", None),
    )


def hardware_summary(hw: Hardware) -> dict[str, Any]:
    """The part of the machine a plan depends on, for JSON output."""
    return {
        "profile": hw.profile or None,  # null for this machine, as `hw --json` says
        "cpu": hw.cpu_name,
        "physical_cores": hw.physical_cores,
        "ram_total_bytes": hw.ram_total_bytes,
        "ram_available_bytes": hw.ram_available_bytes,
        "ram_bandwidth_bytes_s": hw.ram_bandwidth_bytes_s,
        "unified_memory": hw.unified_memory,
        "gpus": [
            {
                "name": g.name,
                "vendor": g.vendor,
                "total_bytes": g.total_bytes,
                "free_bytes": g.free_bytes,
                "bandwidth_bytes_s": g.bandwidth_bytes_s,
            }
            for g in hw.gpus
        ],
    }


def plan_document(plan: MemoryPlan) -> dict[str, Any]:
    """The stable JSON fields of a plan."""
    from dataclasses import asdict

    return {
        "weights_bytes": plan.weights_bytes,
        "kv_bytes": plan.kv_bytes,
        "compute_bytes": plan.compute_bytes,
        "overhead_bytes": plan.overhead_bytes,
        "total_bytes": plan.total_bytes,
        "expected_rss_bytes": plan.expected_rss_bytes,
        "backend": plan.backend,
        "placement": plan.placement,
        "verdict": plan.verdict(),
        "gpu_layers": plan.gpu_layers,
        "n_layers": plan.n_layers,
        "ctx": plan.ctx,
        "n_ctx_alloc": plan.n_ctx_alloc,
        "parallel": plan.parallel,
        "kv_type": plan.kv_type,
        "flash_attn": plan.flash_attn,
        "predicted_tok_s": plan.predicted_tok_s,
        "predicted_tok_s_short": plan.predicted_tok_s_short,
        "predicted_tok_s_range": list(plan.predicted_tok_s_range),
        "predicted_prompt_tok_s": plan.predicted_prompt_tok_s,
        "predicted_ttft_s": plan.predicted_ttft_s,
        "ttft_prompt_tokens": plan.ttft_prompt_tokens,
        "speed_basis": plan.speed_basis,
        "bytes_per_token": plan.bytes_per_token,
        "gpu_bytes": plan.gpu_bytes,
        "cpu_bytes": plan.cpu_bytes,
        "reason": plan.reason,
        "draft": asdict(plan.draft) if plan.draft is not None else None,
    }


def run(args: argparse.Namespace) -> int:
    """Run ``localctl fit``."""
    from catalog.memory import unmodelled_memory
    from localctl.backends import command_line
    from localctl.config import load_config
    from localctl.hardware import resolve_hardware
    from localctl.library import plan_target, resolve
    from localctl.output import emit_json

    config = load_config()
    request = plan_request(config, args)
    target = resolve(args.model, config)
    hw = resolve_hardware(args.hw)
    memory_plan = plan_target(target, hw, request)
    model, quant = target.model, target.quant
    model_name, quant_name, source = target.name, quant.name, target.source
    caveat = model.memory_caveat or unmodelled_memory(model.arch.architecture)
    hub_note = quant.hub_note if quant.hub_status in ("changed", "vanished") else ""
    model_path = target.local_path
    if model_path is None and target.gguf_set is None and quant.files:
        model_path = Path(quant.files[0])  # where a catalog quant will be once pulled
    draft = None
    if args.draft:
        from localctl.draft import plan_with_draft
        from localctl.session import draft_file

        draft = draft_file(
            args.draft, model_name, model_path or Path(args.model), config, pull=False
        )
        if draft is not None:
            memory_plan = plan_with_draft(memory_plan, draft, hw)
    from localctl.session import launch_command

    command, command_note = launch_command(model_path, model_name, memory_plan, config, hw, draft)
    if args.json:
        document = plan_document(memory_plan)
        document.update(
            {"model": model_name, "quant": quant_name, "source": source},
            command=command,
            command_line=command_line(command) if command else None,
            command_note=command_note or None,
            hardware=hardware_summary(hw),
            memory_caveat=caveat or None,
            hub_note=hub_note or None,
        )
        emit_json(document)
        return 0
    print(render_plan(memory_plan, model_name, quant_name, hw))
    if command:
        print(f"command: {command_line(command)}")
    elif command_note:
        print(f"command: {command_note}")
    if caveat:
        print(f"  caution: {caveat}")
    if hub_note:
        print(f"  hub: {hub_note}")
    return 0


def render_plan(plan: MemoryPlan, model: str, quant: str, hw: Hardware) -> str:
    """Human-readable plan."""
    from localctl.output import human_bytes

    machine = hw.profile or "this machine"
    fa = ", flash attention" if plan.flash_attn else ""
    lines = [
        f"{model} {quant} on {machine}: ctx {plan.ctx} x {plan.parallel}, KV {plan.kv_type}{fa}",
        f"  weights   {human_bytes(plan.weights_bytes):>11}",
        f"  KV cache  {human_bytes(plan.kv_bytes):>11}",
        f"  compute   {human_bytes(plan.compute_bytes):>11}",
        f"  overhead  {human_bytes(plan.overhead_bytes):>11}",
        f"  total     {human_bytes(plan.total_bytes):>11}"
        f"  (GPU {human_bytes(plan.gpu_bytes)}, RAM {human_bytes(plan.cpu_bytes)})",
        f"verdict: {plan.verdict()} - {plan.reason}",
    ]
    if plan.placement != "none":
        from localctl.speed import speed_lines

        decode, prompt, basis = speed_lines(plan)
        lines += [f"predicted decode: {decode}", f"predicted {prompt}", f"speed: {basis}"]
    return "\n".join(lines)

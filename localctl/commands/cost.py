"""``localctl cost``: API-equivalent prices and the local break-even point."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from localctl.config import Config, CostConfig
    from localctl.plan import MemoryPlan

ASSUMED_TOK_S = 30.0
"""Generation speed assumed without ``--tok-s`` or ``--model``."""
INPUT_SHARE = 0.75
"""Share of the monthly tokens assumed to be prompt tokens."""


@dataclass(frozen=True, slots=True)
class Figure:
    """One input of the calculation and where it comes from."""

    value: float
    source: str
    """``given`` (a flag), ``predicted`` (the fit plan), ``config`` or ``assumed``."""
    note: str


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``cost`` verb."""
    from localctl.commands.fit import add_request_arguments

    parser = subparsers.add_parser(
        "cost",
        help="API-equivalent cost vs local cost, and the break-even",
        description="Compare paid API prices (genai-prices, dated) with local energy and "
        "hardware cost from your config ([cost] in config.toml). With --model, the local "
        "speed is the fit plan's predicted tok/s on this machine (or --hw PROFILE). "
        "The output says which figures are assumptions.",
    )
    parser.add_argument("--tokens-per-month", type=int, default=10_000_000, metavar="N")
    parser.add_argument(
        "--model",
        metavar="REF",
        help="take the local speed from this model's fit plan: MODEL[:QUANT], "
        "OWNER/REPO:QUANT (header read from the hub, no download) or FILE.gguf",
    )
    parser.add_argument("--hw", metavar="PROFILE", help="plan --model for a hardware profile")
    add_request_arguments(parser, ctx=True)
    parser.add_argument(
        "--tok-s",
        type=float,
        default=None,
        help=f"local generation speed (default: --model's prediction, else {ASSUMED_TOK_S:g})",
    )
    parser.add_argument(
        "--watts",
        type=float,
        default=None,
        help="local power draw while generating (default: [cost] power_w, else assumed)",
    )
    parser.add_argument(
        "--hardware-usd", type=float, default=None, help="price of the machine (default: config)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.set_defaults(run=run)


def _plan(args: argparse.Namespace, config: Config) -> tuple[MemoryPlan, dict[str, Any]]:
    """The fit plan of ``--model`` and a description of it for the output."""
    from localctl.commands.fit import plan_request
    from localctl.hardware import resolve_hardware
    from localctl.library import plan_target, resolve

    request = plan_request(config, args)
    hw = resolve_hardware(args.hw)
    target = resolve(args.model, config)
    memory_plan = plan_target(target, hw, request)
    name, quant = target.name, target.quant.name
    described = {
        "model": name,
        "quant": quant,
        "hardware": hw.profile or "this machine",
        "ctx": memory_plan.ctx,
        "backend": memory_plan.backend,
        "kv_type": memory_plan.kv_type,
        "parallel": memory_plan.parallel,
        "flash_attn": memory_plan.flash_attn,
        "kv_bytes": memory_plan.kv_bytes,
        "compute_bytes": memory_plan.compute_bytes,
        "total_bytes": memory_plan.total_bytes,
        "placement": memory_plan.placement,
        "verdict": memory_plan.verdict(),
        "predicted_tok_s": memory_plan.predicted_tok_s,
    }
    return memory_plan, described


def _speed(args: argparse.Namespace, plan: MemoryPlan | None, label: str) -> Figure:
    from localctl.errors import BadInputError

    if args.tok_s is not None:
        if args.tok_s <= 0:
            raise BadInputError("--tok-s must be positive")
        return Figure(args.tok_s, "given", "--tok-s")
    if plan is not None:
        if plan.placement == "none" or plan.predicted_tok_s <= 0:
            raise BadInputError(f"{label} does not fit, so it has no predicted speed; pass --tok-s")
        return Figure(
            plan.predicted_tok_s, "predicted", f"fit plan of {label}, context {plan.ctx} full"
        )
    return Figure(ASSUMED_TOK_S, "assumed", "no --model or --tok-s")


def _power(args: argparse.Namespace, cost: CostConfig, plan: MemoryPlan | None) -> Figure:
    """Watts while generating: the flag, the config, else the rule the chat meters use."""
    from localctl.errors import BadInputError
    from localctl.meters import assumed_power

    if args.watts is not None:
        if args.watts <= 0:
            raise BadInputError("--watts must be positive")
        return Figure(args.watts, "given", "--watts")
    if cost.power_w > 0:
        return Figure(cost.power_w, "config", "[cost] power_w")
    if plan is not None:
        gpu = plan.placement in ("gpu", "partial")
        where = "GPU plan" if gpu else "CPU-only plan"
    else:
        from localctl.hardware import resolve_hardware

        gpu = bool(resolve_hardware(None, measure=False).gpus)
        where = "GPU machine" if gpu else "CPU-only machine"
    power = assumed_power(None, gpu=gpu)
    return Figure(power.watts, "assumed", f"{where}; set [cost] power_w")


def run(args: argparse.Namespace) -> int:
    """Run ``localctl cost``."""
    import dataclasses

    from localctl.config import load_config
    from localctl.cost import (
        TOKENIZER_CAVEAT,
        break_even,
        hosted_model_for,
        price_per_million,
        unknown_models,
    )
    from localctl.errors import BadInputError
    from localctl.output import emit_json, table

    if args.tokens_per_month <= 0:
        raise BadInputError("--tokens-per-month must be positive")
    if args.model is None and (args.hw is not None or args.ctx is not None):
        raise BadInputError("--hw and --ctx describe the --model plan; pass --model too")
    config = load_config()
    if args.hardware_usd is not None:
        config = dataclasses.replace(
            config, cost=dataclasses.replace(config.cost, hardware_usd=args.hardware_usd)
        )
    unknown = unknown_models(config.cost.api_models)
    for model in unknown:
        print(
            f"localctl: no price for {model!r} in [cost] api_models (genai-prices does not "
            "list it); it is left out",
            file=sys.stderr,
        )
    plan, described = _plan(args, config) if args.model else (None, None)
    hosted = hosted_model_for(args.model) if args.model else None
    if hosted is not None and hosted not in config.cost.api_models:
        # Rent vs own: the same open-weights model on a hosted provider, beside the APIs.
        config = dataclasses.replace(
            config,
            cost=dataclasses.replace(config.cost, api_models=(*config.cost.api_models, hosted)),
        )
    label = ""
    if described:
        name = " ".join(part for part in (described["model"], described["quant"]) if part)
        label = f"{name} on {described['hardware']}"
    speed = _speed(args, plan, label)
    power = _power(args, config.cost, plan)
    assumptions = [
        f"{name} {figure.value:g} {unit} ({figure.note})"
        for name, figure, unit in (("speed", speed, "tok/s"), ("power", power, "W"))
        if figure.source == "assumed"
    ]
    assumptions.append(f"{INPUT_SHARE:.0%} of tokens are prompt tokens")
    result = break_even(
        args.tokens_per_month,
        config.cost,
        local_tok_s=speed.value,
        watts=power.value,
        input_share=INPUT_SHARE,
    )
    if args.json:
        document = dataclasses.asdict(result)
        document.update(
            watts=power.value,
            watts_source=power.source,
            tok_s_source=speed.source,
            assumptions=assumptions,
            model=described,
            hosted_model=hosted,
            caveat=TOKENIZER_CAVEAT,
            unknown_api_models=unknown,
        )
        emit_json(document)
        return 0
    rows = []
    for model, usd in result.api_usd_per_month.items():
        price_in, price_out = price_per_million(model)
        months = result.months_to_break_even[model]
        rows.append(
            [
                f"{model} (same model, rented)" if model == hosted else model,
                f"${price_in:.2f} / ${price_out:.2f}",
                f"${usd:,.2f}",
                "never" if months is None else f"{months:,.1f}",
            ]
        )
    print(
        f"{args.tokens_per_month:,} tokens/month ({INPUT_SHARE:.0%} prompt), "
        f"local {speed.value:.1f} tok/s ({speed.source}: {speed.note}) "
        f"at {power.value:g} W ({power.source}: {power.note})"
    )
    if described and plan is not None:
        print(f"Plan: {label}, ctx {plan.ctx}: {plan.verdict()}")
    print(table(rows, ["API model", "$/M in / out", "API $/month", "months to recover hardware"]))
    print(
        f"Local: energy ${result.local_energy_usd_per_month:,.2f}/month "
        f"({result.local_hours_per_month:,.1f} h at ${config.cost.electricity_usd_per_kwh}/kWh) + "
        f"hardware ${result.local_amortisation_usd_per_month:,.2f}/month "
        f"(${config.cost.hardware_usd:,.0f} over {config.cost.hardware_months} months)"
    )
    print(f"Verdict: {result.verdict}")
    print(f"Assumptions: {'; '.join(assumptions)}.")
    if not config.cost.hardware_usd:
        print("Hardware price is 0: set [cost] hardware_usd in config.toml or pass --hardware-usd.")
    print(f"Prices: {result.price_source}. {TOKENIZER_CAVEAT}")
    return 0

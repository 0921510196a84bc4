"""``localctl cost``: API-equivalent prices and the local break-even point."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``cost`` verb."""
    parser = subparsers.add_parser(
        "cost",
        help="API-equivalent cost vs local cost, and the break-even",
        description="Compare paid API prices (genai-prices, dated) with local energy and "
        "hardware cost from your config ([cost] in config.toml).",
    )
    parser.add_argument("--tokens-per-month", type=int, default=10_000_000, metavar="N")
    parser.add_argument(
        "--tok-s",
        type=float,
        default=None,
        help="local generation speed (default: measured/predicted)",
    )
    parser.add_argument(
        "--watts", type=float, default=None, help="local power draw while generating"
    )
    parser.add_argument(
        "--hardware-usd", type=float, default=None, help="price of the machine (default: config)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``localctl cost``."""
    import dataclasses

    from localctl.config import load_config
    from localctl.cost import TOKENIZER_CAVEAT, break_even, price_per_million
    from localctl.errors import BadInputError
    from localctl.output import emit_json, table

    if args.tokens_per_month <= 0:
        raise BadInputError("--tokens-per-month must be positive")
    config = load_config()
    if args.hardware_usd is not None:
        config = dataclasses.replace(
            config, cost=dataclasses.replace(config.cost, hardware_usd=args.hardware_usd)
        )
    watts = args.watts or config.cost.power_w or 300.0
    tok_s = args.tok_s or 30.0
    result = break_even(args.tokens_per_month, config.cost, local_tok_s=tok_s, watts=watts)
    if args.json:
        document = dataclasses.asdict(result)
        document["watts"] = watts
        document["caveat"] = TOKENIZER_CAVEAT
        emit_json(document)
        return 0
    rows = []
    for model, usd in result.api_usd_per_month.items():
        price_in, price_out = price_per_million(model)
        months = result.months_to_break_even[model]
        rows.append(
            [
                model,
                f"${price_in:.2f} / ${price_out:.2f}",
                f"${usd:,.2f}",
                "never" if months is None else f"{months:,.1f}",
            ]
        )
    print(
        f"{args.tokens_per_month:,} tokens/month (75% prompt), local {tok_s:g} tok/s at {watts:g} W"
    )
    print(table(rows, ["API model", "$/M in / out", "API $/month", "months to recover hardware"]))
    print(
        f"Local: energy ${result.local_energy_usd_per_month:,.2f}/month "
        f"({result.local_hours_per_month:,.1f} h at ${config.cost.electricity_usd_per_kwh}/kWh) + "
        f"hardware ${result.local_amortisation_usd_per_month:,.2f}/month "
        f"(${config.cost.hardware_usd:,.0f} over {config.cost.hardware_months} months)"
    )
    print(f"Verdict: {result.verdict}")
    if not config.cost.hardware_usd:
        print("Hardware price is 0: set [cost] hardware_usd in config.toml or pass --hardware-usd.")
    print(f"Prices: {result.price_source}. {TOKENIZER_CAVEAT}")
    return 0

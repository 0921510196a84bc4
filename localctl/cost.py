"""What tokens would have cost on paid APIs, what they cost locally, and the break-even.

API prices come from the genai-prices library (dated, bundled data); the date shown is
that data's. Other models' tokenizers count the same text differently, so the
API-equivalent figure is an estimate for the same token counts, not the same text.
"""

from __future__ import annotations

import datetime
import importlib.metadata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from localctl.config import CostConfig

TOKENIZER_CAVEAT = (
    "API-equivalent cost prices these token counts; other models' tokenizers "
    "count the same text differently (often 10-30%)."
)


def price_source() -> str:
    """The price data in use and its date: the newest price change it holds, up to today.

    Returns:
        E.g. ``genai-prices 0.2.3, prices as of 2026-10-01``.
    """
    import re

    import genai_prices.data

    version = importlib.metadata.version("genai-prices")
    text = Path(genai_prices.data.__file__).read_text(encoding="utf-8")
    today = datetime.date.today()
    dates = [
        datetime.date(int(y), int(m), int(d))
        for y, m, d in re.findall(r"date\((\d{4}), (\d{1,2}), (\d{1,2})\)", text)
    ]
    past = [d for d in dates if d <= today]
    when = f", prices as of {max(past):%Y-%m-%d}" if past else ""
    return f"genai-prices {version}{when}"


def _split(model: str) -> tuple[str | None, str]:
    provider, sep, name = model.partition(":")
    return (provider, name) if sep else (None, model)


def api_equivalent(
    prompt_tokens: int, completion_tokens: int, models: tuple[str, ...] | list[str] | None = None
) -> dict[str, float]:
    """USD the same prompt/completion token counts would cost on each paid API model.

    Args:
        prompt_tokens: Input tokens.
        completion_tokens: Output tokens.
        models: ``provider:model`` ids; defaults to the config's ``cost.api_models``.

    Returns:
        Model id → dollars; ids genai-prices does not know are left out.
    """
    from genai_prices import Usage, calc_price

    if models is None:
        from localctl.config import load_config

        models = load_config().cost.api_models
    usage = Usage(input_tokens=prompt_tokens, output_tokens=completion_tokens)
    result: dict[str, float] = {}
    for model in models:
        provider, name = _split(model)
        try:
            price = calc_price(usage, name, provider_id=provider)
        except LookupError:
            continue
        result[model] = float(price.total_price)
    return result


def price_per_million(model: str) -> tuple[float, float]:
    """(input, output) USD per million tokens of a ``provider:model`` id."""
    return (
        api_equivalent(1_000_000, 0, [model]).get(model, 0.0),
        api_equivalent(0, 1_000_000, [model]).get(model, 0.0),
    )


def energy_cost_usd(seconds: float, watts: float, usd_per_kwh: float) -> float:
    """Electricity cost of drawing ``watts`` for ``seconds`` at ``usd_per_kwh``."""
    return watts * seconds / 3_600_000.0 * usd_per_kwh


@dataclass(frozen=True, slots=True)
class BreakEven:
    """Local vs API cost for a monthly token volume."""

    tokens_per_month: int
    local_tok_s: float
    local_hours_per_month: float
    local_energy_usd_per_month: float
    local_amortisation_usd_per_month: float
    api_usd_per_month: dict[str, float]
    months_to_break_even: dict[str, float | None]
    """None where the API is cheaper than the energy alone (never breaks even)."""
    verdict: str
    price_source: str


def break_even(
    tokens_per_month: int,
    config: CostConfig,
    *,
    local_tok_s: float,
    watts: float,
    input_share: float = 0.75,
) -> BreakEven:
    """The break-even calculator: monthly API bill vs local energy and hardware.

    Args:
        tokens_per_month: Tokens processed per month (prompt + completion).
        config: Electricity price, hardware price and amortisation months, API models.
        local_tok_s: Local generation speed used to price the energy.
        watts: Power drawn while generating.
        input_share: Fraction of tokens that are prompt tokens (the rest completion).

    Returns:
        The comparison, with months to recover the hardware per API model.
    """
    prompt = int(tokens_per_month * input_share)
    completion = tokens_per_month - prompt
    api = api_equivalent(prompt, completion, config.api_models)
    hours = completion / max(local_tok_s, 1e-9) / 3600.0
    energy = energy_cost_usd(hours * 3600.0, watts, config.electricity_usd_per_kwh)
    amortised = config.hardware_usd / max(config.hardware_months, 1)
    months: dict[str, float | None] = {}
    for model, dollars in api.items():
        saving = dollars - energy
        months[model] = config.hardware_usd / saving if saving > 0 else None
    local_total = energy + amortised
    cheaper = [m for m, d in api.items() if d > local_total]
    if not api:
        verdict = "no API prices available"
    elif len(cheaper) == len(api):
        verdict = f"local is cheaper than every compared API (${local_total:,.2f}/month all-in)"
    elif not cheaper:
        verdict = f"every compared API is cheaper than running locally (${local_total:,.2f}/month)"
    else:
        verdict = (
            f"local (${local_total:,.2f}/month all-in) beats {', '.join(cheaper)}; "
            "the others are cheaper"
        )
    return BreakEven(
        tokens_per_month=tokens_per_month,
        local_tok_s=local_tok_s,
        local_hours_per_month=hours,
        local_energy_usd_per_month=energy,
        local_amortisation_usd_per_month=amortised,
        api_usd_per_month=api,
        months_to_break_even=months,
        verdict=verdict,
        price_source=price_source(),
    )


def price_source_date() -> str:
    """Date (``YYYY-MM-DD``) of the newest price change in the installed genai-prices data."""
    source = price_source()
    _, _, date = source.partition("prices as of ")
    return date or "unknown"


def unknown_models(models: tuple[str, ...] | list[str]) -> list[str]:
    """The ``provider:model`` ids genai-prices cannot price (shown as a warning)."""
    return [m for m in models if m not in api_equivalent(1, 1, [m])]

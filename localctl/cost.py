"""What tokens would have cost on paid APIs, what they cost locally, and the break-even.

API prices come from genai-prices' typed data snapshot. The date shown for a price is
the start date of the price genai-prices applies today (its ``StartDateConstraint``),
or "undated" when the package gives none; the package is called stale when the newest
price change it knows of is more than :data:`STALE_AFTER_DAYS` old. Loading that
snapshot takes about a second, so it happens once per process (:func:`load_prices`;
the TUI calls it on a worker thread at start). Other models' tokenizers count the same
text differently, so the API-equivalent figure is an estimate for the same token
counts, not the same text. :func:`hosted_model` finds the same open-weights model on a
hosted provider (OpenRouter) when genai-prices lists it: the "rent vs own" comparison.
"""

from __future__ import annotations

import datetime
import functools
import importlib.metadata
import re
import threading
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from localctl.errors import LocalctlError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from localctl.config import CostConfig

TOKENIZER_CAVEAT = (
    "API-equivalent cost prices these token counts; other models' tokenizers "
    "count the same text differently (often 10-30%)."
)
STALE_AFTER_DAYS = 120
"""A genai-prices whose newest known price change is older than this is called stale."""
HOSTED_PROVIDER = "openrouter"
"""Where "the same model, rented" is priced."""

_load_lock = threading.Lock()


def load_prices() -> Any:
    """genai-prices' data snapshot, loaded once per process (about 1 s the first time).

    Safe to call from any thread; the TUI calls it on a worker at start so no reply
    waits for it.
    """
    with _load_lock:
        from genai_prices import data_snapshot

        return data_snapshot.get_snapshot()


@dataclass(frozen=True, slots=True)
class PriceData:
    """Which price data is in use and how fresh it looks."""

    version: str
    """Installed genai-prices version."""
    newest_change: datetime.date | None
    """The newest dated price change the data holds (scheduled ones included)."""
    fetched_at: datetime.datetime | None
    """When genai-prices fetched newer data itself (``UpdatePrices``); None for bundled data."""
    today: datetime.date

    @property
    def stale(self) -> bool:
        """True when bundled data knows of no price change in the last ``STALE_AFTER_DAYS``."""
        if self.fetched_at is not None or self.newest_change is None:
            return False
        return (self.today - self.newest_change).days > STALE_AFTER_DAYS


def price_data(today: datetime.date | None = None) -> PriceData:
    """Facts about the price data in use (from the typed snapshot, not its source text)."""
    return _price_data(today or datetime.date.today())


@functools.lru_cache(maxsize=4)
def _price_data(today: datetime.date) -> PriceData:
    snapshot = load_prices()
    dates = [
        constraint.start_date
        for provider in snapshot.providers
        for model in provider.models
        if isinstance(model.prices, list)
        for price in model.prices
        if (constraint := price.constraint) is not None and hasattr(constraint, "start_date")
    ]
    fetched = snapshot.timestamp if snapshot.from_auto_update else None
    return PriceData(
        version=importlib.metadata.version("genai-prices"),
        newest_change=max(dates, default=None),
        fetched_at=fetched,
        today=today,
    )


@functools.lru_cache(maxsize=256)
def price_since(model: str, today: datetime.date | None = None) -> datetime.date | None:
    """Start date of the price genai-prices applies today to ``provider:model``.

    None when the price is undated or the model is unknown.
    """
    provider, name = _split(model)
    moment = datetime.datetime.combine(today or datetime.date.today(), datetime.time(12))
    try:
        _, info = load_prices().find_provider_model(name, None, provider, None)
    except LookupError:
        return None
    if not isinstance(info.prices, list):
        return None
    for price in reversed(info.prices):
        constraint = price.constraint
        if constraint is None or constraint.active(moment):
            return getattr(constraint, "start_date", None)
    return None


def price_source(models: Iterable[str] = (), today: datetime.date | None = None) -> str:
    """The price data in use, the date of each price used, and a warning when stale.

    Args:
        models: The ``provider:model`` ids being priced.
        today: The day to judge by (default: today).

    Returns:
        E.g. ``genai-prices 0.2.3: claude-sonnet-4-6 price since 2026-03-13, others
        undated``; ``STALE`` and the age of its newest change when the package is old.
    """
    data = price_data(today)
    wanted = tuple(models)
    dated = [(m, since) for m in wanted if (since := price_since(m, today)) is not None]
    if dated:
        listed = ", ".join(f"{_split(m)[1]} since {since:%Y-%m-%d}" for m, since in dated)
        rest = ", others undated" if len(dated) < len(wanted) else ""
        text = f"genai-prices {data.version}: {listed}{rest}"
    else:
        text = f"genai-prices {data.version}: undated prices"
    if data.fetched_at is not None:
        text += f" (fetched {data.fetched_at:%Y-%m-%d})"
    if data.stale and data.newest_change is not None:
        age = (data.today - data.newest_change).days
        text += (
            f"; STALE: its newest price change is from {data.newest_change:%Y-%m-%d} "
            f"({age} days ago), update genai-prices"
        )
    return text


def _split(model: str) -> tuple[str | None, str]:
    provider, sep, name = model.partition(":")
    return (provider, name) if sep else (None, model)


def api_equivalent(
    prompt_tokens: int, completion_tokens: int, models: tuple[str, ...] | list[str]
) -> dict[str, float]:
    """USD the same prompt/completion token counts would cost on each paid API model.

    Args:
        prompt_tokens: Input tokens.
        completion_tokens: Output tokens.
        models: ``provider:model`` ids (the config's ``cost.api_models``).

    Returns:
        Model id → dollars; ids genai-prices does not know are left out.
    """
    from genai_prices import Usage, calc_price

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


RATE_PROBE_TOKENS = 1000
"""Tokens of the request a per-token rate is read from: below every long-prompt tier."""


@functools.lru_cache(maxsize=256)
def token_rates(model: str) -> tuple[Decimal, Decimal] | None:
    """(input, output) USD per token of ``provider:model`` for ordinary requests.

    Read from a small request, so a long-prompt tier (some models bill every token of a
    request over 100k-272k prompt tokens at a higher rate) does not apply. None for a
    model genai-prices does not know.
    """
    from genai_prices import Usage, calc_price

    provider, name = _split(model)
    probe = RATE_PROBE_TOKENS
    try:
        prompt = calc_price(Usage(input_tokens=probe), name, provider_id=provider)
        completion = calc_price(Usage(output_tokens=probe), name, provider_id=provider)
    except LookupError:
        return None
    return prompt.total_price / probe, completion.total_price / probe


def api_rate_usd(
    prompt_tokens: int, completion_tokens: int, models: tuple[str, ...] | list[str]
) -> dict[str, float]:
    """USD of many ordinary requests adding up to these token counts, per API model.

    Unlike :func:`api_equivalent` (one request of that size), a session's or a month's
    tokens are priced at the base per-token rates, not as one giant prompt.
    """
    result = {}
    for model in models:
        rates = token_rates(model)
        if rates is not None:
            result[model] = float(prompt_tokens * rates[0] + completion_tokens * rates[1])
    return result


def price_per_million(model: str) -> tuple[float, float]:
    """(input, output) USD per million tokens of ``provider:model`` in ordinary requests."""
    rates = token_rates(model)
    if rates is None:
        return 0.0, 0.0
    return float(rates[0] * 1_000_000), float(rates[1] * 1_000_000)


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
    api = api_rate_usd(prompt, completion, config.api_models)
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
        price_source=price_source(config.api_models),
    )


def unknown_models(models: Iterable[str]) -> list[str]:
    """The ``provider:model`` ids genai-prices cannot price (``cost`` names them, Settings
    refuse them)."""
    return [m for m in models if m not in api_equivalent(1, 1, [m])]


def _hosted_candidates(repo: str, name: str) -> list[str]:
    """Model names a hosted provider may use for the model in ``repo`` (lower case)."""
    base = re.sub(r"[-_.]gguf$", "", repo.split("/", 1)[-1], flags=re.IGNORECASE)
    base = re.sub(r"-qat$", "", base, flags=re.IGNORECASE)  # quantisation-aware copies
    names = [base, base.split("_", 1)[1] if "_" in base else "", name]
    found: list[str] = []
    for text in names:
        plain = text.strip().lower().replace(" ", "-")
        if plain:
            found += [plain, re.sub(r"([a-z])(\d)", r"\1-\2", plain, count=1)]
    return list(dict.fromkeys(found))


@functools.lru_cache(maxsize=256)
def hosted_model(repo: str, name: str = "") -> str | None:
    """``openrouter:VENDOR/MODEL`` for the open-weights model in ``repo``, if genai-prices
    lists it there (free-tier and batch entries are skipped); else None.

    Args:
        repo: The Hugging Face repo of the GGUF (``bartowski/Llama-3.3-70B-Instruct-GGUF``).
        name: The model's display name, tried as well.
    """
    snapshot = load_prices()
    provider = next((p for p in snapshot.providers if p.id == HOSTED_PROVIDER), None)
    if provider is None:
        return None
    paid = [m.id for m in provider.models if ":" not in m.id]
    for candidate in _hosted_candidates(repo, name):
        exact = [i for i in paid if i.split("/")[-1] == candidate]
        if exact:
            return f"{HOSTED_PROVIDER}:{sorted(exact, key=len)[-1]}"
    return None


@functools.lru_cache(maxsize=64)
def hosted_model_for(served: str) -> str | None:
    """:func:`hosted_model` for a served model name (``catalog-id:QUANT``,
    ``OWNER/REPO:QUANT`` or ``OWNER/REPO/FILE.gguf``); None when it names none of them."""
    ref = served.rsplit(":", 1)[0] if ":" in served else served
    if "/" in ref:  # OWNER/REPO or OWNER/REPO/FILE.gguf
        return hosted_model("/".join(ref.split("/")[:2]))
    try:
        from localctl.snapshot import load_catalog

        model = load_catalog().get(ref)
    except LocalctlError:  # an unknown id or unreadable catalog: nothing to compare
        return None
    return hosted_model(model.repo, model.name)

"""Cost math checked against genai-prices directly, and the break-even arithmetic."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys

import pytest
from genai_prices import Usage, calc_price

from localctl import cost
from localctl.config import DEFAULT_API_MODELS, CostConfig
from localctl.cost import api_equivalent, break_even, energy_cost_usd, price_source
from localctl.meters import SessionMeters


def test_api_equivalent_matches_genai_prices() -> None:
    got = api_equivalent(12_345, 6_789, ["openai:gpt-5", "anthropic:claude-sonnet-4-6"])
    for model in got:
        provider, name = model.split(":")
        expected = calc_price(
            Usage(input_tokens=12_345, output_tokens=6_789), name, provider_id=provider
        )
        assert got[model] == pytest.approx(float(expected.total_price))
    assert got["openai:gpt-5"] == pytest.approx(12_345 * 1.25e-6 + 6_789 * 10e-6)


def test_unknown_api_model_is_left_out() -> None:
    assert api_equivalent(1, 1, ["nobody:no-such-model"]) == {}


def test_price_source_dates_the_price_in_force_for_each_model_used() -> None:
    today = datetime.date(2026, 12, 1)
    # genai-prices' typed snapshot: claude-sonnet-4-6's current price starts 2026-03-13.
    assert cost.price_since("anthropic:claude-sonnet-4-6", today) == datetime.date(2026, 3, 13)
    assert cost.price_since("openai:gpt-5", today) is None
    text = price_source(["anthropic:claude-sonnet-4-6", "openai:gpt-5"], today)
    assert text.startswith("genai-prices ")
    assert text.endswith(": claude-sonnet-4-6 since 2026-03-13, others undated")
    assert price_source(["openai:gpt-5"], today).endswith(": undated prices")


def test_a_stale_genai_prices_is_called_stale() -> None:
    newest = cost.price_data().newest_change
    assert newest is not None
    fresh = price_source(["openai:gpt-5"], newest + datetime.timedelta(days=30))
    assert "STALE" not in fresh
    late = newest + datetime.timedelta(days=cost.STALE_AFTER_DAYS + 100)
    stale = price_source(["openai:gpt-5"], late)
    assert f"STALE: its newest price change is from {newest:%Y-%m-%d}" in stale
    assert f"({cost.STALE_AFTER_DAYS + 100} days ago), update genai-prices" in stale


def test_price_data_is_loaded_once_per_process() -> None:
    assert cost.load_prices() is cost.load_prices()
    assert cost.price_data() is cost.price_data()


def test_default_api_models_can_be_bought_today() -> None:
    snapshot = cost.load_prices()
    assert "anthropic:claude-3-5-haiku" not in DEFAULT_API_MODELS  # retired 2026-02-19
    assert set(api_equivalent(1000, 1000, DEFAULT_API_MODELS)) == set(DEFAULT_API_MODELS)
    for model in DEFAULT_API_MODELS:
        provider, name = model.split(":")
        _, info = snapshot.find_provider_model(name, None, provider, None)
        comments = (info.price_comments or "").lower()
        assert not info.deprecated and "shut down" not in comments, model
        if provider == "anthropic":
            # Anthropic's batch variants cover exactly its active models (the provider's note).
            assert info.price_variants, f"{model} is not in Anthropic's current price table"


def test_the_same_open_weights_model_is_priced_on_a_hosted_provider() -> None:
    hosted = "openrouter:meta-llama/llama-3.3-70b-instruct"
    assert cost.hosted_model("bartowski/Llama-3.3-70B-Instruct-GGUF") == hosted
    assert cost.hosted_model_for("bartowski/Llama-3.3-70B-Instruct-GGUF:Q4_K_M") == hosted
    assert cost.hosted_model_for("llama-3.3-70b:Q4_K_M") == hosted
    assert cost.hosted_model_for("bartowski/Llama-3.3-70B-Instruct-GGUF/x/m-Q4_0.gguf") == hosted
    assert cost.hosted_model("bartowski/google_gemma-3-27b-it-GGUF") == (
        "openrouter:google/gemma-3-27b-it"
    )
    assert cost.hosted_model("fake-org/SmolLM2-135M-Instruct-GGUF") is None
    meters = SessionMeters()
    snap = meters.snapshot(CostConfig(api_models=("openai:gpt-5",)), "nobody/none:Q4_0")
    assert snap.hosted_usd == {}
    snap = meters.snapshot(
        CostConfig(api_models=("openai:gpt-5",)), "bartowski/Llama-3.3-70B-Instruct-GGUF:Q4_K_M"
    )
    assert list(snap.hosted_usd) == [hosted]
    assert "openai:gpt-5" in snap.api_equivalent_usd


def test_energy_cost() -> None:
    assert energy_cost_usd(3600, 1000, 0.2) == pytest.approx(0.2)


def test_break_even_months_and_verdict() -> None:
    config = CostConfig(
        api_models=("openai:gpt-5",), hardware_usd=3000, electricity_usd_per_kwh=0.2
    )
    result = break_even(100_000_000, config, local_tok_s=50, watts=400)
    api = 75_000_000 * 1.25e-6 + 25_000_000 * 10e-6
    energy = 25_000_000 / 50 / 3600 * 0.4 * 0.2
    assert result.api_usd_per_month["openai:gpt-5"] == pytest.approx(api)
    assert result.local_energy_usd_per_month == pytest.approx(energy)
    assert result.months_to_break_even["openai:gpt-5"] == pytest.approx(3000 / (api - energy))
    assert "local" in result.verdict


def test_cost_cli_json() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "localctl", "cost", "--tokens-per-month", "1000000", "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    doc = json.loads(out.stdout)
    assert doc["tokens_per_month"] == 1_000_000 and doc["api_usd_per_month"]


def _cost_json(*args: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-m", "localctl", "cost", "--json", *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    doc: dict[str, object] = json.loads(out.stdout)
    return doc


def test_cost_cli_names_its_assumptions() -> None:
    from localctl.hardware import resolve_hardware
    from localctl.meters import assumed_power

    doc = _cost_json()
    assert (doc["tok_s_source"], doc["watts_source"]) == ("assumed", "assumed")
    # The chat meters' rule for this machine: 300 W with a GPU, 65 W CPU-only.
    watts = assumed_power(None, gpu=bool(resolve_hardware(None, measure=False).gpus)).watts
    assert doc["local_tok_s"] == 30.0 and doc["watts"] == watts and doc["model"] is None
    assumptions = doc["assumptions"]
    assert isinstance(assumptions, list) and len(assumptions) == 3


def test_cost_cli_takes_speed_from_the_fit_plan() -> None:
    from catalog.loader import load_catalog
    from localctl.config import Config
    from localctl.hardware import load_profile
    from localctl.plan import plan as make_plan
    from localctl.request import PlanRequest
    from localctl.shape import shape_for_quant

    doc = _cost_json("--model", "llama-3.1-8b:Q4_K_M", "--hw", "rtx4090", "--ctx", "8192")
    model = load_catalog(None).get("llama-3.1-8b")
    # the backend the CLI plans for: the native server where one is installed
    request = PlanRequest.from_config(Config(), ctx=8192)
    plan = make_plan(shape_for_quant(model, "Q4_K_M"), load_profile("rtx4090"), request)
    assert doc["tok_s_source"] == "predicted"
    assert doc["local_tok_s"] == pytest.approx(plan.predicted_tok_s)
    described = doc["model"]
    assert isinstance(described, dict)
    assert described["placement"] == "gpu" and described["hardware"] == "rtx4090"
    # The watts are still an assumption, and the output says so.
    assert doc["watts_source"] == "assumed"
    assert any("power 300" in a for a in doc["assumptions"])  # type: ignore[union-attr]


def test_cost_cli_flags_are_not_assumptions() -> None:
    doc = _cost_json("--model", "qwen2.5-0.5b", "--hw", "cpu-64", "--tok-s", "12", "--watts", "90")
    assert (doc["tok_s_source"], doc["watts_source"]) == ("given", "given")
    assert doc["local_tok_s"] == 12.0 and doc["watts"] == 90.0
    assert doc["assumptions"] == ["75% of tokens are prompt tokens"]


def test_cost_cli_text_and_bad_input() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "localctl", "cost", "--model", "qwen2.5-0.5b", "--hw", "cpu-64"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "(predicted: fit plan of qwen2.5-0.5b Q4_K_M on cpu-64" in out.stdout
    assert "Assumptions: power 65 W (CPU-only plan" in out.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "localctl", "cost", "--hw", "rtx4090"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "pass --model too" in bad.stderr
    unknown = subprocess.run(
        [sys.executable, "-m", "localctl", "cost", "--model", "no-such-model"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1


def test_cost_with_a_model_prices_the_same_model_rented_beside_the_apis() -> None:
    model = ["--model", "llama-3.3-70b:Q4_K_M", "--hw", "rtx4090x2"]
    out = subprocess.run(
        [sys.executable, "-m", "localctl", "cost", *model, "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    doc = json.loads(out.stdout)
    hosted = "openrouter:meta-llama/llama-3.3-70b-instruct"
    assert doc["hosted_model"] == hosted
    assert doc["api_usd_per_month"][hosted] > 0
    assert set(DEFAULT_API_MODELS) <= set(doc["api_usd_per_month"])


def test_a_long_prompt_tier_prices_one_long_request_not_a_month_of_short_ones() -> None:
    model = "anthropic:claude-haiku-5-5"  # every token of a >100k-token prompt costs 5x
    assert cost.price_per_million(model) == pytest.approx((0.1, 0.5))
    assert api_equivalent(150_000, 0, [model])[model] == pytest.approx(150_000 * 0.5e-6)
    config = CostConfig(api_models=(model,), hardware_usd=1000)
    month = break_even(10_000_000, config, local_tok_s=50, watts=300)
    assert month.api_usd_per_month[model] == pytest.approx(7_500_000 * 0.1e-6 + 2_500_000 * 0.5e-6)
    meters = SessionMeters()
    assert meters.api_equivalent_usd((model,)) == {model: 0.0}

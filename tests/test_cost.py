"""Cost math checked against genai-prices directly, and the break-even arithmetic."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from genai_prices import Usage, calc_price

from localctl.config import CostConfig
from localctl.cost import api_equivalent, break_even, energy_cost_usd, price_source


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


def test_price_source_is_dated() -> None:
    assert price_source().startswith("genai-prices ") and "prices as of 20" in price_source()


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
    doc = _cost_json()
    assert (doc["tok_s_source"], doc["watts_source"]) == ("assumed", "assumed")
    assert doc["local_tok_s"] == 30.0 and doc["watts"] == 300.0 and doc["model"] is None
    assumptions = doc["assumptions"]
    assert isinstance(assumptions, list) and len(assumptions) == 3


def test_cost_cli_takes_speed_from_the_fit_plan() -> None:
    from catalog.loader import load_catalog
    from localctl.hardware import load_profile
    from localctl.plan import plan_for_model

    doc = _cost_json("--model", "llama-3.1-8b:Q4_K_M", "--hw", "rtx4090", "--ctx", "8192")
    model = load_catalog(None).get("llama-3.1-8b")
    plan = plan_for_model(model, "Q4_K_M", load_profile("rtx4090"), ctx=8192)
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

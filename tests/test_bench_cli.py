"""``localctl bench``: the store, the calibration it gives this machine, and a real run."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import pytest

from localctl import benchrun, speed
from localctl.cli import main
from localctl.config import load_config
from localctl.hardware import Gpu, Hardware
from localctl.plan import plan
from localctl.request import PlanRequest
from localctl.shape import shape_from_file

THIS_MACHINE = Hardware(
    cpu_name="Test CPU",
    physical_cores=2,
    logical_cores=2,
    ram_total_bytes=8 << 30,
    ram_available_bytes=6 << 30,
    ram_bandwidth_bytes_s=30e9,
    ram_bandwidth_source="measured",
)


def stored(decode_scale: float, prompt_scale: float = 1.0) -> benchrun.BenchResult:
    return benchrun.BenchResult(
        fingerprint=benchrun.fingerprint(THIS_MACHINE, "llama-server"),
        build="llama-server b1",
        model="test",
        prompt_tok_s=100.0,
        prompt_tok_s_sd=1.0,
        gen_tok_s=50.0,
        gen_tok_s_sd=0.5,
        decode_scale=decode_scale,
        prompt_scale=prompt_scale,
        repetitions=3,
        when=time.time(),
    )


def test_a_stored_run_calibrates_every_prediction_on_this_machine(smollm2_path: Path) -> None:
    shape = shape_from_file(smollm2_path)
    request = PlanRequest(ctx=1024, backend="llama-server")
    before = plan(shape, THIS_MACHINE, request)
    assert before.speed_basis == "model"
    benchrun.save_result(stored(decode_scale=2.0, prompt_scale=3.0))
    after = plan(shape, THIS_MACHINE, request)
    assert after.speed_basis.startswith("calibrated here (llama-server b1")
    assert after.predicted_tok_s > 1.3 * before.predicted_tok_s
    assert after.predicted_prompt_tok_s == pytest.approx(3 * before.predicted_prompt_tok_s, 0.01)
    # Another backend, a simulated profile and another machine keep the model's figures.
    other = plan(shape, THIS_MACHINE, PlanRequest(ctx=1024, backend="llama-cpp-python"))
    assert other.speed_basis == "model"
    assert plan(shape, replace(THIS_MACHINE, profile="x"), request).speed_basis == "model"
    assert plan(shape, replace(THIS_MACHINE, cpu_name="Other"), request).speed_basis == "model"


def test_the_newest_runs_of_the_newest_build_are_averaged_and_a_foreign_store_is_empty() -> None:
    benchrun.save_result(stored(decode_scale=8.0))
    benchrun.save_result(stored(decode_scale=2.0))
    benchrun.save_result(stored(decode_scale=0.5))
    benchrun.save_result(stored(decode_scale=1.0))
    calibration = benchrun.calibration_for(THIS_MACHINE, "llama-server")
    # The newest three (2.0, 0.5, 1.0): their geometric mean; their spread widens the band.
    assert calibration is not None and calibration.decode_scale == pytest.approx(1.0)
    assert "mean of 3 runs" in calibration.label and calibration.decode_sd > 0.5
    benchrun.save_result(replace(stored(decode_scale=0.5), build="llama-server b2"))
    calibration = benchrun.calibration_for(THIS_MACHINE, "llama-server")
    assert calibration is not None and calibration.decode_scale == 0.5  # a new build: afresh
    assert "b2" in calibration.label and "mean of" not in calibration.label
    benchrun.store_file().write_text('{"version": 99, "results": [1]}')
    assert benchrun.calibration_for(THIS_MACHINE, "llama-server") is None
    benchrun.store_file().write_text("not json")
    assert benchrun.load_results() == []


def test_scales_reproduce_the_measured_rates() -> None:
    work = speed.DecodeWork(gpu_bytes=0, cpu_bytes=1e9, cpu_kv_bytes=1e6)
    prompt = speed.PromptWork(active_params=1e9, n_layers=16, attn_width=2048)
    decode_scale, prompt_scale, extra = benchrun.scales(
        THIS_MACHINE, work, prompt, flash_attn=False, gen_tok_s=20.0, prompt_tok_s=150.0
    )
    assert extra == 0.0  # streaming dominates a 1 GB model on a CPU: its rate is corrected
    calibration = speed.Calibration(decode_scale, prompt_scale, extra)
    assert speed.decode_tok_s(THIS_MACHINE, work, flash_attn=False, calibration=calibration) == (
        pytest.approx(20.0, rel=0.01)
    )
    assert speed.prompt_tok_s(THIS_MACHINE, prompt, calibration=calibration) == pytest.approx(
        150.0, rel=0.01
    )


def test_bench_refuses_bad_repetitions(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "smollm2-135m:Q4_1", "--reps", "0"]) == 2
    assert "--reps" in capsys.readouterr().err


@pytest.mark.slow
def test_a_real_run_is_stored_and_predicts_what_it_measured(
    smollm2_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from localctl.hardware import detect_hardware

    hw = detect_hardware(measure=False)
    report = benchrun.run_bench(
        smollm2_path,
        "smollm2",
        hw,
        load_config(),
        backend="llama-cpp-python",
        repetitions=1,
        prompt_tokens=64,
        gen_tokens=24,
        store_busy=True,
    )
    assert report.stored and report.result.gen_tok_s > 0 and report.result.prompt_tok_s > 0
    assert {m.source for m in report.measurements} == {"client clock"}
    stored_runs = json.loads(benchrun.store_file().read_text())["results"]
    assert stored_runs[-1]["fingerprint"] == benchrun.fingerprint(hw, "llama-cpp-python")
    # At the run's own context the calibrated prediction is the measurement.
    shape = shape_from_file(smollm2_path)
    after = plan(shape, hw, PlanRequest(ctx=64 + 12, backend="llama-cpp-python"))
    assert after.speed_basis.startswith("calibrated here")
    assert after.predicted_tok_s == pytest.approx(report.result.gen_tok_s, rel=0.05)


def test_a_calibrated_band_keeps_the_spread_between_models_and_the_measurement_sd(
    smollm2_path: Path,
) -> None:
    shape = shape_from_file(smollm2_path)
    request = PlanRequest(ctx=1024, backend="llama-server")
    benchrun.save_result(stored(decode_scale=1.0))
    steady = plan(shape, THIS_MACHINE, request)
    low, high = steady.predicted_tok_s_range
    assert low < 0.95 * steady.predicted_tok_s and high > 1.05 * steady.predicted_tok_s
    benchrun.save_result(replace(stored(decode_scale=1.0), gen_tok_s_sd=20.0))
    noisy = plan(shape, THIS_MACHINE, request)
    assert noisy.predicted_tok_s_range[0] < low and noisy.predicted_tok_s_range[1] > high


def test_a_small_model_on_a_gpu_corrects_the_fixed_cost_not_the_bandwidth() -> None:
    gpu = replace(
        THIS_MACHINE,
        cpu_name="Raspberry Pi CM5 (Cortex-A76)",
        gpus=(Gpu(0, "NVIDIA GeForce RTX 4090", "nvidia", 24 << 30, 24 << 30, 1008e9),),
    )
    small = speed.DecodeWork(gpu_bytes=0.5e9, cpu_bytes=0)
    big = speed.DecodeWork(gpu_bytes=20e9, cpu_bytes=0)
    prompt = speed.PromptWork(active_params=1e9, n_layers=16, attn_width=2048, on_gpu=True)
    modelled = speed.decode_tok_s(gpu, small, flash_attn=True)
    decode_scale, prompt_scale, extra = benchrun.scales(
        gpu, small, prompt, flash_attn=True, gen_tok_s=modelled / 2, prompt_tok_s=5000.0
    )
    assert decode_scale == 1.0 and extra > 0
    calibration = speed.Calibration(decode_scale, prompt_scale, extra)
    assert speed.decode_tok_s(gpu, small, flash_attn=True, calibration=calibration) == (
        pytest.approx(modelled / 2, rel=0.01)
    )
    # The big model stays bandwidth-bound: only the fixed cost per token was added.
    before = speed.decode_seconds(gpu, big, flash_attn=True)
    after = speed.decode_seconds(gpu, big, flash_attn=True, calibration=calibration)
    assert after - before == pytest.approx(extra)

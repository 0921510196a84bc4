"""The speed model: its shape, its accuracy on the published table, bands, calibration here."""

from __future__ import annotations

import statistics
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from catalog.loader import load_catalog
from localctl import speed
from localctl.hardware import load_profile
from localctl.plan import plan as make_plan
from localctl.request import PlanRequest
from localctl.shape import shape_for_quant

if TYPE_CHECKING:
    from localctl.hardware import Hardware
    from localctl.plan import MemoryPlan

DATA = Path(__file__).resolve().parents[1] / "bench" / "speed_data"
CATALOG = load_catalog(DATA / "catalog.toml")


def profile(name: str) -> Hardware:
    return load_profile(str(DATA / "hardware" / f"{name}.toml"))


def plan(ref: str, hw: Hardware, ctx: int = 512) -> MemoryPlan:
    model, quant = CATALOG.resolve(ref)
    return make_plan(
        shape_for_quant(model, quant.name), hw, PlanRequest(ctx=ctx, backend="llama-server")
    )


def bandwidth_share(ref: str, hw: Hardware) -> float:
    model, quant = CATALOG.resolve(ref)
    result = make_plan(shape_for_quant(model, quant.name), hw, PlanRequest(ctx=512))
    return result.predicted_tok_s_short * quant.size_bytes / hw.gpus[0].bandwidth_bytes_s


def test_share_of_bandwidth_rises_with_model_size() -> None:
    # A fixed cost per token: small models reach a smaller share of the bandwidth.
    hw = profile("x-rtx4090")
    small = bandwidth_share("tinyllama-1.1b:Q4_0", hw)
    medium = bandwidth_share("llama-3-8b-x:Q4_K_M", hw)
    large = bandwidth_share("llama-3-8b-x:F16", hw)
    assert small < medium < large < 1.0
    assert small < 0.6 and large > 0.7


def test_hbm_gpus_reach_a_lower_share_than_gddr() -> None:
    assert bandwidth_share("llama-3-8b-x:Q4_K_M", profile("x-a100-sxm")) < 0.7 * bandwidth_share(
        "llama-3-8b-x:Q4_K_M", profile("x-rtx4090")
    )


def test_a_slow_host_slows_a_small_model_on_the_same_gpu() -> None:
    desktop = profile("g-265k-4090")
    pi = replace(desktop, cpu_name="Raspberry Pi CM5 (Cortex-A76)", physical_cores=4)
    fast = plan("llama-3.2-3b-x:Q4_K_M", desktop).predicted_tok_s_short
    slow = plan("llama-3.2-3b-x:Q4_K_M", pi).predicted_tok_s_short
    assert slow < 0.85 * fast


def test_cpu_speed_follows_core_type_and_memory() -> None:
    zen = replace(profile("g-n150"), cpu_name="AMD Ryzen 9 7950X", physical_cores=4)
    n150 = profile("g-n150")
    ref = "llama-3-8b-x:Q4_K_M"
    assert plan(ref, zen).predicted_tok_s > 1.5 * plan(ref, n150).predicted_tok_s
    # More channels help only once the cores can use them.
    wide = replace(zen, physical_cores=16, ram_bandwidth_bytes_s=4 * zen.ram_bandwidth_bytes_s)
    assert plan(ref, wide).predicted_tok_s > 1.5 * plan(ref, zen).predicted_tok_s


def test_context_costs_more_on_metal_than_cuda_and_less_with_flash_attention() -> None:
    work = speed.DecodeWork(gpu_bytes=4e9, cpu_bytes=0, gpu_kv_bytes=1e9)
    cuda, metal = profile("x-rtx3090"), profile("x-m3max-64")
    assert speed.kv_cost(metal, on_gpu=True, flash_attn=False) > speed.kv_cost(
        cuda, on_gpu=True, flash_attn=False
    )
    slow = speed.decode_seconds(cuda, work, flash_attn=False)
    assert speed.decode_seconds(cuda, work, flash_attn=True) < slow


def test_prompt_speed_is_compute_bound_and_ttft_grows_with_the_prompt() -> None:
    gpu, cpu = profile("x-rtx4090"), profile("g-n150")
    on_gpu = plan("llama-3-8b-x:Q4_K_M", gpu, ctx=8192)
    on_cpu = plan("llama-3-8b-x:Q4_K_M", cpu, ctx=8192)
    assert on_gpu.predicted_prompt_tok_s > 50 * on_cpu.predicted_prompt_tok_s
    assert on_cpu.ttft_prompt_tokens == 4096
    assert on_cpu.predicted_ttft_s > 60 > on_gpu.predicted_ttft_s
    short = plan("llama-3-8b-x:Q4_K_M", cpu, ctx=1024)
    assert short.predicted_ttft_s < on_cpu.predicted_ttft_s


def test_every_prediction_carries_a_band_around_it() -> None:
    result = plan("llama-3-8b-x:Q4_K_M", profile("x-m3max-64"), ctx=4096)
    low, high = result.predicted_tok_s_range
    assert low < result.predicted_tok_s < high
    assert result.speed_basis == "model"


def test_m1_pro_16gb_runs_a_12_5_gib_f16_model_fully_on_metal() -> None:
    # recommendedMaxWorkingSetSize (2/3 of 16 GiB) is below the model; llama.cpp ran it on
    # Metal anyway (calibration row: 12.75 tok/s).
    result = plan("llama-7b:F16", profile("x-m1pro-16"))
    assert result.placement == "gpu"
    assert "recommended working set" in result.reason
    assert 9 < result.predicted_tok_s_short < 16


def test_published_table_accuracy_meets_the_targets() -> None:
    from bench.fit_speed import evaluate, load_rows, summary

    rows, _ = load_rows()
    evaluate(rows, "fit")
    everything = summary(rows, "fit")
    assert everything["median_abs"] <= 0.10 and everything["within20"] >= 0.8
    families = {r.family for r in rows}
    for family in families:
        biased = summary([r for r in rows if r.family == family], "fit")
        assert abs(biased["bias"]) <= 0.15, family
    small = [abs(r.predicted["fit"] / r.tg - 1) for r in rows if r.size_gb < 2.5 and r.tg]
    assert statistics.median(small) <= 0.25
    assert summary(rows, "fit", prompt=True)["median_abs"] <= 0.25


def gpu16() -> Hardware:
    return replace(
        profile("g-265k-4090"),
        gpus=(replace(profile("g-265k-4090").gpus[0], total_bytes=16 << 30, free_bytes=16 << 30),),
    )


def test_moe_experts_stay_in_ram_when_that_beats_layer_offload() -> None:
    from localctl.commands.models import load_user_catalog

    model, quant = load_user_catalog().resolve("qwen3-30b-a3b:Q4_K_M")
    shape = shape_for_quant(model, quant.name)
    native = make_plan(shape, gpu16(), PlanRequest(ctx=8192, backend="llama-server"))
    assert native.placement == "partial" and native.gpu_layers == native.n_layers
    assert 0 < native.cpu_moe_layers < native.n_layers
    assert native.verdict() == f"partial experts {native.cpu_moe_layers}/{native.n_layers}"
    assert "--n-cpu-moe" in native.reason
    # llama-cpp-python has no expert offload: plain layer offload, slower.
    layered = make_plan(shape, gpu16(), PlanRequest(ctx=8192, backend="llama-cpp-python"))
    assert layered.cpu_moe_layers == 0 and layered.gpu_layers < layered.n_layers
    assert native.predicted_tok_s > layered.predicted_tok_s
    # Where everything fits, nothing is kept in RAM.
    full = make_plan(shape, profile("g-265k-4090"), PlanRequest(ctx=8192, backend="llama-server"))
    assert full.placement == "gpu" and full.cpu_moe_layers == 0


def test_serve_passes_the_planned_expert_offload_to_llama_server(tmp_path: Path) -> None:
    from localctl.backends import backend_argv
    from localctl.commands.models import load_user_catalog
    from localctl.config import load_config
    from localctl.session import LaunchOverrides, launch_options

    model, quant = load_user_catalog().resolve("qwen3-30b-a3b:Q4_K_M")
    plan = make_plan(
        shape_for_quant(model, quant.name), gpu16(), PlanRequest(ctx=8192, backend="llama-server")
    )
    binary = tmp_path / "llama-server"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    config = load_config()
    options = launch_options(tmp_path / "m.gguf", "m", plan, config, None)
    options = replace(options, llama_server_path=str(binary))
    argv = backend_argv("llama-server", options, "127.0.0.1", 8080)
    assert argv[argv.index("--n-cpu-moe") + 1] == str(plan.cpu_moe_layers)
    # A hand-set GPU layer count replaces the plan's placement, experts included.
    manual = launch_options(
        tmp_path / "m.gguf", "m", plan, config, None, LaunchOverrides(gpu_layers=10)
    )
    assert manual.cpu_moe_layers == 0


def test_a_discrete_gpu_keeps_llamacpp_fit_margin_free() -> None:
    from localctl.plan import fit_margin

    assert fit_margin(24 << 30) == 1 << 30
    assert fit_margin(4 << 30) == 512 << 20


def test_a_model_that_fits_whole_is_offloaded_whole_and_a_split_keeps_the_margin() -> None:
    # llama-bench ran the 15 GiB F16 8B fully on a 16 GB RTX 4080 (40.6 tok/s).
    whole = plan("llama-3-8b-x:F16", profile("x-rtx4080"))
    assert whole.placement == "gpu"
    # Too big to fit whole: the layers placed leave llama.cpp --fit's 1 GiB free.
    split = plan("llama-3-70b-x:Q4_K_M", profile("x-rtx4080"))
    assert split.placement == "partial"
    assert split.gpu_bytes <= profile("x-rtx4080").vram_free_bytes - (1 << 30)


def test_a_cpu_pays_for_context_per_attention_head_not_per_kv_byte() -> None:
    # Measured here (bench/speed_data/here.tsv): SmolLM2 (30 blocks x 9 heads) falls from
    # 87 to 35 tok/s between 4 and 2,048 cached tokens; Gemma 3 270M (18 x 4 heads, five
    # blocks in six on a 512-token window) only from 44.5 to 37.4, though its KV row is
    # nearly as large.
    hw = profile("g-epyc-vm-2c")
    smol = plan("smollm2-135m:Q4_1", hw, ctx=2048 + 64)
    gemma = plan("gemma-3-270m:Q4_K_M", hw, ctx=2048 + 64)
    assert smol.predicted_tok_s < 0.55 * smol.predicted_tok_s_short
    assert gemma.predicted_tok_s > 0.8 * gemma.predicted_tok_s_short


def test_a_cpu_step_costs_per_block_so_fewer_bigger_blocks_stream_faster() -> None:
    hw = profile("g-epyc-vm-2c")
    smol, gemma = plan("smollm2-135m:Q4_1", hw), plan("gemma-3-270m:Q4_K_M", hw)
    smol_bytes = CATALOG.resolve("smollm2-135m:Q4_1")[1].size_bytes
    gemma_bytes = CATALOG.resolve("gemma-3-270m:Q4_K_M")[1].size_bytes
    # Gemma reads 2.6x the bytes in 18 blocks against 30: it decodes at about half the rate.
    ratio = gemma.predicted_tok_s_short / smol.predicted_tok_s_short
    assert smol_bytes / gemma_bytes < ratio < 0.6


def test_calibrated_on_one_model_here_the_others_stay_within_20_percent() -> None:
    """What `localctl bench` on the test model does for every other row measured here."""
    from bench.fit_speed import load_rows, predict_decode

    rows, _ = load_rows(("here",))
    anchor = next(r for r in rows if r.ref == "smollm2-135m:Q4_1" and r.depth == 512)
    scale = anchor.tg / predict_decode(anchor)
    errors = {f"{r.ref}@{r.depth}": predict_decode(r) * scale / r.tg - 1 for r in rows}
    assert len(errors) >= 10
    assert all(abs(e) <= 0.2 for e in errors.values()), errors


def test_a_prompt_does_not_pay_for_the_output_head() -> None:
    # A prompt computes logits for its last token only: Gemma 3 270M's 168M-parameter
    # tied head is not prompt work, its 100M block parameters are.
    model, quant = CATALOG.resolve("gemma-3-270m:Q4_K_M")
    shape = shape_for_quant(model, quant.name)
    assert 90e6 < shape.active_params < 110e6

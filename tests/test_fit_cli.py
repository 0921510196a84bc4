"""`localctl fit` / `localctl models` and the placement rules of the fit plan."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from catalog.schema import ArchSpec, ModelSpec, QuantSpec
from localctl.cli import main
from localctl.hardware import load_profile
from localctl.plan import plan as make_plan
from localctl.request import PlanRequest
from localctl.shape import shape_for_quant, shape_from_file
from tests.fit_helpers import TinyModel, llama_buffers

MIB = 1 << 20
SMOL_KV_2048 = 45 * MIB

LLAMA_70B = ModelSpec(
    id="llama-3.3-70b",
    name="Llama 3.3 70B Instruct",
    family="llama",
    repo="bartowski/Llama-3.3-70B-Instruct-GGUF",
    params=70_553_706_496,
    arch=ArchSpec("llama", 80, 8192, 64, 8, 128, 128, 128256, 131072, n_ff=28672),
    license="llama3.3",
    quants=(
        QuantSpec("Q4_K_M", ("Llama-3.3-70B-Instruct-Q4_K_M.gguf",), 42_520_395_584),
        QuantSpec("Q8_0", ("Llama-3.3-70B-Instruct-Q8_0.gguf",), 74_975_068_256),
    ),
)
DEEPSEEK_V3 = ModelSpec(
    id="deepseek-v3",
    name="DeepSeek V3",
    family="deepseek",
    repo="unsloth/DeepSeek-V3-GGUF",
    params=671_000_000_000,
    active_params=37_000_000_000,
    arch=ArchSpec(
        "deepseek2",
        61,
        7168,
        128,
        128,
        192,
        128,
        129280,
        163840,
        n_ff=2048,
        n_experts=256,
        n_experts_used=8,
        kv_lora_rank=512,
        rope_dim=64,
    ),
    license="deepseek",
    quants=(QuantSpec("Q4_K_M", ("x.gguf",), 404_000_000_000),),
)


def run_cli(*args: str) -> tuple[int, str, str, float]:
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "localctl", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        check=False,
    )
    return result.returncode, result.stdout, result.stderr, time.perf_counter() - start


def test_fit_json_kv_equals_llama_cpp_buffer(smollm2_path: Path) -> None:
    # llama_buffers loads the model in llama-cpp-python: plan for that backend
    code, out, err, _ = run_cli(
        "fit", str(smollm2_path), "--ctx", "2048", "--backend", "llama-cpp-python", "--json"
    )
    assert code == 0, err
    doc = json.loads(out)
    reported = llama_buffers(smollm2_path, 2048, "f16", flash_attn=doc["flash_attn"])
    assert doc["kv_bytes"] == SMOL_KV_2048 == round(reported["kv"] * MIB)
    assert doc["weights_bytes"] / MIB == pytest.approx(reported["model"], rel=0.05)
    assert doc["compute_bytes"] / MIB == pytest.approx(reported["compute"], rel=0.05)
    for key in (
        "weights_bytes",
        "kv_bytes",
        "compute_bytes",
        "overhead_bytes",
        "total_bytes",
        "expected_rss_bytes",
        "backend",
        "placement",
        "gpu_layers",
        "n_layers",
        "ctx",
        "predicted_tok_s",
        "parallel",
        "kv_type",
        "gpu_bytes",
        "cpu_bytes",
        "reason",
        "model",
        "quant",
        "hardware",
    ):
        assert key in doc
    assert doc["total_bytes"] == sum(
        doc[k] for k in ("weights_bytes", "kv_bytes", "compute_bytes", "overhead_bytes")
    )
    assert doc["total_bytes"] == doc["gpu_bytes"] + doc["cpu_bytes"]
    assert (doc["quant"], doc["n_layers"], doc["ctx"]) == ("Q4_1", 30, 2048)
    assert doc["placement"] == "cpu" and doc["predicted_tok_s"] > 0


def test_fit_human_output_and_options(
    smollm2_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["fit", str(smollm2_path), "--ctx", "1000", "--kv-type", "q8_0", "--hw", "rtx4090"])
        == 0
    )
    out = capsys.readouterr().out
    assert "verdict: GPU" in out and "flash attention" in out and "tok/s" in out
    assert main(["fit", str(smollm2_path), "--ctx", "512", "--parallel", "4", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["kv_bytes"] == 4 * round(11.25 * MIB)
    assert doc["n_ctx_alloc"] == 512


def test_partial_offload_on_a_small_gpu(smollm2_path: Path, tmp_path: Path) -> None:
    profile = tmp_path / "tiny-gpu.toml"
    profile.write_text(
        'cpu_name = "Test CPU"\nphysical_cores = 4\nram_gib = 8\nram_bandwidth_gb_s = 50\n'
        '[[gpus]]\nname = "Test GPU"\nvendor = "nvidia"\nvram_gib = 0.7\nbandwidth_gb_s = 400\n'
    )
    hw = load_profile(str(profile))
    plan = make_plan(shape_from_file(smollm2_path), hw, PlanRequest(ctx=2048))
    assert plan.placement == "partial"
    assert 0 < plan.gpu_layers < 30
    assert plan.gpu_bytes <= hw.vram_free_bytes
    bigger = make_plan(
        shape_from_file(smollm2_path), load_profile("rtx4090"), PlanRequest(ctx=2048)
    )
    assert bigger.placement == "gpu" and bigger.gpu_layers == 30
    # The same machine without its GPU is slower (a faster CPU elsewhere may not be:
    # a decode step on the GPU has a fixed cost that a 100 MB model does not amortise).
    cpu = make_plan(shape_from_file(smollm2_path), replace(hw, gpus=()), PlanRequest(ctx=2048))
    assert plan.predicted_tok_s > cpu.predicted_tok_s
    assert bigger.predicted_tok_s > plan.predicted_tok_s


@pytest.mark.parametrize("profile", ["cpu-64", "m3-ultra-192", "rtx4090", "a100-80"])
def test_llama_70b_q4_k_m_at_4096_by_8_totals_50_to_55_gb(profile: str) -> None:
    plan = make_plan(
        shape_for_quant(LLAMA_70B, "Q4_K_M"),
        load_profile(profile),
        PlanRequest(ctx=4096, parallel=8),
    )
    assert 50e9 <= plan.total_bytes <= 55e9, plan
    assert plan.kv_bytes == 10 << 30


def test_llama_70b_q8_0_on_m3_ultra_stays_under_bandwidth_limit() -> None:
    hw = load_profile("m3-ultra-192")
    plan = make_plan(shape_for_quant(LLAMA_70B, "Q8_0"), hw, PlanRequest(ctx=4096))
    assert plan.placement == "gpu"
    limit = hw.gpus[0].bandwidth_bytes_s / 74_975_068_256
    assert 0 < plan.predicted_tok_s < plan.predicted_tok_s_short < limit < 11.0


def test_placements_from_gpu_to_none() -> None:
    assert (
        make_plan(
            shape_for_quant(LLAMA_70B, "Q4_K_M"), load_profile("a100-80"), PlanRequest(ctx=4096)
        ).placement
        == "gpu"
    )
    partial = make_plan(
        shape_for_quant(LLAMA_70B, "Q4_K_M"), load_profile("rtx4090"), PlanRequest(ctx=4096)
    )
    assert partial.placement == "partial" and 20 < partial.gpu_layers < 60
    assert "layers fit" in partial.reason
    none = make_plan(
        shape_for_quant(LLAMA_70B, "Q8_0"), load_profile("laptop-16"), PlanRequest(ctx=4096)
    )
    assert none.placement == "none" and none.verdict() == "won't fit"
    assert none.predicted_tok_s == 0.0


def test_moe_keeps_all_experts_resident_but_reads_only_active_ones() -> None:
    hw = load_profile("cpu-64")
    big = load_profile("h100-80x8")
    mla_arch = dataclasses.replace(
        DEEPSEEK_V3.arch,
        n_kv_heads=1,
        key_length=576,
        value_length=512,
        key_length_mla=192,
        value_length_mla=128,
    )
    mla = dataclasses.replace(DEEPSEEK_V3, arch=mla_arch)
    plan = make_plan(shape_for_quant(mla, "Q4_K_M"), big, PlanRequest(ctx=4096))
    assert plan.weights_bytes >= 404_000_000_000
    assert plan.bytes_per_token < 404_000_000_000 * 0.1
    # MLA: 61 layers x 4096 x 576 values x 2 bytes
    assert plan.kv_bytes == 61 * 4096 * 576 * 2
    assert make_plan(shape_for_quant(mla, "Q4_K_M"), hw, PlanRequest(ctx=4096)).placement == "none"
    # The same model converted before MLA: llama.cpp keeps 128 heads x (192 + 128)
    old = make_plan(shape_for_quant(DEEPSEEK_V3, "Q4_K_M"), big, PlanRequest(ctx=65536))
    assert old.kv_bytes == 305 * (1 << 30)
    assert old.placement != "gpu"


def test_bad_plan_inputs_are_one_line_errors(smollm2_path: Path) -> None:
    code, _, err, _ = run_cli("fit", str(smollm2_path), "--ctx", "0")
    assert code == 2 and err.count("\n") == 1 and err.startswith("localctl: ")
    code, _, err, _ = run_cli("fit", str(smollm2_path), "--hw", "no-such-machine")
    assert code == 2 and err.count("\n") == 1


HOSTILE = {
    "bad-magic.gguf": b"GGML" + TinyModel().build()[4:],
    "truncated.gguf": TinyModel().build()[:150],
    "huge-counts.gguf": b"GGUF" + (3).to_bytes(4, "little") + (1 << 62).to_bytes(8, "little") * 2,
    "empty.gguf": b"",
    "beyond-eof.gguf": TinyModel().build()[:-64],
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_malformed_gguf_via_cli_exits_2_with_one_line(name: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_bytes(HOSTILE[name])
    code, out, err, _ = run_cli("fit", str(path), "--json")  # bench/startup.py times it
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("localctl: ") and "Traceback" not in err


def test_missing_gguf_file(tmp_path: Path) -> None:
    code, _, err, _ = run_cli("fit", str(tmp_path / "nope.gguf"))
    assert code == 2 and "no such GGUF file" in err


def test_catalog_model_fit_and_models_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "fit",
                "llama-3.3-70b:Q4_K_M",
                "--ctx",
                "4096",
                "--parallel",
                "8",
                "--hw",
                "cpu-64",
                "--json",
            ]
        )
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert 50e9 <= doc["total_bytes"] <= 55e9
    assert main(["fit", "llama-3.3-70b:Q4_K_M", "--hw", "m3-ultra-192", "--json"]) == 0
    # 42.5 GB read per token at 70% of 800 GB/s: about 13 tok/s
    assert 10 < json.loads(capsys.readouterr().out)["predicted_tok_s"] < 14
    assert main(["models", "--hw", "m3-ultra-192", "--ctx", "8192", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["models"]
    assert any(r["model"] == "llama-3.3-70b" for r in rows)
    assert all(r["verdict"] for r in rows)
    assert main(["models", "--hw", "rtx4090"]) == 0
    assert "partial" in capsys.readouterr().out


def test_unknown_catalog_model_exits_2() -> None:
    code, _, err, _ = run_cli("fit", "no-such-model:Q4_K_M")
    assert code == 2 and err.count("\n") == 1


class _TwoModelCatalog:
    models = (LLAMA_70B, DEEPSEEK_V3)


def test_models_table_and_json_rows(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from localctl.commands import models

    monkeypatch.setattr(models, "load_user_catalog", _TwoModelCatalog)
    assert main(["models", "--hw", "m3-ultra-192", "--ctx", "8192", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ctx"] == 8192 and doc["hardware"]["profile"] == "m3-ultra-192"
    rows = {(r["model"], r["quant"]): r for r in doc["models"]}
    assert set(rows) == {
        ("llama-3.3-70b", "Q4_K_M"),
        ("llama-3.3-70b", "Q8_0"),
        ("deepseek-v3", "Q4_K_M"),
    }
    assert rows["llama-3.3-70b", "Q8_0"]["verdict"] == "GPU"
    assert rows["deepseek-v3", "Q4_K_M"]["verdict"] == "won't fit"
    assert rows["llama-3.3-70b", "Q4_K_M"]["downloaded"] is False
    assert main(["models", "--hw", "rtx4090"]) == 0
    out = capsys.readouterr().out
    assert "partial" in out and "won't fit" in out and "llama-3.3-70b" in out


def test_top_level_hw_and_ctx_apply_to_the_verb(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--hw", "rtx4090", "--ctx", "8192", "fit", "llama-3.3-70b:Q4_K_M", "--json"]) == 0
    before = json.loads(capsys.readouterr().out)
    assert main(["fit", "llama-3.3-70b:Q4_K_M", "--hw", "rtx4090", "--ctx", "8192", "--json"]) == 0
    after = json.loads(capsys.readouterr().out)
    assert before == after
    assert before["ctx"] == 8192 and before["hardware"]["profile"] == "rtx4090"


def test_top_level_hw_on_a_verb_without_it_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--hw", "rtx4090", "chats", "list"])
    assert exit_info.value.code == 2
    assert "--hw does not apply to 'chats'" in capsys.readouterr().err


def test_fit_warns_where_the_plan_cannot_model_the_memory(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from catalog.memory import unmodelled_memory

    assert "recurrent state" in unmodelled_memory("mamba2")
    assert unmodelled_memory("llama") == ""
    assert main(["fit", "qwen3-next-80b-a3b", "--hw", "cpu-64", "--json"]) == 0
    assert "recurrent state" in json.loads(capsys.readouterr().out)["memory_caveat"]
    assert main(["fit", "qwen3-8b", "--hw", "cpu-64", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["memory_caveat"] is None
    assert main(["fit", "qwen3-next-80b-a3b", "--hw", "cpu-64"]) == 0
    assert "caution: hybrid" in capsys.readouterr().out

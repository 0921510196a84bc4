"""Backend-aware plans: compute buffer and expected RSS against real servers of both backends."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from catalog import memory
from localctl.errors import BadInputError
from localctl.hardware import load_profile
from localctl.plan import BACKEND_BASELINE_BYTES
from localctl.plan import plan as make_plan
from localctl.request import PlanRequest
from localctl.server import ModelServer, ServerOptions, free_port
from localctl.shape import shape_for_quant, shape_from_file
from tests.test_fit_cli import LLAMA_70B
from tests.test_memory import SMOL

MIB = 1 << 20
BUFFER_TOLERANCE = 0.05
RSS_TOLERANCE = 0.10


@pytest.mark.parametrize(("ctx", "mib"), [(512, 14.0), (2048, 15.5), (8192, 21.5)])
def test_native_server_compute_buffer_is_the_feed_forward_peak(ctx: int, mib: float) -> None:
    # llama-server: flash attention (auto) and one output per sequence; the
    # figures are its CPU "compute buffer size" for SmolLM2.
    estimate = memory.compute_estimate(SMOL, ctx, flash_attn=True, n_outputs=1)
    assert estimate.total_bytes == estimate.feed_forward_bytes == round(mib * MIB)


def test_backends_differ_in_compute_flash_attention_and_baseline(smollm2_path: Path) -> None:
    hw = load_profile("cpu-64")
    python = make_plan(shape_from_file(smollm2_path), hw, PlanRequest(ctx=2048))
    native = make_plan(
        shape_from_file(smollm2_path), hw, PlanRequest(ctx=2048, backend="llama-server")
    )
    assert (python.backend, native.backend) == ("llama-cpp-python", "llama-server")
    assert not python.flash_attn and native.flash_attn
    assert native.compute_bytes < python.compute_bytes / 5
    assert (python.weights_bytes, python.kv_bytes) == (native.weights_bytes, native.kv_bytes)
    for plan in (python, native):
        baseline = BACKEND_BASELINE_BYTES[plan.backend]
        assert plan.overhead_bytes == baseline
        assert plan.expected_rss_bytes == plan.weights_bytes + plan.kv_bytes + baseline
        assert plan.total_bytes == plan.expected_rss_bytes + plan.compute_bytes


def test_expected_rss_counts_only_what_stays_in_ram() -> None:
    gpu = make_plan(
        shape_for_quant(LLAMA_70B, "Q4_K_M"), load_profile("a100-80"), PlanRequest(ctx=4096)
    )
    assert gpu.placement == "gpu"
    assert gpu.expected_rss_bytes < 2 << 30  # the token embedding and the process
    partial = make_plan(
        shape_for_quant(LLAMA_70B, "Q4_K_M"), load_profile("rtx4090"), PlanRequest(ctx=4096)
    )
    assert partial.placement == "partial"
    assert gpu.expected_rss_bytes < partial.expected_rss_bytes < partial.cpu_bytes


def test_unknown_backend_is_refused(smollm2_path: Path) -> None:
    with pytest.raises(BadInputError, match="unknown backend"):
        make_plan(
            shape_from_file(smollm2_path),
            load_profile("cpu-64"),
            PlanRequest(ctx=512, backend="vllm"),
        )  # type: ignore[arg-type]


def _check_against_server(server: ModelServer, path: Path, ctx: int) -> None:
    backend = "llama-server" if server.backend == "llama-server" else "llama-cpp-python"
    plan = make_plan(
        shape_from_file(path), load_profile("cpu-64"), PlanRequest(ctx=ctx, backend=backend)
    )
    server.start_sync(timeout_s=120)
    try:
        got = server.buffers
        rss = server.measure()["rss_bytes"]
    finally:
        server.stop_sync()
    assert plan.kv_bytes == got.kv_bytes
    assert plan.weights_bytes == pytest.approx(got.model_bytes, rel=BUFFER_TOLERANCE)
    assert plan.compute_bytes == pytest.approx(got.compute_bytes, rel=BUFFER_TOLERANCE)
    assert plan.expected_rss_bytes == pytest.approx(rss, rel=RSS_TOLERANCE)


def _options(path: Path, backend: str, ctx: int, tmp_path: Path, exe: str = "") -> ServerOptions:
    return ServerOptions(
        model_path=path,
        model_name="smollm2",
        backend=backend,
        port=free_port("127.0.0.1"),
        ctx=ctx,
        threads=os.cpu_count() or 1,
        llama_server_path=exe,
        log_dir=tmp_path / "logs",
    )


@pytest.mark.slow
def test_llama_cpp_python_buffers_and_rss_match_the_plan(
    smollm2_path: Path, tmp_path: Path
) -> None:
    server = ModelServer(_options(smollm2_path, "llama-cpp-python", 512, tmp_path))
    _check_against_server(server, smollm2_path, 512)


@pytest.mark.slow
@pytest.mark.native
def test_native_server_buffers_and_rss_match_the_plan(
    smollm2_path: Path,
    native_llama_server: Path,
    tmp_path: Path,
) -> None:
    options = _options(smollm2_path, "llama-server", 2048, tmp_path, str(native_llama_server))
    _check_against_server(ModelServer(options), smollm2_path, 2048)

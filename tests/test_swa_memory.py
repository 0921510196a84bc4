"""The plan against llama.cpp's own buffers on a real sliding-window model (Gemma 3 270M).

Gemma 3 puts five of every six layers on a 512-token window. llama-cpp-python
allocates those layers at full size (``llama_context_default_params`` sets
``swa_full``); the native ``llama-server`` keeps ``window + n_ubatch`` cells. On
an AVX2 CPU llama.cpp also keeps a repacked copy of the Q4_K matrices beside
the mapped file. Each is checked at three contexts on both backends.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from catalog.gguf import read_gguf
from localctl.hardware import resolve_hardware
from localctl.plan import Backend, cpu_repack_kind
from localctl.plan import plan as make_plan
from localctl.request import PlanRequest
from localctl.server import ModelServer, ServerOptions, free_port
from localctl.shape import shape_from_file

pytestmark = pytest.mark.slow  # every test here reads the 253 MB Gemma 3 file

MIB = 1 << 20
TOLERANCE = 0.05
CONTEXTS = (2048, 8192, 32768)


def test_gemma3_header_gives_the_window_and_tied_embeddings(gemma3_path: Path) -> None:
    arch = read_gguf(gemma3_path).arch
    assert (arch.architecture, arch.n_layers, arch.sliding_window, arch.swa_pattern) == (
        "gemma3",
        18,
        512,
        6,
    )
    assert arch.tied_embeddings and (arch.n_kv_heads, arch.key_length) == (1, 256)


@pytest.mark.parametrize(
    ("backend", "ctx", "kv_mib"),
    [
        # llama.cpp's "KV buffer size" lines, summed: 3 full layers + 15 SWA layers of 1 KiB a cell
        ("llama-cpp-python", 2048, 6 + 30),
        ("llama-cpp-python", 8192, 24 + 120),
        ("llama-cpp-python", 32768, 96 + 480),
        ("llama-server", 2048, 6 + 15),
        ("llama-server", 8192, 24 + 15),
        ("llama-server", 32768, 96 + 15),
    ],
)
def test_sliding_window_cache_follows_the_backend(
    gemma3_path: Path, backend: Backend, ctx: int, kv_mib: int
) -> None:
    plan = make_plan(
        shape_from_file(gemma3_path), resolve_hardware(None), PlanRequest(ctx=ctx, backend=backend)
    )
    assert plan.kv_bytes == kv_mib * MIB


def test_repacked_q4_k_copy_is_counted_on_an_avx2_cpu(gemma3_path: Path) -> None:
    hw = resolve_hardware(None)
    plan = make_plan(shape_from_file(gemma3_path), hw, PlanRequest(ctx=2048))
    stored = read_gguf(gemma3_path).tensor_bytes
    if cpu_repack_kind(hw).startswith("x86"):
        # CPU_Mapped 235.16 MiB + CPU_REPACK 12.66 MiB in llama.cpp's log
        assert plan.weights_bytes - stored == round(12.65625 * MIB)
    else:
        assert plan.weights_bytes >= stored


def _buffers(path: Path, backend: str, ctx: int, tmp_path: Path, exe: str = "") -> ModelServer:
    options = ServerOptions(
        model_path=path,
        model_name="gemma3",
        backend=backend,
        port=free_port("127.0.0.1"),
        ctx=ctx,
        threads=os.cpu_count() or 1,
        llama_server_path=exe,
        log_dir=tmp_path / f"logs-{backend}-{ctx}",
    )
    server = ModelServer(options)
    server.start_sync(timeout_s=180)
    server.stop_sync()
    return server


def _assert_close(path: Path, server: ModelServer, backend: Backend, ctx: int) -> None:
    plan = make_plan(
        shape_from_file(path), resolve_hardware(None), PlanRequest(ctx=ctx, backend=backend)
    )
    got = server.buffers
    measured = {"weights": got.model_bytes, "kv": got.kv_bytes, "compute": got.compute_bytes}
    planned = {"weights": plan.weights_bytes, "kv": plan.kv_bytes, "compute": plan.compute_bytes}
    for part, value in measured.items():
        assert planned[part] == pytest.approx(value, rel=TOLERANCE), (
            f"{backend} ctx {ctx} {part}: plan {planned[part] / MIB:.2f} MiB, "
            f"llama.cpp {value / MIB:.2f} MiB"
        )


@pytest.mark.slow
@pytest.mark.parametrize("ctx", CONTEXTS)
def test_llama_cpp_python_buffers_match_the_plan_on_gemma3(
    gemma3_path: Path, tmp_path: Path, ctx: int
) -> None:
    server = _buffers(gemma3_path, "llama-cpp-python", ctx, tmp_path)
    _assert_close(gemma3_path, server, "llama-cpp-python", ctx)


@pytest.mark.slow
@pytest.mark.native
@pytest.mark.parametrize("ctx", CONTEXTS)
def test_native_server_buffers_match_the_plan_on_gemma3(
    gemma3_path: Path,
    native_llama_server: Path,
    tmp_path: Path,
    ctx: int,
) -> None:
    server = _buffers(gemma3_path, "llama-server", ctx, tmp_path, str(native_llama_server))
    _assert_close(gemma3_path, server, "llama-server", ctx)


_WINDOWED = """
import sys
from llama_cpp import Llama
Llama(model_path=sys.argv[1], n_ctx=int(sys.argv[2]), n_threads=1, verbose=True,
      flash_attn=True, swa_full=False)
"""


@pytest.mark.slow
@pytest.mark.parametrize("ctx", CONTEXTS)
def test_windowed_cache_is_what_llama_cpp_allocates_without_swa_full(
    gemma3_path: Path, ctx: int
) -> None:
    # The same library with llama-server's setting (swa_full off): the SWA layers
    # keep 1024 cells (512 window + 512 batch) at every context.
    result = subprocess.run(
        [sys.executable, "-c", _WINDOWED, str(gemma3_path), str(ctx)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    sizes = re.findall(r"KV buffer size =\s+([\d.]+) MiB", result.stderr)
    assert len(sizes) == 2, result.stderr[-2000:]
    measured = sum(float(size) for size in sizes) * MIB
    plan = make_plan(
        shape_from_file(gemma3_path),
        resolve_hardware(None),
        PlanRequest(ctx=ctx, backend="llama-server"),
    )
    assert plan.kv_bytes == measured

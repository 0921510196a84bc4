"""PlanRequest: one place decides the plan's inputs and backend; fit and models take them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from catalog.loader import load_catalog
from localctl import native
from localctl.cli import main
from localctl.config import Config, ServerConfig
from localctl.errors import BadInputError
from localctl.hardware import load_profile
from localctl.plan import plan
from localctl.request import PlanRequest
from localctl.shape import ModelShape, shape_for_quant


def llama_70b() -> ModelShape:
    model, quant = load_catalog(None).resolve("llama-3.3-70b:Q4_K_M")
    return shape_for_quant(model, quant.name)


@pytest.fixture
def native_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ``llama-server`` executable on hand (never run: planning only looks for it)."""
    binary = tmp_path / "bin" / "llama-server"
    binary.parent.mkdir()
    binary.write_text("#!/bin/sh\nexit 1\n")
    binary.chmod(0o755)
    monkeypatch.setenv("LOCALCTL_LLAMA_SERVER", str(binary))
    return binary


@pytest.fixture
def no_native(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``llama-server`` anywhere localctl looks."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("LOCALCTL_LLAMA_SERVER", "")
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(native, "installed_binary", lambda: empty / "llama-server")


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run a verb in this process (so the stand-ins of the fixtures hold)."""

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def test_auto_plans_for_the_native_server_when_one_is_found(native_found: Path) -> None:
    request = PlanRequest.from_config(Config())
    assert request.backend == "llama-server"
    assert request.uses_flash_attn


def test_auto_plans_for_llama_cpp_python_without_a_native_server(no_native: None) -> None:
    request = PlanRequest.from_config(Config())
    assert request.backend == "llama-cpp-python"
    assert not request.uses_flash_attn


def test_from_config_takes_the_configured_defaults_and_flags_win(no_native: None) -> None:
    config = Config(default_ctx=8192, kv_type="q8_0", parallel=3)
    request = PlanRequest.from_config(config)
    assert (request.ctx, request.parallel, request.kv_type) == (8192, 3, "q8_0")
    assert request.uses_flash_attn  # a quantized KV cache needs it
    given = PlanRequest.from_config(config, ctx=512, parallel=1, kv_type="f16", flash_attn="on")
    assert (given.ctx, given.parallel, given.kv_type, given.flash_attn) == (512, 1, "f16", "on")


def test_a_named_native_backend_is_planned_even_where_it_is_not_installed(
    no_native: None,
) -> None:
    config = Config(server=ServerConfig(backend="llama-server"))
    assert PlanRequest.from_config(config).backend == "llama-server"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"ctx": 0}, "context 0 is out of range"),
        ({"ctx": 4096, "parallel": 0}, "parallel 0 is out of range"),
        ({"ctx": 4096, "kv_type": "q5_9"}, "unknown KV type"),
        ({"ctx": 4096, "backend": "vllm"}, "unknown backend"),
        ({"ctx": 4096, "flash_attn": "maybe"}, "unknown flash attention"),
        ({"ctx": 4096, "kv_type": "q4_0", "flash_attn": "off"}, "needs flash attention"),
    ],
)
def test_bad_requests_are_refused_in_one_line(values: dict[str, object], message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        PlanRequest(**values)  # type: ignore[arg-type]


def test_the_plan_carries_its_request() -> None:
    request = PlanRequest(ctx=4096, parallel=2, kv_type="q8_0", backend="llama-server")
    result = plan(llama_70b(), load_profile("rtx4090"), request)
    assert result.request == request
    assert (result.ctx, result.parallel, result.kv_type, result.backend) == (
        4096,
        2,
        "q8_0",
        "llama-server",
    )
    assert result.flash_attn


def test_flash_attention_off_costs_compute_memory() -> None:
    shape = llama_70b()
    hw = load_profile("rtx4090")
    on = plan(shape, hw, PlanRequest(ctx=8192, flash_attn="on"))
    off = plan(shape, hw, PlanRequest(ctx=8192, flash_attn="off"))
    assert on.flash_attn and not off.flash_attn
    assert off.compute_bytes > on.compute_bytes
    assert off.kv_bytes == on.kv_bytes and off.weights_bytes == on.weights_bytes


def test_fit_and_models_take_backend_and_flash_attention(
    no_native: None, run_cli: Callable[..., tuple[int, str, str]]
) -> None:
    ref = "llama-3.3-70b:Q4_K_M"
    code, out, err = run_cli(
        "fit", ref, "--hw", "rtx4090", "--ctx", "8192", "--backend", "llama-server", "--json"
    )
    assert code == 0, err
    fit = json.loads(out)
    assert (fit["backend"], fit["flash_attn"]) == ("llama-server", True)
    code, out, err = run_cli(
        "models", "--hw", "rtx4090", "--ctx", "8192", "--backend", "llama-server", "--json"
    )
    assert code == 0, err
    rows = {f"{r['model']}:{r['quant']}": r for r in json.loads(out)["models"]}
    assert rows[ref]["compute_bytes"] == fit["compute_bytes"]
    assert rows[ref]["backend"] == "llama-server"
    code, out, err = run_cli(
        "fit", ref, "--hw", "rtx4090", "--ctx", "8192", "--flash-attn", "off", "--json"
    )
    assert code == 0, err
    off = json.loads(out)
    assert (off["backend"], off["flash_attn"]) == ("llama-cpp-python", False)
    assert off["compute_bytes"] > fit["compute_bytes"]


def test_fit_refuses_flash_attention_off_with_a_quantized_cache(
    run_cli: Callable[..., tuple[int, str, str]],
) -> None:
    code, out, err = run_cli(
        "fit", "llama-3.3-70b:Q4_K_M", "--hw", "rtx4090", "--kv-type", "q8_0", "--flash-attn", "off"
    )
    assert code == 2 and out == ""
    assert err.startswith("localctl: ") and "needs flash attention" in err
    assert err.count("\n") == 1

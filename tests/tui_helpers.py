"""Sample values and a harness app for the TUI tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual.app import App, ComposeResult
from textual.message import Message
from textual.widget import Widget

from catalog.schema import ArchSpec, ModelSpec, QuantSpec
from localctl.hardware import Gpu, Hardware
from localctl.library import CatalogRow
from localctl.plan import MemoryPlan
from localctl.request import PlanRequest

if TYPE_CHECKING:
    from textual.pilot import Pilot

    from tui.app import LocalctlApp

GIB = 1024**3


async def wait_for(pilot: Pilot[int], condition: Callable[[], bool], timeout_s: float = 20) -> None:
    """Let the app run until ``condition()`` holds; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.05)


def planned(app: LocalctlApp) -> bool:
    """Every catalog row is planned for the context shown."""
    screen = app.catalog_screen
    return bool(screen.all_rows) and screen.planned_ctx == screen.ctx


ARCH = ArchSpec(
    architecture="llama",
    n_layers=32,
    n_embd=4096,
    n_heads=32,
    n_kv_heads=8,
    key_length=128,
    value_length=128,
    n_vocab=128256,
    ctx_train=131072,
)


def model(model_id: str = "llama-3.1-8b", family: str = "llama", quants: int = 2) -> ModelSpec:
    names = ("Q4_K_M", "Q8_0", "F16")[:quants]
    return ModelSpec(
        id=model_id,
        name=model_id.title(),
        family=family,
        repo=f"example/{model_id}-GGUF",
        params=8_000_000_000,
        arch=ARCH,
        license="llama3.1",
        quants=tuple(
            QuantSpec(name=n, files=(f"{model_id}-{n}.gguf",), size_bytes=(i + 1) * 5 * GIB)
            for i, n in enumerate(names)
        ),
        notes="[bold]not markup[/bold]",
    )


def plan(placement: str = "gpu", **overrides: Any) -> MemoryPlan:
    values: dict[str, Any] = {
        "weights_bytes": 5 * GIB,
        "kv_bytes": 1 * GIB,
        "compute_bytes": GIB // 2,
        "overhead_bytes": GIB // 4,
        "total_bytes": 5 * GIB + GIB + GIB // 2 + GIB // 4,
        "placement": placement,
        "gpu_layers": {"gpu": 32, "partial": 20, "cpu": 0, "none": 0}[placement],
        "n_layers": 32,
        "request": PlanRequest(ctx=4096),
        "predicted_tok_s": 42.5,
        "predicted_tok_s_short": 51.0,
        "predicted_tok_s_range": (35.0, 48.0),
        "predicted_prompt_tok_s": 1234.0,
        "predicted_ttft_s": 3.2,
        "ttft_prompt_tokens": 4096,
        "gpu_bytes": 4 * GIB if placement in ("gpu", "partial") else 0,
        "cpu_bytes": 2 * GIB,
        "reason": "",
    }
    asked = {
        k: overrides.pop(k) for k in ("ctx", "parallel", "kv_type", "backend") if k in overrides
    }
    if asked:
        values["request"] = PlanRequest(**{"ctx": 4096, **asked})
    values.update(overrides)
    return MemoryPlan(**values)


def hardware(gpu: bool = True) -> Hardware:
    gpus = (Gpu(0, "RTX Test", "nvidia", 8 * GIB, 7 * GIB, 900e9),) if gpu else ()
    return Hardware(
        cpu_name="Test CPU",
        physical_cores=8,
        logical_cores=16,
        ram_total_bytes=32 * GIB,
        ram_available_bytes=24 * GIB,
        ram_bandwidth_bytes_s=60e9,
        gpus=gpus,
    )


def rows() -> list[CatalogRow]:
    a, b = model("llama-3.1-8b"), model("qwen2.5-7b", family="qwen")
    return [
        CatalogRow(a, a.quants[0], "good", plan("gpu")),
        CatalogRow(a, a.quants[1], "near lossless", plan("partial")),
        CatalogRow(b, b.quants[0], "good", plan("cpu", predicted_tok_s=7.0)),
        CatalogRow(b, b.quants[1], "", plan("none", predicted_tok_s=0.0)),
    ]


class Harness(App[None]):
    """Mounts one widget (with the app's stylesheet) for widget tests."""

    CSS_PATH = "../tui/app.tcss"

    def __init__(self, widget: Widget) -> None:
        super().__init__()
        self.widget = widget
        self.messages: list[Any] = []

    def compose(self) -> ComposeResult:
        yield self.widget

    async def _on_message(self, message: Message) -> None:
        self.messages.append(message)  # every message that reaches the app, in order
        await super()._on_message(message)

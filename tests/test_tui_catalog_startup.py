"""The catalog is planned with what is known first; the bandwidth probe and the scan of the
model folders run after it on the worker and only re-plan what they change."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import localctl.hardware.detect
import localctl.inventory
import localctl.library
from localctl.config import Config
from tests.tui_flow import wait_until
from tests.tui_helpers import model
from tui.app import make_app

PROBED_BANDWIDTH = 123e9


@pytest.fixture
def gates(monkeypatch: pytest.MonkeyPatch) -> dict[str, threading.Event]:
    """The probe and the scan wait for their gate, so they finish only when the test says."""
    monkeypatch.setattr(localctl.library, "load_models", lambda: [model("llama-3.1-8b")])
    opened = {"probe": threading.Event(), "scan": threading.Event()}
    started = {"probe": threading.Event(), "scan": threading.Event()}
    real_bandwidth = localctl.hardware.detect.ram_bandwidth

    def probe(cpu_name: str, *, measure: bool = True, **kwargs: Any) -> Any:
        if not measure:
            return real_bandwidth(cpu_name, measure=False, **kwargs)
        started["probe"].set()
        opened["probe"].wait(60)
        return PROBED_BANDWIDTH, "measured", []

    def scan(folders: Any, **options: Any) -> list[Any]:
        started["scan"].set()
        opened["scan"].wait(60)
        return []

    monkeypatch.setattr(localctl.hardware.detect, "ram_bandwidth", probe)
    monkeypatch.setattr(localctl.inventory, "scan_local_ggufs", scan)
    yield {**{f"{k}_started": v for k, v in started.items()}, **opened}
    for gate in opened.values():
        gate.set()


async def test_rows_are_planned_before_the_probe_and_the_scan_finish(gates):
    app = make_app(hw_profile=None, config=Config())
    async with app.run_test(size=(140, 42)) as pilot:
        try:
            catalog = app.catalog_screen
            await wait_until(pilot, lambda: catalog.planned_ctx > 0, 20, "first plan")
            assert catalog.all_rows and all(row.plan is not None for row in catalog.all_rows)
            assert not gates["probe"].is_set() and not gates["scan"].is_set()
            first_bandwidth = catalog.hardware.ram_bandwidth_bytes_s if catalog.hardware else 0
            assert first_bandwidth != PROBED_BANDWIDTH
            first_plans = [row.plan for row in catalog.all_rows]

            gates["probe"].set()
            gates["scan"].set()
            await wait_until(
                pilot,
                lambda: (
                    catalog.hardware is not None
                    and catalog.hardware.ram_bandwidth_bytes_s == PROBED_BANDWIDTH
                ),
                20,
                "the probed bandwidth shown",
            )
            assert gates["probe_started"].is_set() and gates["scan_started"].is_set()
            await wait_until(
                pilot,
                lambda: (
                    catalog.planned_ctx > 0
                    and all(row.plan is not None for row in catalog.all_rows)
                    and all(
                        a.plan is not b for a, b in zip(catalog.all_rows, first_plans, strict=False)
                    )
                ),
                20,
                "rows planned again with the probed bandwidth",
            )
        finally:
            gates["probe"].set()
            gates["scan"].set()

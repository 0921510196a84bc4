"""Session totals, rolling series and a real system sample."""

from __future__ import annotations

import os

import pytest

from localctl.chat import ReplyMetrics
from localctl.cost import api_equivalent
from localctl.meters import SERIES_LENGTH, SessionMeters, system_snapshot


def _metrics(tok_s: float) -> ReplyMetrics:
    return ReplyMetrics(
        ttft_s=0.1,
        prompt_tokens=10,
        prompt_tok_s=100.0,
        completion_tokens=20,
        gen_tok_s=tok_s,
        total_s=2.0,
    )


def test_session_totals_and_cost() -> None:
    meters = SessionMeters()
    meters.add(_metrics(50.0))
    meters.add(_metrics(70.0))
    assert (meters.prompt_tokens, meters.completion_tokens, meters.replies) == (20, 40, 2)
    assert meters.mean_gen_tok_s == pytest.approx(60.0)
    assert meters.api_equivalent_usd(("openai:gpt-5",)) == api_equivalent(20, 40, ["openai:gpt-5"])
    assert meters.energy_usd(watts=3600, usd_per_kwh=1.0) == pytest.approx(4.0 / 1000)


def test_series_is_bounded() -> None:
    meters = SessionMeters()
    for i in range(SERIES_LENGTH + 10):
        meters.add(_metrics(float(i)))
    assert len(meters.gen_tok_s_series) == SERIES_LENGTH


def test_system_snapshot_measures_this_process() -> None:
    snap = system_snapshot(os.getpid())
    assert snap.server_rss_bytes and snap.server_rss_bytes > 10 * 2**20
    assert 0 < snap.ram_used_bytes < snap.ram_total_bytes
    assert snap.gpus == ()  # no GPU on this machine


def test_gone_process_has_no_rss() -> None:
    assert system_snapshot(2**22 + 12345).server_rss_bytes is None

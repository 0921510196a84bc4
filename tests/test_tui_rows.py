"""Catalog row filtering and sorting (pure functions, no app)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tests.tui_helpers import rows
from tui.rows import families, human_duration, select_rows


def keys(selected):
    return [row.key for row in selected]


def test_search_matches_every_word_case_insensitively():
    assert keys(select_rows(rows(), query="QWEN q4")) == ["qwen2.5-7b:Q4_K_M"]
    assert select_rows(rows(), query="mistral") == []


def test_fits_only_drops_rows_that_do_not_fit():
    kept = select_rows(rows(), fits_only=True)
    assert "qwen2.5-7b:Q8_0" not in keys(kept)
    assert len(kept) == 3


def test_downloaded_only_and_family_filters():
    sample = rows()
    sample[2] = replace(sample[2], local_path=Path("/models/q.gguf"))
    assert keys(select_rows(sample, downloaded_only=True)) == ["qwen2.5-7b:Q4_K_M"]
    assert {r.model.family for r in select_rows(sample, family="qwen")} == {"qwen"}
    assert families(sample) == ["llama", "qwen"]


def test_sort_orders():
    by_fit = keys(select_rows(rows(), sort="fit"))
    assert by_fit[0] == "llama-3.1-8b:Q4_K_M" and by_fit[-1] == "qwen2.5-7b:Q8_0"
    by_speed = keys(select_rows(rows(), sort="speed"))
    assert by_speed[-1] == "qwen2.5-7b:Q8_0"
    by_size = [r.quant.size_bytes for r in select_rows(rows(), sort="size")]
    assert by_size == sorted(by_size)
    assert keys(select_rows(rows(), sort="name")) == sorted(keys(rows()))


def test_human_duration():
    assert human_duration(None) == "--"
    assert human_duration(5.2) == "5s"
    assert human_duration(65) == "1m05s"
    assert human_duration(3720) == "1h02m"

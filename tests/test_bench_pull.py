"""The resume rows of ``bench/pull.py``: ratios and verdicts from measured trials."""

from __future__ import annotations

from bench.pull import _resume_rows, _ResumeTrial

SIZE = 1_000


def trial(*, kept: int = 500, served: int = 500, sha_ok: bool = True) -> _ResumeTrial:
    return _ResumeTrial(
        kept_bytes=kept,
        first_s=1.0,
        second_s=1.5,
        served_bytes=served,
        client_bytes=served,
        sha256_ok=sha_ok,
    )


def test_resume_that_fetches_only_the_missing_bytes_meets_the_target() -> None:
    rows = _resume_rows([trial(), trial(kept=510, served=490)], SIZE, [2.0, 2.5])
    assert [row["verdict"] for row in rows] == ["met", "", "met"]
    assert rows[0]["value"].startswith("1.00×")
    assert "killed at 50.0%–51.0%, 2 of 2 runs" in rows[0]["client"]
    assert rows[1]["value"].startswith("1.12×")  # median of 2.5/2.0 and 2.5/2.5


def test_resume_that_fetches_bytes_twice_is_missed() -> None:
    rows = _resume_rows([trial(), trial(served=SIZE)], SIZE, [2.0, 2.0])
    assert rows[0]["verdict"] == "MISSED"
    assert rows[0]["value"].startswith("2.00×")


def test_wrong_sha256_after_resume_is_missed() -> None:
    rows = _resume_rows([trial(sha_ok=False)], SIZE, [2.0])
    assert rows[2]["verdict"] == "MISSED"
    assert rows[2]["value"] == "0 of 1 match the hub's"


def test_no_interrupted_trial_is_reported_not_scored() -> None:
    rows = _resume_rows([None, None], SIZE, [2.0, 2.0])
    assert len(rows) == 1
    assert "finished before it could be killed" in rows[0]["client"]

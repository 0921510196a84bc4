"""The native server's figures, read by a meter again and again over one client."""

from __future__ import annotations

from localctl.server_metrics import ServerMetricsReader, parse_prometheus, read_server_metrics
from tests.fakesse import FakeSSE


def test_prometheus_text_skips_comments_labels_and_non_numbers() -> None:
    text = '# HELP x\nllamacpp:requests_processing 2\nwith{label="a"} 3\nbad nan-ish\n'
    assert parse_prometheus(text) == {"requests_processing": 2.0}


def test_a_reader_reads_again_after_closing_and_agrees_with_a_single_reading() -> None:
    with FakeSSE("normal", n_ctx=4096) as fake:
        reader = ServerMetricsReader()
        try:
            first = reader.read(fake.url, None)
            second = reader.read(fake.url + "/v1", None)
            reader.close()
            third = reader.read(fake.url, None)
        finally:
            reader.close()
        once = read_server_metrics(fake.url, None)
    assert first is not None and first.n_ctx == 4096 and first.prompt_tokens_total == 5
    assert first == second == third == once
    assert fake.got.count("/metrics") == fake.got.count("/slots") == 4


def test_a_server_without_metrics_gives_none() -> None:
    reader = ServerMetricsReader()
    with FakeSSE("normal") as fake:  # answers every GET with a model list
        assert reader.read(fake.url, None) is None
    reader.close()

"""Hostile inputs: what refusing them costs.

Header parses that the tests check for behaviour only (their wall-clock bounds flapped
on a loaded 2-core box): a million-token vocabulary, a string running past 64 MiB, a
512 GiB sparse file whose header alone is read, a header cut at every offset.

A 64 MiB GGUF header of 5.5 million nested empty arrays (tests/fit_helpers.py
``nested_array_header``): time and peak memory to refuse it, read from a local file
and over HTTP range requests from the loopback fake hub. Before the explicit bounds
(catalog.gguf ``MAX_NESTED_TOTAL``, ``MAX_PARSE_CPU_S``) the same file cost 36-82 s of
CPU and about 450 MB per parse.
"""

from __future__ import annotations

import resource
import tempfile
import time
from pathlib import Path
from typing import Any


def _refuse(read: Any) -> tuple[float, float, str]:
    started_wall, started_cpu = time.perf_counter(), time.thread_time()
    try:
        read()
    except Exception as error:  # the point is what refusing costs, whatever the error
        message = str(error)
    else:
        message = "accepted"
    return time.perf_counter() - started_wall, time.thread_time() - started_cpu, message


def run() -> list[dict[str, Any]]:
    """One row per way of reading the hostile header."""
    from catalog.gguf import read_gguf
    from localctl.remote_gguf import read_remote_gguf
    from tests.fakehub import FakeFile, FakeHub, FakeRepo
    from tests.fit_helpers import nested_array_header

    data = nested_array_header()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "nested.gguf"
        path.write_bytes(data)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        wall, cpu, message = _refuse(lambda: read_gguf(path))
        rows.append(
            {
                "input": f"nested-array header, {len(data) / (1 << 20):.1f} MiB, local file",
                "wall_ms": round(wall * 1000, 1),
                "cpu_ms": round(cpu * 1000, 1),
                "peak_rss_growth_mb": round(
                    (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024, 1
                ),
                "result": message.split(": ", 1)[-1],
            }
        )
    rows.extend(_parse_rows())
    hostile = FakeFile(path="nested.gguf", size=len(data), data=data)
    with FakeHub([FakeRepo("someone/nested-GGUF", [hostile])]) as hub:
        url = f"{hub.url}/someone/nested-GGUF/resolve/main/nested.gguf"
        wall, cpu, message = _refuse(lambda: read_remote_gguf(url))
        rows.append(
            {
                "input": "same header over HTTP range requests (fake hub)",
                "wall_ms": round(wall * 1000, 1),
                "cpu_ms": round(cpu * 1000, 1),
                "peak_rss_growth_mb": "-",
                "result": message.split(": ", 1)[-1],
            }
        )
    return rows


def _parse_rows() -> list[dict[str, Any]]:
    """Wall time of the parses tests/test_gguf.py checks for behaviour (target < 1 s each)."""
    import struct

    from catalog.gguf import BytesSource, parse_gguf, read_gguf
    from tests.fit_helpers import STRING, TinyModel, gguf_string
    from tests.test_gguf import counts, million_token_header

    good = TinyModel().build()
    header_end = len(TinyModel().build(data=False))

    def every_cut() -> None:
        for cut in range(header_end + 1):
            try:
                parse_gguf(BytesSource(good[:cut]))
            except Exception:  # each cut is refused; the time of all of them is measured
                continue

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder:
        long_header = Path(folder) / "long-header.gguf"
        with long_header.open("wb") as handle:
            handle.write(counts(0, 1) + gguf_string("k") + struct.pack("<IQ", STRING, 65 << 20))
            handle.truncate(70 << 20)
        sparse = Path(folder) / "big.gguf"
        header = TinyModel().build(tensors=[("w", (256, 1 << 30), 1, 0)], data=False)
        with sparse.open("wb") as handle:
            handle.write(header)
            handle.truncate(len(header) + 256 * (1 << 30) * 2)
        cases: list[tuple[str, Any]] = [
            (
                "a million-token vocabulary array counted",
                lambda: parse_gguf(BytesSource(million_token_header()), need_arch=False),
            ),
            ("a string running past 64 MiB refused", lambda: read_gguf(long_header)),
            ("header of a 512 GiB sparse file read", lambda: read_gguf(sparse)),
            (f"tiny header cut at each of {header_end + 1} offsets", every_cut),
        ]
        for label, read in cases:
            wall, cpu, message = _refuse(read)
            rows.append(
                {
                    "input": label,
                    "wall_ms": round(wall * 1000, 1),
                    "cpu_ms": round(cpu * 1000, 1),
                    "peak_rss_growth_mb": "-",
                    "result": message.split(": ", 1)[-1],
                }
            )
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)

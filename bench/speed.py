"""Speed model vs published llama-bench results: median |error| by device class and size.

Scores the constants in ``localctl/speed_constants.py`` on every row of
``bench/speed_data`` (the calibration set and the gathered rows), through the same
code ``localctl fit`` uses, so a change to the constants or the model shows its effect
here. Cross-validated figures (each device left out of the fit) come from
``python -m bench.fit_speed``, which also refits.
"""

from __future__ import annotations

import statistics
from typing import Any


def run() -> list[dict[str, Any]]:
    """One row per device class and per size bucket: decode (tg) and prompt (pp512) errors."""
    from bench.fit_speed import SIZE_BUCKETS, evaluate, load_rows, size_bucket, summary
    from localctl.speedtables import FAMILIES

    rows, skipped = load_rows()
    evaluate(rows, "fit")
    groups: list[tuple[str, list[Any]]] = [("all rows", rows)]
    groups += [(f"class {f}", [r for r in rows if r.family == f]) for f in FAMILIES]
    groups += [
        (f"size {label}", [r for r in rows if size_bucket(r) == label])
        for *_, label in SIZE_BUCKETS
    ]
    table: list[dict[str, Any]] = []
    for name, members in groups:
        decode = summary(members, "fit")
        prompt = summary(members, "fit", prompt=True)
        if not decode.get("n"):
            continue
        table.append(
            {
                "group": name,
                "decode rows": decode["n"],
                "decode median abs err": f"{decode['median_abs']:.1%}",
                "decode median bias": f"{decode['bias']:+.1%}",
                "decode within 20%": f"{decode['within20']:.0%}",
                "pp512 rows": prompt.get("n", 0),
                "pp512 median abs err": f"{prompt['median_abs']:.1%}" if prompt.get("n") else "-",
            }
        )
    small = [abs(r.predicted["fit"] / r.tg - 1) for r in rows if r.size_gb < 2.5 and r.tg]
    table.append(
        {
            "group": "targets",
            "decode rows": len(rows),
            "decode median abs err": "<= 10%",
            "decode median bias": "within +-15% per class",
            "decode within 20%": ">= 80%",
            "pp512 rows": f"models < 2.5 GB: {statistics.median(small):.1%} (<= 25%)",
            "pp512 median abs err": "<= 25%",
        }
    )
    if skipped:
        table.append({"group": f"{len(skipped)} rows skipped", "decode rows": "; ".join(skipped)})
    return table

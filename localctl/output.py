"""Small helpers the CLI verbs share for printing."""

from __future__ import annotations

import json
import sys
from typing import Any


def emit_json(document: Any) -> None:
    """Print ``document`` as the stable, indented JSON a verb promises with ``--json``."""
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=True) + "\n")
    sys.stdout.flush()


def human_bytes(count: float, *, decimal: bool = False) -> str:
    """``1536 → '1.5 KiB'`` (or ``'1.5 kB'`` with ``decimal=True``)."""
    base, units = (
        (1000.0, ("B", "kB", "MB", "GB", "TB"))
        if decimal
        else (
            1024.0,
            ("B", "KiB", "MiB", "GiB", "TiB"),
        )
    )
    value = float(count)
    for unit in units:
        if abs(value) < base or unit == units[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= base
    return f"{value:.1f} {units[-1]}"


def table(rows: list[list[str]], header: list[str]) -> str:
    """A plain left-aligned text table (no colour, no rich) for human CLI output."""
    widths = [len(h) for h in header]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    return "\n".join(lines)

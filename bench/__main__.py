"""Run every benchmark side by side on this machine and write ``bench/RESULTS.md``.

Each module in ``SECTIONS`` has ``run() -> list[dict]``: one dict per table row,
its keys the column names (the first row's keys give the header). A section that
cannot run here (no native server, no GPU) returns a row saying so.

Usage: ``python -m bench [SECTION ...]`` (default: all).
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any

SECTIONS: dict[str, str] = {
    "speed": "Speed model vs published llama-bench results (decode and pp512, by class and size)",
    "fit": "Fit accuracy: estimate vs llama.cpp's buffers vs measured RSS, and speed prediction",
    "chat": "Client overhead: localctl chat vs bare httpx SSE vs in-process llama-cpp-python",
    "serve": "Server backends and start-up time",
    "serving": "Both backends in one run (decode tok/s, RSS); a self-draft's acceptance, speed-up",
    "tui": "TUI absorb rate and first frame",
    "tui_chat": "TUI vs CLI: chat tok/s on one real server, each TUI run between two CLI runs",
    "startup": "Command start-up times (median of several runs)",
    "pull": "Downloads: localctl pull vs curl on the loopback fake hub",
    "hostile": "Hostile inputs: time to refuse a 64 MiB nested-array GGUF header",
    "concurrency": "Concurrent chats on one server: all answered, aggregate tok/s vs one client",
    "budgets": "Time budgets: local-file lookups, cached hardware detection (median vs budget)",
    "hub": "Hub facts and prices: catalog refresh, search, remote-header plan, price data",
}


def machine_description() -> str:
    """One paragraph describing the machine the figures come from."""
    import psutil

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = psutil.virtual_memory().total / 2**30
    return (
        f"{cpu}; {psutil.cpu_count(logical=False)} physical / {psutil.cpu_count()} logical cores; "
        f"{ram:.1f} GiB RAM; no GPU unless listed; Python {platform.python_version()}; "
        f"{platform.system()} {platform.release()}"
    )


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """Rows of dicts as a Markdown table (columns from the union of keys, in order)."""
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = []
        for column in columns:
            value = row.get(column, "")
            cells.append(f"{value:.3g}" if isinstance(value, float) else str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("sections", nargs="*", metavar="SECTION", help=", ".join(SECTIONS))
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    args = parser.parse_args(argv)
    unknown = [name for name in args.sections if name not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s): {', '.join(unknown)}")
    chosen = args.sections or list(SECTIONS)
    parts = [
        "# localctl benchmark results",
        "",
        f"Measured {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC "
        f"on: {machine_description()}.",
        "",
        "Every figure in a section is measured side by side in the same run. "
        "Regenerate with `python -m bench` (or `make bench`).",
    ]
    for name in chosen:
        started = time.perf_counter()
        print(f"== {name}: {SECTIONS[name]}", file=sys.stderr, flush=True)
        try:
            module = importlib.import_module(f"bench.{name}")
            rows = module.run()
        except Exception as error:  # a broken section is reported, the rest still run
            traceback.print_exc()
            rows = [{"result": f"section failed: {type(error).__name__}: {error}"}]
        took = time.perf_counter() - started
        table = markdown_table(rows)
        print(table, flush=True)
        parts += ["", f"## {SECTIONS[name]}", "", table, "", f"_({took:.0f} s)_"]
    if not args.sections:
        args.output.write_text("\n".join(parts) + "\n", encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        print("(partial run: RESULTS.md not rewritten)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""TUI figures: first-frame time of ``localctl`` and the chat pane's fast-stream absorb rate.

First frame: ``python -m localctl`` is started in a pseudo-terminal (120x40) and the clock
stops when the footer ("Quit") has been painted; then ``q`` quits. Median of several runs.

Absorb rate: the real app's chat screen streams a reply from the fake SSE server
(``tests/fakesse.py``) while a probe key is sent every 20 ms; we report tokens rendered per
second, whether every token reached the Markdown widget, and the worst key latency.
"""

from __future__ import annotations

import asyncio
import os
import pty
import select
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIRST_FRAME_RUNS = 5
FIRST_FRAME_MARKER = b"Quit"
COLUMNS, LINES = 120, 40


def spawn_in_terminal(argv: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    """Start ``argv`` on a 120x40 pseudo-terminal as a terminal would run it; returns the
    process and the terminal side to read its output from (the caller closes it)."""
    import fcntl

    env = {**env, "TERM": "xterm-256color", "COLUMNS": str(COLUMNS), "LINES": str(LINES)}
    env.pop("TEXTUAL", None)
    main_fd, child_fd = pty.openpty()
    fcntl.ioctl(child_fd, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
    process = subprocess.Popen(
        argv,
        stdin=child_fd,
        stdout=child_fd,
        stderr=child_fd,
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    os.close(child_fd)
    return process, main_fd


def first_frame_s(timeout_s: float = 20.0) -> float:
    """Seconds from spawning ``python -m localctl`` in a pty to its first painted frame."""
    with tempfile.TemporaryDirectory() as home:
        started = time.perf_counter()
        process, main_fd = spawn_in_terminal(
            [sys.executable, "-m", "localctl"], {**os.environ, "LOCALCTL_HOME": home}
        )
        seen = b""
        elapsed = float("nan")
        try:
            deadline = started + timeout_s
            while time.perf_counter() < deadline:
                ready, _, _ = select.select([main_fd], [], [], 0.05)
                if ready:
                    try:
                        chunk = os.read(main_fd, 1 << 16)
                    except OSError:
                        break
                    seen += chunk
                    if FIRST_FRAME_MARKER in seen:
                        elapsed = time.perf_counter() - started
                        break
            os.write(main_fd, b"q")
            end = time.perf_counter() + 10
            while process.poll() is None and time.perf_counter() < end:
                if select.select([main_fd], [], [], 0.05)[0]:
                    try:
                        os.read(main_fd, 1 << 16)
                    except OSError:
                        break
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)
            os.close(main_fd)
        return elapsed


async def absorb(tokens: int = 12_000, tok_s: float = 0.0) -> dict[str, Any]:
    """Stream ``tokens`` from the fake SSE server into the real chat screen; measure it.

    Args:
        tokens: Tokens the fake server sends.
        tok_s: Pace of the fake server (0: as fast as it can).
    """
    sys.path.insert(0, str(ROOT))
    from tests.tui_stream import measure_stream

    return await measure_stream(tokens=tokens, tok_s=tok_s)


def run() -> list[dict[str, Any]]:
    """One row for first frame, one per stream pace."""
    rows: list[dict[str, Any]] = []
    times = [first_frame_s() for _ in range(FIRST_FRAME_RUNS)]
    median = statistics.median(times)
    rows.append(
        {
            "measure": f"first frame of `localctl` (pty 120x40, median of {FIRST_FRAME_RUNS})",
            "value": f"{median:.3f} s (min {min(times):.3f}, max {max(times):.3f})",
            "target": "< 1 s",
            "verdict": "met" if median < 1 else "MISSED",
        }
    )
    for pace in (5_000.0, 0.0):
        result = asyncio.run(absorb(tokens=12_000, tok_s=pace))
        label = f"{pace:,.0f} tok/s" if pace else "unpaced (as fast as it sends)"
        keys_ok = result["max_key_latency_ms"] < 250
        value = (
            f"rendered {result['rendered_tok_s']:,.0f} tok/s, "
            f"complete={result['complete']}, max key latency "
            f"{result['max_key_latency_ms']:.0f} ms (p50 "
            f"{result['p50_key_latency_ms']:.0f} ms, {result['probes']} keys)"
        )
        if pace:
            # A paced stream cannot render faster than it is sent: what matters is that
            # rendering keeps up, i.e. it ends soon after the server's last token.
            lag_s = result["seconds"] - 12_000 / pace
            value += f", done {lag_s:+.2f} s after the server's last token"
            target = "complete, done ≤ 0.5 s after the last token, keys < 250 ms"
            met = result["complete"] and lag_s <= 0.5 and keys_ok
        else:
            target = "≥ 5,000 tok/s, complete, keys < 250 ms"
            met = result["complete"] and result["rendered_tok_s"] >= 5000 and keys_ok
        rows.append(
            {
                "measure": f"stream 12,000 tokens, server {label}",
                "value": value,
                "target": target,
                "verdict": "met" if met else "MISSED",
            }
        )
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)

"""TUI vs CLI: generation tok/s of the chat screen and of ``localctl chat`` on one server.

Both clients talk to the same real server (SmolLM2-135M, native llama-server when built,
else llama-cpp-python) with the same prompt, seed and a reply of :data:`REPLY_TOKENS`
tokens (some 3.5 s: the short bursts of a shared machine's load average out over it).
The TUI runs as its own process on a pseudo-terminal (a real terminal driver, every frame
written and drained), drives its own chat screen, and
reports the reply's ``gen_tok_s`` (the server's own timings, as ``localctl chat``) and its
CPU share (process CPU seconds over wall seconds) from the first text to the last (the
model generating), and from enter to the end (which adds the request's set-up: the first
reply imports the HTTP client). The prompt is sent once the TUI's start-up work is done.

Runs are sandwiched: CLI, TUI, CLI, TUI, ..., CLI. Each TUI run is compared with the mean
of the CLI runs just before and after it (a drift in the shared machine's load hits the
three alike); the verdict is the median of these paired ratios. The same pairing applied
to each inner CLI run against its two neighbours (no TUI in the ratio at all) measures the
bench's own noise and is printed beside it. Target: the TUI's paired median ≥ 0.95.

Child usage: ``python -m bench.tui_chat URL KEY OUTPUT_JSON MAX_TOKENS``.
"""

from __future__ import annotations

import json
import os
import select
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.chat import PROMPT, _localctl_chat

ROOT = Path(__file__).resolve().parent.parent
RUNS = 15
"""TUI runs; the CLI runs one more time, around them."""
REPLY_TOKENS = 256
TARGET = 0.95


SETTLED_CPU_SHARE = 0.05
"""The TUI is idle (its start-up planning done) once it uses less than this over 0.5 s."""


def _child(url: str, key: str, output: Path, max_tokens: int) -> None:
    """Run the real TUI, send PROMPT once, write the figures to ``output`` and quit."""
    import asyncio

    from localctl.chat_session import ChatEndpoint
    from localctl.config import Config
    from localctl.model_settings import ModelSettings
    from tui.app import LocalctlApp, make_app
    from tui.widgets import chat_pane
    from tui.widgets.chat_pane import ChatPane

    texts: list[tuple[float, float]] = []  # CPU and wall clock at each batch of text
    write = chat_pane.ReplyWriter.write

    async def timed_write(writer: chat_pane.ReplyWriter, text: str) -> None:
        texts.append((time.process_time(), time.perf_counter()))
        await write(writer, text)

    chat_pane.ReplyWriter.write = timed_write  # type: ignore[method-assign,assignment]

    class BenchApp(LocalctlApp):
        def on_ready(self) -> None:
            self.run_worker(self._drive(), exit_on_error=False)

        async def _settle(self) -> None:
            """Wait until the start-up work (planning, scans) is done: not the chat's cost."""
            deadline = time.perf_counter() + 30
            while time.perf_counter() < deadline:
                cpu = time.process_time()
                await asyncio.sleep(0.5)
                if (time.process_time() - cpu) / 0.5 < SETTLED_CPU_SHARE:
                    return

        async def _drive(self) -> None:
            await self.action_show_chat()
            chat = self.chat_screen
            chat.connect(ChatEndpoint(url, key or None, "local"), f"bench server at {url}")
            settings = ModelSettings(model="local", temperature=0.0, max_tokens=max_tokens, seed=1)
            chat.session.use_settings(settings, remember=False)
            catalog = self.catalog_screen
            deadline = time.perf_counter() + 60
            while not catalog.planned_ctx and time.perf_counter() < deadline:
                await asyncio.sleep(0.05)
            await self._settle()
            cpu0, wall0 = time.process_time(), time.perf_counter()
            chat.post_message(ChatPane.Submitted(PROMPT))
            deadline = wall0 + 120
            while chat.replies_finished < 1 and time.perf_counter() < deadline:
                await asyncio.sleep(0.1)  # a coarse poll: the TUI's own work is measured
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            (cpu1, wall1), (cpu2, wall2) = (texts[0], texts[-1]) if texts else ((0, 0), (0, 1))
            figures = {
                "gen_tok_s": chat.snapshot.gen_tok_s,
                "cpu_share": cpu / wall,
                "streaming_cpu_share": (cpu2 - cpu1) / max(wall2 - wall1, 1e-9),
                "wall_s": wall,
            }
            output.write_text(json.dumps(figures), encoding="utf-8")
            self.exit()

    base = make_app(hw_profile="rtx4090", config=Config())
    BenchApp(base.context).run()


def _tui_chat(url: str, key: str) -> dict[str, float]:
    """One TUI run in a 120x40 pseudo-terminal whose output is drained as a terminal would."""
    from bench.tui import spawn_in_terminal

    with tempfile.TemporaryDirectory() as scratch:
        output = Path(scratch) / "figures.json"
        argv = [sys.executable, "-m", "bench.tui_chat", url, key, str(output), str(REPLY_TOKENS)]
        process, main_fd = spawn_in_terminal(argv, dict(os.environ))
        drained = [0]

        def drain() -> None:
            while True:
                if select.select([main_fd], [], [], 0.05)[0]:
                    try:
                        chunk = os.read(main_fd, 1 << 16)
                    except OSError:
                        return
                    if not chunk:
                        return
                    drained[0] += len(chunk)
                elif process.poll() is not None:
                    return

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        try:
            process.wait(timeout=180)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
            reader.join(timeout=5)
            os.close(main_fd)
        if not output.exists():
            raise RuntimeError("the TUI run wrote no figures")
        figures: dict[str, float] = json.loads(output.read_text(encoding="utf-8"))
        figures["terminal_kib"] = drained[0] / 1024
        return figures


def _spread(values: list[float]) -> str:
    low, _, high = statistics.quantiles(values, n=4) if len(values) > 1 else (values * 3)
    return f"median {statistics.median(values):.3f}, quartiles {low:.3f}-{high:.3f}"


def run() -> list[dict[str, Any]]:
    """Sandwiched CLI and TUI runs on one server; the paired ratios and the bench's noise."""

    from bench.chat import smollm2_server
    from bench.serve import _native

    os.environ.setdefault("LOCALCTL_HOME", tempfile.mkdtemp(prefix="localctl-bench-"))
    native = _native()
    backend = "llama-server" if native else "llama-cpp-python"
    load = os.getloadavg()
    server = smollm2_server(backend, native or "")
    server.start_sync()
    tui: list[dict[str, float]] = []
    cli: list[float] = []
    try:
        url, key = server.url, server.api_key or ""
        _localctl_chat(url, key, REPLY_TOKENS)  # warm-up
        cli.append(_localctl_chat(url, key, REPLY_TOKENS))
        for _ in range(RUNS):
            tui.append(_tui_chat(url, key))
            cli.append(_localctl_chat(url, key, REPLY_TOKENS))
    finally:
        server.stop_sync()
    # TUI run i came between CLI runs i and i + 1.
    paired = [run["gen_tok_s"] / ((cli[i] + cli[i + 1]) / 2) for i, run in enumerate(tui)]
    control = [cli[j] / ((cli[j - 1] + cli[j + 1]) / 2) for j in range(1, len(cli) - 1)]
    ratio = statistics.median(paired)
    verdict = "met" if ratio >= TARGET else "MISSED"
    cpu = statistics.median(run["cpu_share"] for run in tui)
    streaming_cpu = statistics.median(run["streaming_cpu_share"] for run in tui)
    load_text = f"load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} at start"
    return [
        {
            "client": f"localctl chat --json ({backend} server)",
            "gen tok/s (median)": round(statistics.median(cli), 1),
            "runs": ", ".join(f"{rate:.1f}" for rate in cli),
            "note": f"{REPLY_TOKENS} tokens a reply; {load_text}",
        },
        {
            "client": f"TUI chat screen, pty 120x40 ({backend} server)",
            "gen tok/s (median)": round(statistics.median(run["gen_tok_s"] for run in tui), 1),
            "runs": ", ".join(f"{run['gen_tok_s']:.1f}" for run in tui),
            "note": (
                f"TUI process CPU from the first text to the last: {streaming_cpu:.0%} of one "
                f"core, from enter to the end: {cpu:.0%} (medians)"
            ),
        },
        {
            "client": "CLI / its two neighbouring CLI runs (the bench's noise)",
            "gen tok/s (median)": f"{statistics.median(control):.3f}",
            "runs": ", ".join(f"{value:.2f}" for value in control),
            "note": _spread(control),
        },
        {
            "client": "TUI / its two neighbouring CLI runs",
            "gen tok/s (median)": f"{ratio:.3f}",
            "runs": ", ".join(f"{value:.2f}" for value in paired),
            "note": f"{_spread(paired)}; target ≥ {TARGET}: {verdict}",
        },
    ]


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]))

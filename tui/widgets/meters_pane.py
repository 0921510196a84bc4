"""Live meters beside the chat: throughput, TTFT, tokens, API and energy cost, CPU/RAM/VRAM."""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import Label, Sparkline, Static

from localctl.meters import MeterSnapshot, SystemSnapshot
from localctl.replies import PromptProgress
from localctl.server_metrics import ServerMetrics

BAR_CELLS = 12
"""Width of the small text bars (context, KV cache, prompt progress)."""


def _bar(fraction: float, cells: int = BAR_CELLS) -> str:
    full = round(max(0.0, min(1.0, fraction)) * cells)
    return "█" * full + "░" * (cells - full)


def _show(widget: Static, content: Text) -> None:
    """Show ``content`` in ``widget``: nothing when it shows that already, a repaint without
    a layout pass when its size stays (as many lines, each the same or unwrapped)."""
    shown = widget.content
    if shown == content:
        return
    width = widget.content_size.width
    lines = content.plain.split("\n")
    before = shown.plain.split("\n") if isinstance(shown, Text) else []
    same_size = len(before) == len(lines) and all(
        new == old or max(cell_len(new), cell_len(old)) <= width
        for new, old in zip(lines, before, strict=True)
    )
    widget.update(content, layout=not same_size)


def _money(usd: float) -> str:
    """Dollars with enough digits that a short session's cents still show."""
    if usd >= 1:
        return f"${usd:,.2f}"
    return f"${usd:.4f}" if usd >= 0.001 else f"${usd:.6f}"


class MetersPane(Vertical):
    """Throughput, cost and load meters; attributes in, nothing out.

    The pane draws nothing itself: its watchers update the children, which repaint alone
    (a repaint of the pane would redraw all of them, several times a second while a reply
    streams)."""

    snapshot: reactive[MeterSnapshot] = reactive(MeterSnapshot, always_update=True, repaint=False)
    """Session figures shown."""
    system: reactive[SystemSnapshot] = reactive(SystemSnapshot, always_update=True, repaint=False)
    """Latest machine load shown."""
    progress: reactive[PromptProgress | None] = reactive(None, always_update=True, repaint=False)
    """How far the server has read the prompt in flight (None: not reading one)."""
    server: reactive[ServerMetrics | None] = reactive(None, always_update=True, repaint=False)
    """The native server's own figures (/metrics, /slots); None for other servers."""

    def compose(self) -> ComposeResult:
        yield Label("Throughput", classes="meters-title")
        yield Static(id="speed")
        yield Sparkline([], id="speed-spark")
        yield Label("Session", classes="meters-title")
        yield Static(id="tokens")
        yield Static(id="server")
        yield Label("API-equivalent cost", classes="meters-title")
        yield Static(id="costs")
        yield Label("Machine", classes="meters-title")
        yield Static(id="machine")

    def on_mount(self) -> None:
        self.watch_snapshot(self.snapshot)
        self.watch_system(self.system)
        self.watch_server(self.server)

    def on_resize(self) -> None:
        self.watch_snapshot(self.snapshot)
        self.watch_system(self.system)

    def _cost_line(self, name: str, usd: float) -> str:
        """``name`` and dollars on one line of the pane's width; the name gives way first."""
        money = _money(usd)
        room = max((self.content_size.width or 34) - len(money) - 1, 6)
        if len(name) > room:
            name = name[: room - 1] + "…"
        return f"{name:<{room}} {money}"

    renders = 0
    """Times the throughput, session and cost meters were redrawn."""

    def watch_snapshot(self, snap: MeterSnapshot) -> None:
        if not self.is_mounted:
            return
        self.renders += 1
        # The first line is always there: the live meters then redraw in place (no layout).
        speed = Text("streaming (counted so far)\n" if snap.live else "last reply\n", style="dim")
        speed.append(f"gen    {snap.gen_tok_s:8.1f} tok/s\n")
        speed.append(f"prompt {snap.prompt_tok_s:8.1f} tok/s\n")
        progress = self.progress
        if progress is not None:
            speed.append(f"TTFT {_bar(progress.fraction)} {progress.elapsed_s:.1f} s\n")
            speed.append(f"  prompt {progress.processed:,} / {progress.total:,} tok", style="dim")
        else:
            speed.append(f"TTFT   {snap.ttft_s * 1000:8.0f} ms")
        if snap.draft_acceptance is not None:
            per_pass = snap.draft_tokens_per_pass or 0.0
            speed.append(f"\ndraft  {snap.draft_acceptance:8.0%} accepted")
            speed.append(f"\n       x{per_pass:.1f} tokens per pass", style="dim")
        _show(self.query_one("#speed", Static), speed)
        self.query_one("#speed-spark", Sparkline).data = list(snap.gen_tok_s_history[-60:])
        tokens = Text(
            f"{snap.replies} {'reply' if snap.replies == 1 else 'replies'}\n"
            f"prompt     {snap.session_prompt_tokens:>8,} tok\n"
            f"completion {snap.session_completion_tokens:>8,} tok"
        )
        if snap.session_reasoning_tokens:
            tokens.append(f"\n  thinking {snap.session_reasoning_tokens:>8,} tok", style="dim")
        # Always two lines, so that the window becoming known redraws them in place.
        if snap.n_ctx:
            tokens.append(f"\ncontext {snap.context_tokens:,} / {snap.n_ctx:,} tokens\n")
            tokens.append(_bar(snap.context_tokens / snap.n_ctx, 24))
        else:
            tokens.append(f"\ncontext {snap.context_tokens:,} tokens\n")
            tokens.append("window size unknown", style="dim")
        if snap.cached_tokens:
            tokens.append(f"\n{snap.cached_tokens:,} prompt tok from cache", style="dim")
        _show(self.query_one("#tokens", Static), tokens)
        costs = Text()
        for model, usd in sorted(snap.api_equivalent_usd.items()):
            costs.append(self._cost_line(model, usd) + "\n")
        for model, usd in snap.hosted_usd.items():
            costs.append("same model, rented:\n", style="dim")
            costs.append(self._cost_line(model, usd) + "\n")
        costs.append(self._cost_line("local energy", snap.energy_usd))
        source = f", {snap.energy_source} power" if snap.energy_source else ""
        costs.append(f"\n({snap.energy_wh:.2f} Wh{source})", style="dim")
        if snap.price_source:
            costs.append(f"\nprices: {snap.price_source}", style="dim")
            costs.append("\nother tokenizers count differently", style="dim")
        _show(self.query_one("#costs", Static), costs)

    def watch_progress(self, progress: PromptProgress | None) -> None:
        self.watch_snapshot(self.snapshot)

    def watch_server(self, figures: ServerMetrics | None) -> None:
        if not self.is_mounted:
            return
        text = Text()
        if figures is not None:
            text.append(f"KV cache {figures.kv_used_tokens:,} / {figures.n_ctx:,}\n")
            text.append(_bar(figures.kv_used_fraction, 24) + "\n")
            text.append(
                f"requests {figures.requests_processing} running, "
                f"{figures.requests_deferred} waiting\n"
            )
            text.append(f"prompt cache hits {figures.cache_hit_fraction:.0%}", style="dim")
        _show(self.query_one("#server", Static), text)

    def watch_system(self, reading: SystemSnapshot) -> None:
        if not self.is_mounted:
            return
        gib = 1024**3
        cells = max(self.content_size.width, BAR_CELLS)
        text = Text(f"CPU {reading.cpu_percent:.0f}%\n")
        text.append(_bar(reading.cpu_percent / 100, cells) + "\n\n")
        ram = f"RAM {reading.ram_used_bytes / gib:.1f}/{reading.ram_total_bytes / gib:.1f} GiB"
        if reading.server_rss_bytes:
            ram += f" · server {reading.server_rss_bytes / 2**20:,.0f} MiB"
        text.append(ram + "\n")
        text.append(_bar(reading.ram_used_bytes / max(reading.ram_total_bytes, 1), cells) + "\n\n")
        if reading.vram_total_bytes:
            used, total = reading.vram_used_bytes / gib, reading.vram_total_bytes / gib
            vram = f"VRAM {used:.1f}/{total:.1f} GiB · GPU {reading.gpu_util_percent:.0f}%"
            if reading.gpu_power_w is not None:
                vram += f" · {reading.gpu_power_w:.0f} W"
            text.append(vram + "\n")
            text.append(_bar(reading.vram_used_bytes / reading.vram_total_bytes, cells))
        else:
            text.append("VRAM (no GPU)")
        _show(self.query_one("#machine", Static), text)

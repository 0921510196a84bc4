"""Everything about the selected catalog row: plan, speed, licence, repo, files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.reactive import reactive
from textual.widgets import Static

from catalog.schema import HUB_SOURCE
from localctl.library import CatalogRow
from localctl.output import human_bytes
from localctl.sanitize import printable
from localctl.speed import speed_lines
from tui.widgets.plan_bar import PlanBar

if TYPE_CHECKING:
    from localctl.config import Config
    from localctl.hardware import Hardware


def describe(row: CatalogRow, command: str = "") -> Text:
    """The text part of the detail pane for ``row`` (plain text, never markup).

    Names, licence, notes and file names may come from a GGUF header or a file name,
    so every piece passes :func:`localctl.sanitize.printable`.
    """
    model, quant, plan = row.model, row.quant, row.plan
    text = _PrintableText()
    text.append(f"{model.name}", style="bold")
    text.append(f"  {model.id}:{quant.name}\n")
    params = model.params / 1e9
    active = f" ({model.active_params / 1e9:.1f}B active)" if model.active_params else ""
    text.append(f"{params:.1f}B params{active} · {model.family} · {model.arch.architecture}\n")
    if plan is not None:
        text.append(f"Fit: {plan.verdict()}", style="bold")
        text.append(f" at ctx {plan.ctx:,} (kv {plan.kv_type}, parallel {plan.parallel})\n")
        text.append(f"GPU layers: {plan.gpu_layers}/{plan.n_layers}\n")
        if plan.placement != "none":
            decode, prompt, basis = speed_lines(plan)
            text.append(f"Speed: {decode}\n")
            text.append(f"{prompt[0].upper()}{prompt[1:]}\n")
            text.append(f"({basis})\n", style="italic")
        text.append(
            f"Total {human_bytes(plan.total_bytes)}: GPU {human_bytes(plan.gpu_bytes)},"
            f" RAM {human_bytes(plan.cpu_bytes)}\n"
        )
        if plan.draft is not None:
            text.append(
                f"Draft model: {Path(plan.draft.path).name}"
                f" ({human_bytes(plan.draft.total_bytes)}, {plan.draft.placement})\n"
            )
        rss = human_bytes(plan.expected_rss_bytes)
        text.append(f"Server RSS at start: {rss} ({plan.backend})\n")
        if plan.reason:
            text.append(f"{plan.reason}\n", style="italic")
    elif row.plan_error:
        text.append(f"No plan: {row.plan_error}\n", style="italic")
    else:
        text.append("Computing the plan…\n", style="italic")
    if row.quality:
        # A hub search row's note is its popularity and age, not a quant quality note.
        label = "On the hub" if model.source == HUB_SOURCE else "Quality"
        text.append(f"{label}: {row.quality}\n")
    text.append(f"Licence: {model.license}\n")
    text.append(f"Repo: {model.repo}\n")
    size = human_bytes(quant.size_bytes) + ("" if quant.size_exact else " (estimated)")
    text.append(f"Files ({size}):\n")
    for name in quant.files:
        text.append(f"  {name}\n")
    if quant.hub_note:
        style = "bold" if quant.hub_status in ("changed", "vanished") else "dim"
        text.append(f"Hub: {quant.hub_note}\n", style=style)
    if row.local_path is not None:
        text.append(f"On disk: {row.local_path}\n")
    if command:
        text.append("Server command:\n", style="bold")
        text.append(f"{command}\n", style="dim")
    if model.notes:
        text.append(f"\n{model.notes}\n", style="italic")
    return text


def row_path(row: CatalogRow) -> Path:
    """The row's model file: on disk, or where a catalog quant will be once pulled."""
    return row.local_path or Path(row.quant.files[0] if row.quant.files else row.key)


def with_draft(
    row: CatalogRow, config: Config | None, hw: Hardware | None
) -> tuple[CatalogRow, Path | None, str]:
    """``row`` re-planned with its draft model from the config's ``[drafts]`` table, the
    draft's file, and why the draft cannot be used ('' when it can or there is none)."""
    if row.plan is None or config is None or not config.drafts:
        return row, None, ""
    from dataclasses import replace

    from localctl.errors import LocalctlError
    from localctl.session import with_configured_draft

    try:
        plan, draft = with_configured_draft(row.key, row_path(row), row.plan, config, hw)
    except LocalctlError as error:
        return row, None, str(error)
    return replace(row, plan=plan), draft, ""


def server_command(
    row: CatalogRow, config: Config | None, hw: Hardware | None, draft: Path | None = None
) -> str:
    """The command line the row's plan would launch, or why there is none ('' without a
    plan): model path, context, GPU layers, flash attention, KV type, threads, draft."""
    if row.plan is None or config is None or hw is None:
        return ""
    from localctl.backends import command_line
    from localctl.session import launch_command

    argv, note = launch_command(row_path(row), row.key, row.plan, config, hw, draft)
    return command_line(argv) if argv else note


class _PrintableText(Text):
    """A ``Text`` whose appended strings are cleaned of control sequences."""

    def append(self, text: str | Text, style: str | Style | None = None) -> _PrintableText:
        super().append(printable(text) if isinstance(text, str) else text, style)
        return self


class DetailPane(VerticalScroll):
    """Memory plan bars and facts about one catalog row."""

    row: reactive[CatalogRow | None] = reactive(None)
    """The row described."""
    hardware: reactive[Hardware | None] = reactive(None)
    """The machine the plan was computed for."""
    config: reactive[Config | None] = reactive(None)
    """The configuration a server would be launched with (for its command line)."""

    def compose(self) -> ComposeResult:
        yield PlanBar()
        yield Static(id="detail-text")

    def watch_row(self, row: CatalogRow | None) -> None:
        self._refresh_contents()

    def watch_hardware(self, hardware: Hardware | None) -> None:
        self._refresh_contents()

    def watch_config(self, config: Config | None) -> None:
        self._refresh_contents()

    def _refresh_contents(self) -> None:
        if not self.is_mounted:
            return
        bar = self.query_one(PlanBar)
        bar.hardware = self.hardware
        row, draft, draft_error = self.row, None, ""
        if row is not None:
            row, draft, draft_error = with_draft(row, self.config, self.hardware)
        bar.plan = row.plan if row is not None else None
        command = server_command(row, self.config, self.hardware, draft) if row else ""
        text = describe(row, command) if row is not None else Text("Select a model.")
        if draft_error:
            text.append(f"Draft model: {printable(draft_error)}\n", style="bold")
        self.query_one("#detail-text", Static).update(text)

    def on_mount(self) -> None:
        self._refresh_contents()

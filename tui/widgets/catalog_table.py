"""The catalog table: one row per model x quant with its fit verdict."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable

from localctl.library import CatalogRow
from localctl.output import human_bytes
from localctl.sanitize import printable

COLUMNS: tuple[tuple[str, str], ...] = (
    ("model", "model"),
    ("quant", "quant"),
    ("size", "size"),
    ("fit", "fit"),
    ("tok/s", "tok_s"),
    ("local", "local"),
    ("quality", "quality"),
)


_HUB_MARKS = {"changed": " *", "vanished": " gone"}
"""Quant-cell marks of rows the last hub listing contradicts (details in the pane)."""


class CatalogTable(DataTable[Text]):
    """Catalog rows with coloured fit verdicts; `enter` runs a row, `d` downloads it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "run_row", "Run", id="run", tooltip="Download if needed, serve, chat"),
        Binding("d", "download_row", "Download", id="download"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = DataTable.COMPONENT_CLASSES | {
        "catalog-table--gpu",
        "catalog-table--partial",
        "catalog-table--cpu",
        "catalog-table--none",
        "catalog-table--pending",
        "catalog-table--error",
        "catalog-table--local",
        "catalog-table--note",
    }

    @dataclass
    class RunRequested(Message):
        """The user asked to download (if needed), serve and chat with a row."""

        row: CatalogRow

    @dataclass
    class DownloadRequested(Message):
        """The user asked to download a row only."""

        row: CatalogRow

    @dataclass
    class RowFocused(Message):
        """The cursor moved onto a row."""

        row: CatalogRow

    def __init__(self, *, id: str | None = None, note_label: str = "quality") -> None:
        """A table of rows; ``note_label`` heads the last column (the row's ``quality``)."""
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._rows: dict[str, CatalogRow] = {}
        self._note_label = note_label

    def on_mount(self) -> None:
        for label, key in COLUMNS:
            self.add_column(self._note_label if key == "quality" else label, key=key)

    @property
    def current_row(self) -> CatalogRow | None:
        """The row under the cursor, if any."""
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return self._rows.get(key or "")

    def show_rows(self, rows: list[CatalogRow], *, keep_cursor: bool = True) -> None:
        """Replace the table contents, keeping the cursor on the same row when it is still shown."""
        current = self.current_row if keep_cursor else None
        self.clear()
        self._rows = {row.key: row for row in rows}
        for row in rows:
            self.add_row(*self._cells(row), key=row.key)
        if current is not None and current.key in self._rows:
            self.move_cursor(row=self.get_row_index(current.key))
        if rows and (chosen := self.current_row) is not None:
            self.post_message(self.RowFocused(chosen))

    def _style(self, name: str) -> str:
        return str(self.get_component_rich_style(f"catalog-table--{name}", partial=True))

    def _cells(self, row: CatalogRow) -> list[Text]:
        plan = row.plan
        speed = f"{plan.predicted_tok_s:.1f}" if plan and plan.placement != "none" else "-"
        size = human_bytes(row.quant.size_bytes)
        if not row.quant.size_exact:
            size = "~" + size
        return [
            Text(printable(row.model.id)),
            Text(printable(row.quant.name) + _HUB_MARKS.get(row.quant.hub_status, "")),
            Text(size, justify="right"),
            Text(row.verdict, style=self._style(row.placement)),
            Text(speed, justify="right"),
            Text("✓" if row.downloaded else "", style=self._style("local")),
            Text(printable(row.quality), style=self._style("note")),
        ]

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        row = self._rows.get(event.row_key.value or "")
        if row is not None:
            self.post_message(self.RowFocused(row))

    def action_run_row(self) -> None:
        """Download if needed, serve and chat with the current row."""
        if (row := self.current_row) is not None:
            self.post_message(self.RunRequested(row))

    def action_download_row(self) -> None:
        """Download the current row without serving it."""
        if (row := self.current_row) is not None:
            self.post_message(self.DownloadRequested(row))

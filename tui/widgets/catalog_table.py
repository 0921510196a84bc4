"""The catalog table: one row per model x quant with its fit verdict."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable

from localctl.library import PAST_TRAINING_MARK, CatalogRow
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

CELL_PADDING = 1
"""Blank cells on each side of a column (DataTable's ``cell_padding``)."""

NARROWING: tuple[tuple[str, str | int], ...] = (
    ("drop", "quality"),
    ("drop", "local"),
    ("shorten", 20),
    ("drop", "size"),
    ("shorten", 14),
    ("drop", "tok_s"),
    ("shorten", 8),
)
"""How the table gives up width, step by step, until it fits: whole columns go (least
needed first) and model names are shortened with an ellipsis; a number is never cut."""


def fit_columns(widths: dict[str, int], budget: int) -> tuple[tuple[str, ...], int]:
    """The columns that fit in ``budget`` cells, whole, and the width of the model column.

    Args:
        widths: Natural width of each column (its widest cell or its label).
        budget: Cells the table has for its columns.

    Returns:
        Column keys in table order, and the model column's width (its natural width
        unless names had to be shortened).
    """
    keys = [key for _label, key in COLUMNS if key in widths]
    model = widths.get("model", 0)

    def total() -> int:
        cells = sum(model if k == "model" else widths[k] for k in keys)
        return cells + 2 * CELL_PADDING * len(keys)

    for step, value in NARROWING:
        if total() <= budget:
            break
        if step == "drop" and value in keys:
            keys.remove(str(value))
        elif step == "shorten":
            rest = total() - model
            model = max(int(value), min(model, budget - rest))
    # A column dropped after names were shortened may leave room to show them longer.
    model = max(model, min(widths.get("model", 0), budget - (total() - model)))
    return tuple(keys), model


def elide(text: str, width: int) -> str:
    """``text`` cut to ``width`` cells with an ellipsis when it is longer."""
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


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
        super().__init__(id=id, cursor_type="row", zebra_stripes=True, cell_padding=CELL_PADDING)
        self._rows: dict[str, CatalogRow] = {}
        self._order: list[CatalogRow] = []
        self._note_label = note_label
        self._layout: tuple[tuple[str, ...], int] = ((), 0)
        """The columns shown and the model column's width."""

    def _label(self, key: str) -> str:
        label = next(label for label, k in COLUMNS if k == key)
        return self._note_label if key == "quality" else label

    def _budget(self) -> int:
        """Cells the columns may use: the table's width less its vertical scrollbar."""
        width = self.size.width or self.app.size.width
        return max(width - self.styles.scrollbar_size_vertical, 1)

    def _choose_layout(self, rows: list[CatalogRow]) -> tuple[tuple[str, ...], int]:
        widths = {key: len(self._label(key)) for _label, key in COLUMNS}
        for row in rows:
            for key, cell in self._cells(row).items():
                widths[key] = max(widths[key], cell.cell_len)
        return fit_columns(widths, self._budget())

    def on_resize(self) -> None:
        if self._order and self._choose_layout(self._order) != self._layout:
            self.show_rows(self._order)

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
        layout = self._choose_layout(rows)
        self.clear(columns=layout != self._layout)
        keys, model_width = layout
        if layout != self._layout:
            self._layout = layout
            for key in keys:
                width = model_width if key == "model" else None
                self.add_column(self._label(key), key=key, width=width)
        self._rows = {row.key: row for row in rows}
        self._order = list(rows)
        for row in rows:
            cells = self._cells(row)
            cells["model"] = Text(elide(cells["model"].plain, model_width))
            self.add_row(*(cells[key] for key in keys), key=row.key)
        if current is not None and current.key in self._rows:
            self.move_cursor(row=self.get_row_index(current.key))
        if rows and (chosen := self.current_row) is not None:
            self.post_message(self.RowFocused(chosen))

    def _style(self, name: str) -> str:
        return str(self.get_component_rich_style(f"catalog-table--{name}", partial=True))

    def _cells(self, row: CatalogRow) -> dict[str, Text]:
        plan = row.plan
        speed = f"{plan.predicted_tok_s:.1f}" if plan and plan.placement != "none" else "-"
        size = human_bytes(row.quant.size_bytes)
        if not row.quant.size_exact:
            size = "~" + size
        return {
            "model": Text(printable(row.model.id)),
            "quant": Text(printable(row.quant.name) + _HUB_MARKS.get(row.quant.hub_status, "")),
            "size": Text(size, justify="right"),
            "fit": Text(
                row.verdict + (PAST_TRAINING_MARK if row.past_training else ""),
                style=self._style(row.placement),
            ),
            "tok_s": Text(speed, justify="right"),
            "local": Text("✓" if row.downloaded else "", style=self._style("local")),
            "quality": Text(printable(row.quality), style=self._style("note")),
        }

    @property
    def shown_columns(self) -> tuple[str, ...]:
        """Keys of the columns on show (narrow windows drop some, whole)."""
        return self._layout[0]

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

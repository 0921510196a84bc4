"""The help screen: every key binding, from the classes' BINDINGS and the keymap in force."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from textual.dom import DOMNode


def key_label(keys: str) -> str:
    """Keys as a person types them: ``question_mark`` is ``?``, ``plus,right_square_bracket``
    is ``+ / ]``, ``ctrl+s`` stays ``ctrl+s``."""
    from textual.keys import format_key

    labels = []
    for key in keys.split(","):
        *modifiers, name = key.strip().split("+") if key.strip() != "+" else ["+"]
        shown = _KEY_WORDS.get(name) or format_key(name)
        labels.append("+".join([*modifiers, shown]))
    return " / ".join(labels)


_KEY_WORDS = {"enter": "enter", "escape": "esc", "tab": "tab", "space": "space"}
"""Keys shown as words rather than symbols (``⏎`` reads poorly in a table)."""


def binding_rows(
    owners: Iterable[tuple[str, type[DOMNode]]], keymap: Mapping[str, str]
) -> list[tuple[str, str, str, str]]:
    """``(where, keys, description, id)`` for every described binding of ``owners``."""
    rows: list[tuple[str, str, str, str]] = []
    for where, owner in owners:
        for item in owner.BINDINGS:
            if not isinstance(item, Binding) or not item.description:
                continue
            keys = keymap.get(item.id, item.key) if item.id else item.key
            rows.append((where, key_label(keys), item.description, item.id or ""))
    return rows


class HelpModal(ModalScreen[None]):
    """Every binding of the app, its screens and widgets."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close", id="close_help"),
    ]

    def __init__(self, rows: list[tuple[str, str, str, str]]) -> None:
        super().__init__()
        self._rows = rows

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box", classes="modal-box"):
            yield Label(
                Text("Keys (remap by id under [keymap] in config.toml)"), classes="modal-title"
            )
            yield DataTable[Text](id="help-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("where", "key", "does", "id")
        for row in self._rows:
            table.add_row(*(Text(cell) for cell in row))
        table.focus()

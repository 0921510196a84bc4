"""Search box, filters, sort order and context length of the catalog."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Checkbox, Input, Select

from tui.rows import SORT_KEYS, ctx_choices


@dataclass(frozen=True, slots=True)
class Filters:
    """What the catalog table keeps and in which order."""

    query: str = ""
    fits_only: bool = False
    downloaded_only: bool = False
    family: str = ""
    sort: str = "fit"


FAMILY_MIN_WIDTH = 96
"""Below this width the family filter hides, so search, sort and context stay whole."""


class FilterBar(Horizontal):
    """Catalog controls; posts `Changed` for filters and `ContextRequested` for the context."""

    @dataclass
    class Changed(Message):
        """Search text, a filter or the sort order changed."""

        filters: Filters

    @dataclass
    class ContextRequested(Message):
        """The user picked a context length (the screen owning it decides)."""

        ctx: int

    ctx: reactive[int] = reactive(4096, init=False)
    """The context length shown (set by the screen that owns it)."""

    def __init__(self, *, ctx: int, id: str | None = None) -> None:
        super().__init__(id=id)
        self.set_reactive(FilterBar.ctx, ctx)

    def on_resize(self) -> None:
        # The family filter is the one control a narrow window does without.
        self.query_one("#family", Select).display = self.size.width >= FAMILY_MIN_WIDTH

    def compose(self) -> ComposeResult:
        choices = ctx_choices(self.ctx)
        yield Input(placeholder="/ search", id="search")
        yield Checkbox("fits", id="fits-only")
        yield Checkbox("local", id="downloaded-only")
        yield Select[str]([], prompt="family", id="family")
        yield Select[str](
            [(f"by {key}", key) for key in SORT_KEYS],
            value=SORT_KEYS[0],
            allow_blank=False,
            id="sort",
        )
        yield Select[int](
            [(f"ctx {ctx:,}", ctx) for ctx in choices], value=self.ctx, allow_blank=False, id="ctx"
        )

    @property
    def filters(self) -> Filters:
        """The current filter values."""
        family = self.query_one("#family", Select).value
        sort = self.query_one("#sort", Select).value
        return Filters(
            query=self.query_one("#search", Input).value,
            fits_only=self.query_one("#fits-only", Checkbox).value,
            downloaded_only=self.query_one("#downloaded-only", Checkbox).value,
            family=family if isinstance(family, str) else "",
            sort=sort if isinstance(sort, str) else SORT_KEYS[0],
        )

    def set_families(self, families: list[str]) -> None:
        """Offer these families in the family filter."""
        self.query_one("#family", Select).set_options([(name, name) for name in families])

    def watch_ctx(self, ctx: int) -> None:
        select = self.query_one("#ctx", Select)
        with self.prevent(Select.Changed):
            select.set_options([(f"ctx {c:,}", c) for c in ctx_choices(ctx)])
            select.value = ctx

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.Changed(self.filters))

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        event.stop()
        self.post_message(self.Changed(self.filters))

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.select.id == "ctx":
            if isinstance(event.value, int) and event.value != self.ctx:
                self.post_message(self.ContextRequested(event.value))
        else:
            self.post_message(self.Changed(self.filters))

"""The memory plan as stacked bars: weights / KV / compute / overhead against VRAM and RAM."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from localctl.output import human_bytes

if TYPE_CHECKING:
    from localctl.hardware import Hardware
    from localctl.plan import MemoryPlan

PARTS: tuple[tuple[str, str], ...] = (
    ("weights", "weights"),
    ("kv", "KV"),
    ("compute", "compute"),
    ("overhead", "overhead"),
)
LABEL_WIDTH = 6


class PlanBar(Widget):
    """Stacked bars of one memory plan against the machine's VRAM and RAM."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "plan-bar--weights",
        "plan-bar--kv",
        "plan-bar--compute",
        "plan-bar--overhead",
        "plan-bar--free",
        "plan-bar--over",
        "plan-bar--label",
    }

    DEFAULT_CSS = """
    PlanBar { height: auto; }
    PlanBar > .plan-bar--weights { color: $primary; }
    PlanBar > .plan-bar--kv { color: $secondary; }
    PlanBar > .plan-bar--compute { color: $accent; }
    PlanBar > .plan-bar--overhead { color: $warning; }
    PlanBar > .plan-bar--free { color: $foreground 20%; }
    PlanBar > .plan-bar--over { color: $error; }
    PlanBar > .plan-bar--label { color: $foreground-muted; }
    """

    plan: reactive[MemoryPlan | None] = reactive(None, layout=True)
    """The plan drawn; None draws nothing."""
    hardware: reactive[Hardware | None] = reactive(None, layout=True)
    """The machine the bars are scaled to."""

    def _style(self, name: str) -> str:
        return str(self.get_component_rich_style(f"plan-bar--{name}", partial=True))

    def _bar(self, label: str, used: int, capacity: int, width: int) -> Text:
        """One device bar: the plan's share of each part, then free space."""
        plan = self.plan
        assert plan is not None
        text = Text(f"{label:<{LABEL_WIDTH}}", style=self._style("label"))
        total = max(plan.total_bytes, 1)
        scale = max(capacity, used, 1)
        drawn = 0
        for key, _ in PARTS:
            part_bytes = getattr(plan, f"{key}_bytes") * used / total
            cells = round(part_bytes / scale * width)
            cells = min(cells, width - drawn)
            text.append("█" * cells, style=self._style(key))
            drawn += cells
        over = used > capacity
        text.append("░" * (width - drawn), style=self._style("free"))
        summary = f" {human_bytes(used)} / {human_bytes(capacity)}"
        text.append(summary, style=self._style("over" if over else "label"))
        return text

    def render(self) -> Text:
        plan, hw = self.plan, self.hardware
        if plan is None or hw is None:
            return Text("")
        width = max(10, self.size.width - LABEL_WIDTH - 24)
        lines: list[Text] = []
        if hw.gpus and not hw.unified_memory:
            lines.append(self._bar("VRAM", plan.gpu_bytes, hw.vram_total_bytes, width))
        ram_used = plan.cpu_bytes if hw.gpus and not hw.unified_memory else plan.total_bytes
        lines.append(self._bar("RAM", ram_used, hw.ram_available_bytes, width))
        for pair in (PARTS[:2], PARTS[2:]):
            legend = Text(" " * LABEL_WIDTH)
            for key, name in pair:
                legend.append("█ ", style=self._style(key))
                size = human_bytes(getattr(plan, f"{key}_bytes"))
                legend.append(f"{name} {size:<12}", style=self._style("label"))
            lines.append(legend)
        return Text("\n").join(lines)

"""State every screen reads: the configuration and the command-line choices."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from localctl.config import Config


@dataclass
class TuiContext:
    """Shared, app-owned state handed to screens at construction (attributes down)."""

    config: Config
    hw_profile: str | None = None
    """Simulated hardware profile (``--hw``); None detects this machine."""
    initial_ctx: int = 4096
    """Context length the catalog opens with (``--ctx``, else the config's); the catalog
    screen's ``ctx`` holds the current one."""

"""Chat settings remembered per model: system prompt, temperature and reply length.

Stored as one 0600 JSON table in the data folder (written atomically), keyed by the model
name the server reports; a model nobody has tuned gets the config's system prompt.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from localctl import paths

if TYPE_CHECKING:
    from pathlib import Path

DEFAULT_TEMPERATURE = 0.7
"""Sampling temperature of a model nobody has tuned yet."""

MODEL_SETTINGS_FILE = "tui-model-settings.json"
"""File in the data folder holding the remembered settings of each model (name kept so
settings saved by earlier versions are still found)."""


@dataclass(frozen=True, slots=True)
class ModelSettings:
    """System prompt and sampling settings of one model."""

    model: str = ""
    system_prompt: str = ""
    """Sent before the conversation when not blank."""
    temperature: float | None = DEFAULT_TEMPERATURE
    """None leaves it to the server."""
    max_tokens: int = 0
    """Cap on a reply's tokens; 0 means no limit."""
    seed: int | None = None
    """Sampling seed; None leaves it to the server."""


def _model_settings_path() -> Path:
    return paths.data_dir() / MODEL_SETTINGS_FILE


def model_settings_for(model: str, system_prompt: str = "") -> ModelSettings:
    """The remembered settings of ``model``, or the defaults.

    Args:
        model: Model name (as served).
        system_prompt: System prompt of a model with none remembered (the config's).
    """
    defaults = ModelSettings(model=model, system_prompt=system_prompt)
    try:
        values = json.loads(_model_settings_path().read_text(encoding="utf-8"))[model]
        temperature = values.get("temperature", DEFAULT_TEMPERATURE)
        return ModelSettings(
            model=model,
            system_prompt=str(values.get("system_prompt", system_prompt)),
            temperature=None if temperature is None else float(temperature),
            max_tokens=int(values.get("max_tokens", 0)),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return defaults


def remember_model_settings(settings: ModelSettings) -> None:
    """Store ``settings`` for its model (0600 JSON in the data folder, written atomically).

    Raises:
        OSError: the data folder cannot be written.
    """
    from localctl.config import atomic_write

    path = _model_settings_path()
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(table, dict):
            table = {}
    except (OSError, ValueError):
        table = {}
    table[settings.model] = {
        "system_prompt": settings.system_prompt,
        "temperature": settings.temperature,
        "max_tokens": settings.max_tokens,
    }
    atomic_write(path, json.dumps(table, indent=2).encode("utf-8"))

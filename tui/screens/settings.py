"""The settings screen: edits config.toml (written atomically with tomli-w)."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, TextArea

from localctl.backends import BACKEND_CHOICES, KV_TYPES
from localctl.sanitize import printable

if TYPE_CHECKING:
    from localctl.config import Config


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.replace("\n", ",").split(",") if part.strip())


def validate_config(config: Config) -> Config:
    """Round-trip ``config`` through TOML and the strict loader; returns what the file will hold.

    Raises:
        ConfigError: a value the loader rejects.
    """
    from localctl.config import load_config, save_config

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.toml"
        save_config(config, path)
        return load_config(path)


class SettingsModal(ModalScreen["Config | None"]):
    """Edit and save the configuration; dismisses with the saved config."""

    AUTO_FOCUS = "#model-folders"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss_none", "Cancel", id="cancel_settings"),
        Binding("ctrl+s", "save", "Save", id="save_settings"),
    ]

    def __init__(
        self, config: Config, path: Path | None = None, model: tuple[str, Path] | None = None
    ) -> None:
        """Edit ``config`` (saved to ``path``, default the usual config file).

        Args:
            model: The selected model's name and file, whose draft model the dialog sets.
        """
        super().__init__()
        self._config = config
        self._path = path
        self._model = model

    def compose(self) -> ComposeResult:
        c = self._config
        with Vertical(id="settings-box", classes="modal-box"):
            yield Label("Settings (ctrl+s saves to config.toml)", classes="modal-title")
            with VerticalScroll(id="settings-fields"):
                yield Label("Model folders (comma separated)")
                yield Input(", ".join(c.model_folders), id="model-folders")
                yield Label("Default context length")
                yield Input(str(c.default_ctx), id="default-ctx", type="integer")
                yield Label("KV cache type")
                yield Select[str](
                    [(k, k) for k in KV_TYPES], value=c.kv_type, allow_blank=False, id="kv-type"
                )
                yield Label("Sequences served at once (parallel)")
                yield Input(str(c.parallel), id="parallel", type="integer")
                yield Label("System prompt for new chats")
                yield TextArea(c.system_prompt, id="config-system-prompt")
                yield Label("Electricity price (USD per kWh)")
                yield Input(str(c.cost.electricity_usd_per_kwh), id="electricity", type="number")
                yield Label("Power draw to assume (W, 0 = estimate)")
                yield Input(str(c.cost.power_w), id="power-w", type="number")
                yield Label("Hardware cost (USD) and months to amortise over")
                with Horizontal(classes="settings-pair"):
                    yield Input(str(c.cost.hardware_usd), id="hardware-usd", type="number")
                    yield Input(str(c.cost.hardware_months), id="hardware-months", type="integer")
                yield Label("API models to compare (provider:model, comma separated)")
                yield Input(", ".join(c.cost.api_models), id="api-models")
                yield Label("Server backend")
                yield Select[str](
                    [(b, b) for b in BACKEND_CHOICES],
                    value=c.server.backend,
                    allow_blank=False,
                    id="backend",
                )
                yield Label("llama-server binary (empty: look on PATH)")
                yield Input(c.server.llama_server_path, id="llama-server-path")
                yield Label("Server threads (0 = physical cores)")
                yield Input(str(c.server.threads), id="threads", type="integer")
                yield Label("Server port")
                yield Input(str(c.server.port), id="port", type="integer")
                yield Label("Hugging Face token hint (where you keep HF_TOKEN; never the token)")
                yield Input(c.hf_token_hint, id="hf-token-hint")
                if self._model is not None:
                    name = self._model[0]
                    yield Label(
                        Text(f"Draft model for {name} (GGUF path or id:QUANT; empty: none)")
                    )
                    yield Input(c.drafts.get(name, ""), id="draft-model")
            with Horizontal(classes="modal-buttons"):
                yield Button("Save", variant="primary", id="save")
                yield Button("Cancel", id="cancel")

    def _value(self, widget_id: str) -> str:
        return self.query_one(f"#{widget_id}", Input).value.strip()

    def _select(self, widget_id: str, default: str) -> str:
        value = self.query_one(f"#{widget_id}", Select).value
        return value if isinstance(value, str) else default

    def edited(self) -> Config:
        """The configuration as the fields say.

        Raises:
            ValueError: a number field does not hold a number.
        """
        c = self._config
        drafts = dict(c.drafts)
        if self._model is not None:
            drafts.pop(self._model[0], None)
            if draft := self._value("draft-model"):
                drafts[self._model[0]] = draft
        return dataclasses.replace(
            c,
            drafts=drafts,
            model_folders=_split(self._value("model-folders")),
            default_ctx=int(self._value("default-ctx")),
            kv_type=self._select("kv-type", c.kv_type),
            parallel=int(self._value("parallel")),
            system_prompt=self.query_one("#config-system-prompt", TextArea).text.strip(),
            hf_token_hint=self._value("hf-token-hint"),
            server=dataclasses.replace(
                c.server,
                backend=self._select("backend", c.server.backend),
                port=int(self._value("port")),
                threads=int(self._value("threads")),
                llama_server_path=self._value("llama-server-path"),
            ),
            cost=dataclasses.replace(
                c.cost,
                electricity_usd_per_kwh=float(self._value("electricity")),
                power_w=float(self._value("power-w")),
                hardware_usd=float(self._value("hardware-usd")),
                hardware_months=int(self._value("hardware-months")),
                api_models=_split(self._value("api-models")),
            ),
        )

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        else:
            self.dismiss(None)

    def action_save(self) -> None:
        """Validate, write config.toml atomically and close with the new config."""
        from localctl.config import check_settings, save_config
        from localctl.errors import LocalctlError

        try:
            config = validate_config(self.edited())
            check_settings(config)
        except ValueError as error:
            self.notify(f"Not a number: {error}", severity="error")
            return
        except LocalctlError as error:
            self.notify(str(error).split(": ", 1)[-1], severity="error")
            return
        try:
            self._check_draft(config)
            save_config(config, self._path)
        except LocalctlError as error:
            self.notify(printable(str(error)), severity="error")
            return
        except OSError as error:
            self.notify(f"Cannot write the config: {error}", severity="error")
            return
        self.dismiss(config)

    def _check_draft(self, config: Config) -> None:
        """Refuse a draft model that is not on disk or cannot draft for the model.

        Raises:
            LocalctlError: one line saying why.
        """
        from localctl.session import draft_file

        if self._model is not None:
            name, path = self._model
            draft_file(config.drafts.get(name), name, path, config, pull=False)

    def action_dismiss_none(self) -> None:
        """Close without saving."""
        self.dismiss(None)

"""Small typed modals: confirm, pick a conversation, per-model chat settings."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from localctl.model_settings import ModelSettings
from localctl.sanitize import printable

if TYPE_CHECKING:
    from localctl.conversations import Conversation


class ConfirmModal(ModalScreen[bool]):
    """A yes/no question with optional detail text (shown as plain text)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "answer(False)", "No", id="confirm_no"),
        Binding("y", "answer(True)", "Yes", id="confirm_yes"),
    ]

    def __init__(
        self,
        question: str,
        detail: str = "",
        yes: str = "Yes",
        no: str = "No",
        *,
        default: bool = True,
    ) -> None:
        """Ask ``question``; ``default`` is the button that has the focus (enter picks it)."""
        super().__init__()
        self._question, self._detail, self._yes, self._no = question, detail, yes, no
        self._default = default

    def on_mount(self) -> None:
        self.query_one("#yes" if self._default else "#no", Button).focus()

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box", classes="modal-box"):
            yield Label(Text(printable(self._question)), classes="modal-title")
            if self._detail:
                yield Static(Text(printable(self._detail)), id="confirm-detail")
            with Horizontal(classes="modal-buttons"):
                yield Button(self._yes, variant="primary", id="yes")
                yield Button(self._no, id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        """Close with ``answer``."""
        self.dismiss(answer)


def _conversation_label(conversation: Conversation) -> Text:
    """``date  model  title`` and, for a last reply that did not complete, its status."""
    from localctl.conversations import started

    label = Text(started(conversation), style="dim")
    label.append(f"  {conversation.model or '-'}  ", style="bold")
    label.append(" ".join(conversation.title.split()) or "(untitled)")
    status = conversation.status
    if status not in ("", "complete"):
        label.append(f"  ({status})", style="italic")
    return label


class ConversationModal(ModalScreen[str | None]):
    """Pick one saved conversation."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss_none", "Cancel", id="cancel_pick"),
    ]

    def __init__(self, conversations: list[Conversation]) -> None:
        super().__init__()
        self._conversations = conversations

    def compose(self) -> ComposeResult:
        with Vertical(id="conversation-box", classes="modal-box"):
            yield Label("Load a conversation", classes="modal-title")
            options = [Option(_conversation_label(c), id=c.id) for c in self._conversations]
            yield OptionList(*options, id="conversations")
            if not options:
                yield Label("No saved conversations yet.")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_dismiss_none(self) -> None:
        """Close without a choice."""
        self.dismiss(None)


class ModelSettingsModal(ModalScreen[ModelSettings | None]):
    """System prompt, temperature and reply length for one model."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss_none", "Cancel", id="cancel_model_settings"),
        Binding("ctrl+s", "save", "Save", id="save_model_settings"),
    ]

    def __init__(self, settings: ModelSettings) -> None:
        super().__init__()
        self._settings = settings

    def compose(self) -> ComposeResult:
        s = self._settings
        with Vertical(id="model-settings-box", classes="modal-box"):
            yield Label(Text(f"Chat settings for {s.model or 'this model'}"), classes="modal-title")
            yield Label("System prompt")
            yield TextArea(s.system_prompt, id="system-prompt")
            yield Label("Temperature")
            temperature = "" if s.temperature is None else str(s.temperature)
            yield Input(temperature, id="temperature", type="number")
            yield Label("Max tokens per reply (0 = no limit)")
            yield Input(str(s.max_tokens), id="max-tokens", type="integer")
            with Horizontal(classes="modal-buttons"):
                yield Button("Save", variant="primary", id="save")
                yield Button("Cancel", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        else:
            self.dismiss(None)

    def action_save(self) -> None:
        """Validate and close with the new settings."""
        try:
            typed = self.query_one("#temperature", Input).value.strip()
            temperature = max(0.0, float(typed)) if typed else None
            max_tokens = int(self.query_one("#max-tokens", Input).value or 0)
        except ValueError:
            self.notify("Temperature must be a number, max tokens an integer.", severity="error")
            return
        self.dismiss(
            replace(
                self._settings,
                system_prompt=self.query_one("#system-prompt", TextArea).text,
                temperature=temperature,
                max_tokens=max(0, max_tokens),
            )
        )

    def action_dismiss_none(self) -> None:
        """Close without saving."""
        self.dismiss(None)


class AttachModal(ModalScreen[tuple[str, str | None] | None]):
    """URL and API key of an OpenAI-compatible server to chat with (vLLM, Ollama, another box)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss_none", "Cancel", id="cancel_attach"),
    ]

    def __init__(self, url: str = "") -> None:
        super().__init__()
        self._url = url

    def compose(self) -> ComposeResult:
        with Vertical(id="attach-box", classes="modal-box"):
            yield Label("Attach to an OpenAI-compatible server", classes="modal-title")
            yield Label("Base URL (with or without /v1)")
            yield Input(self._url, placeholder="http://gpu-box:8000", id="attach-url")
            yield Label("API key (empty: none, or the key of a server localctl started)")
            yield Input("", password=True, id="attach-key")
            with Horizontal(classes="modal-buttons"):
                yield Button("Attach", variant="primary", id="attach")
                yield Button("Cancel", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "attach":
            self._submit()
        else:
            self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._submit()

    def _submit(self) -> None:
        url = self.query_one("#attach-url", Input).value.strip()
        if not url.startswith(("http://", "https://")):
            self.notify("The URL must start with http:// or https://", severity="error")
            return
        key = self.query_one("#attach-key", Input).value.strip()
        self.dismiss((url, key or None))

    def action_dismiss_none(self) -> None:
        """Close without attaching."""
        self.dismiss(None)

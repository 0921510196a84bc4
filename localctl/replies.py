"""What a streamed reply is made of: its events, its text, its thinking and its metrics.

:func:`localctl.chat.stream_chat` yields these events; the chat session and both faces
read them. :class:`ThinkSplitter` separates inline ``<think>…</think>`` from the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    pass


Status = Literal["complete", "stopped", "interrupted"]


ERROR_CHARS = 200
"""The most characters of a server's error message shown to a user."""
MAX_SSE_LINE_BYTES = 1 << 20
"""The longest stream line read (a chunk carries a few tokens; a line without end is
refused instead of held in memory)."""


@dataclass(frozen=True, slots=True)
class ReplyMetrics:
    """Timing and token counts of one reply."""

    ttft_s: float
    prompt_tokens: int
    prompt_tok_s: float
    completion_tokens: int
    gen_tok_s: float
    total_s: float
    token_count_source: str = "server"
    """``server`` (usage/timings), ``tokenizer`` (server tokenize endpoint) or ``chunks``."""
    timing_source: str = "client"
    """``server`` when the tok/s rates come from llama-server's ``timings``, ``client``
    when measured here from chunk arrival times."""
    reasoning_tokens: int = 0
    """Thinking tokens, included in ``completion_tokens``."""
    cached_tokens: int = 0
    """Prompt tokens the server reused from its cache (llama-server's ``cache_n``)."""
    draft_tokens: int = 0
    """Tokens a draft model proposed (speculative decoding; llama-server's ``draft_n``)."""
    draft_accepted: int = 0
    """Of those, the tokens the model accepted (``draft_n_accepted``)."""

    @property
    def draft_acceptance(self) -> float | None:
        """Share of drafted tokens accepted, or None without speculative decoding."""
        return self.draft_accepted / self.draft_tokens if self.draft_tokens else None

    @property
    def context_tokens(self) -> int:
        """Tokens the conversation fills in the context after this reply."""
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class Reply:
    """A finished (or stopped, or interrupted) reply."""

    text: str
    finish_reason: str | None
    status: Status
    metrics: ReplyMetrics
    error: str = ""
    malformed_chunks: int = 0
    reasoning: str = ""
    """The model's thinking before its answer (empty for a model that does not think)."""


@dataclass(frozen=True, slots=True)
class TokenDelta:
    """A piece of streamed reply text."""

    text: str


@dataclass(frozen=True, slots=True)
class ThinkingDelta:
    """A piece of the model's streamed thinking (shown apart from the answer)."""

    text: str


@dataclass(frozen=True, slots=True)
class PromptProgress:
    """How far the server has read a long prompt (llama-server's ``prompt_progress``)."""

    processed: int
    """Prompt tokens read so far, cached ones included."""
    total: int
    """Prompt tokens in all."""
    cached: int
    """Tokens reused from the cache (not read again)."""
    elapsed_s: float
    """Seconds since the server began reading the prompt."""

    @property
    def fraction(self) -> float:
        """Share of the prompt read, 0..1."""
        return min(1.0, self.processed / self.total) if self.total > 0 else 0.0


@dataclass(frozen=True, slots=True)
class ReplyDone:
    """The last event of a stream."""

    reply: Reply


ChatEvent = TokenDelta | ThinkingDelta | PromptProgress | ReplyDone

THINK_OPEN = "<think>"

THINK_CLOSE = "</think>"


class ThinkSplitter:
    """Splits streamed content into thinking and answer at inline ``<think>`` tags.

    A tag may arrive cut across chunks: a trailing fragment that could start one is held
    back until the next chunk (or :meth:`flush`) decides.
    """

    def __init__(self) -> None:
        self.inside = False
        """True between ``<think>`` and ``</think>``."""
        self._pending = ""

    def feed(self, text: str) -> list[tuple[bool, str]]:
        """Split ``text``; returns ``(is_thinking, piece)`` pairs in order."""
        buf, self._pending = self._pending + text, ""
        out: list[tuple[bool, str]] = []
        while buf:
            tag = THINK_CLOSE if self.inside else THINK_OPEN
            at = buf.find(tag)
            if at >= 0:
                if at:
                    out.append((self.inside, buf[:at]))
                buf = buf[at + len(tag) :]
                self.inside = not self.inside
                continue
            keep = next(
                (n for n in range(min(len(tag) - 1, len(buf)), 0, -1) if tag.startswith(buf[-n:])),
                0,
            )
            if len(buf) > keep:
                out.append((self.inside, buf[: len(buf) - keep]))
            self._pending = buf[len(buf) - keep :]
            break
        return out

    def flush(self) -> list[tuple[bool, str]]:
        """What is held back, at the end of the stream."""
        pending, self._pending = self._pending, ""
        return [(self.inside, pending)] if pending else []

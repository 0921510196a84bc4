"""What a plan is asked for: context, parallel sequences, KV type, backend, flash attention.

One :class:`PlanRequest` travels from the face that asked (``fit``, ``models``,
``cost --model``, ``serve``, the TUI) to the plan and on to the server it
launches, so all of them plan one model the same way. Its defaults and the
backend ``auto`` stands for are decided once, in :meth:`PlanRequest.from_config`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from catalog import memory
from localctl.backends import BACKEND_CHOICES, KV_TYPES, SERVER_BACKENDS, find_llama_server
from localctl.errors import BadInputError

if TYPE_CHECKING:
    from localctl.config import Config

Backend = Literal["llama-cpp-python", "llama-server"]
"""The server a plan is for; they differ in compute buffer and process size."""
FlashAttn = Literal["on", "off", "auto"]
FLASH_ATTN_CHOICES: tuple[FlashAttn, ...] = ("on", "off", "auto")
"""``auto`` is what the backend does by itself: ``llama-server`` turns flash
attention on wherever the device supports it (CPU, CUDA, Metal), llama-cpp-python
leaves it off; both need it for a quantized KV cache."""
MAX_CTX = 1 << 24
MAX_PARALLEL = 1024


@dataclass(frozen=True, slots=True)
class PlanRequest:
    """The inputs of one plan, checked when made.

    Raises:
        BadInputError: a value is out of range or unknown, or flash attention is off
            with a quantized KV cache (llama.cpp refuses that).
    """

    ctx: int
    """Context per sequence, in tokens."""
    parallel: int = 1
    """Sequences served at once (each gets ``ctx`` cells of KV cache)."""
    kv_type: str = "f16"
    """KV cache type (one of :data:`localctl.backends.KV_TYPES`)."""
    backend: Backend = "llama-cpp-python"
    """The server that will run the model (never ``auto``: see :meth:`from_config`)."""
    flash_attn: FlashAttn = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "kv_type", self.kv_type.lower())
        if self.backend not in SERVER_BACKENDS:
            raise BadInputError(
                f"unknown backend {self.backend} (use {', '.join(SERVER_BACKENDS)})"
            )
        if isinstance(self.ctx, bool) or not 1 <= self.ctx <= MAX_CTX:
            raise BadInputError(f"context {self.ctx} is out of range (1 to {MAX_CTX} tokens)")
        if isinstance(self.parallel, bool) or not 1 <= self.parallel <= MAX_PARALLEL:
            raise BadInputError(f"parallel {self.parallel} is out of range (1 to {MAX_PARALLEL})")
        if self.kv_type not in KV_TYPES:
            raise BadInputError(f"unknown KV type {self.kv_type} (use {', '.join(KV_TYPES)})")
        if self.flash_attn not in FLASH_ATTN_CHOICES:
            raise BadInputError(
                f"unknown flash attention setting {self.flash_attn} (use on, off or auto)"
            )
        if self.flash_attn == "off" and memory.needs_flash_attention(self.kv_type):
            raise BadInputError(
                f"a {self.kv_type} KV cache needs flash attention; use --flash-attn on or auto"
            )

    @property
    def uses_flash_attn(self) -> bool:
        """Whether the server will run with flash attention (``auto`` resolved)."""
        if self.flash_attn != "auto":
            return self.flash_attn == "on"
        return self.backend == "llama-server" or memory.needs_flash_attention(self.kv_type)

    @property
    def native(self) -> bool:
        """True for the native ``llama-server``."""
        return self.backend == "llama-server"

    @classmethod
    def from_config(
        cls,
        config: Config,
        *,
        ctx: int | None = None,
        parallel: int | None = None,
        kv_type: str | None = None,
        backend: str | None = None,
        flash_attn: str | None = None,
    ) -> PlanRequest:
        """The request for ``config`` with the given overrides (None: the config's value).

        ``auto`` (the default backend) becomes ``llama-server`` when a native binary is
        found (``LOCALCTL_LLAMA_SERVER``, ``server.llama_server_path``, PATH), else
        ``llama-cpp-python``. Naming ``llama-server`` plans for it even where no binary
        is installed (a plan is a "what if"; starting the server is what needs it).

        Raises:
            BadInputError: as the constructor.
        """
        chosen = backend or config.server.backend
        if chosen not in BACKEND_CHOICES:
            raise BadInputError(f"unknown backend {chosen} (use {', '.join(BACKEND_CHOICES)})")
        if chosen == "auto":
            found = find_llama_server(config.server.llama_server_path)
            chosen = "llama-server" if found else "llama-cpp-python"
        return cls(
            ctx=config.default_ctx if ctx is None else ctx,
            parallel=config.parallel if parallel is None else parallel,
            kv_type=kv_type or config.kv_type,
            backend="llama-server" if chosen == "llama-server" else "llama-cpp-python",
            flash_attn=_flash_attn(flash_attn or "auto"),
        )


def _flash_attn(value: str) -> FlashAttn:
    for choice in FLASH_ATTN_CHOICES:
        if value == choice:
            return choice
    raise BadInputError(f"unknown flash attention setting {value} (use on, off or auto)")

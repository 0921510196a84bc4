"""Speculative decoding: a small draft model proposes tokens the served model checks.

llama-server runs the draft beside the model (``--model-draft``); the draft must share the
model's vocabulary, which :func:`check_vocab` verifies from both GGUF headers before
anything starts, with llama.cpp's own rule (same tokenizer type and special tokens, at most
:data:`MAX_VOCAB_DIFFERENCE` tokens more or fewer, the same text for every shared token
from id 5 on). :func:`plan_with_draft` adds the draft's weights, KV cache and compute buffer
to the fit plan, placed after the model on what memory is left (the GPU when the model is
fully offloaded and the draft fits there, else RAM).

Whether it pays shows in llama-server's ``timings`` of each reply (``draft_n``,
``draft_n_accepted``): :func:`speedup` is the tokens each pass of the big model yields.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, BinaryIO

from catalog.errors import GgufError
from localctl.errors import BadInputError

if TYPE_CHECKING:
    from pathlib import Path

    from localctl.hardware import Hardware
    from localctl.plan import MemoryPlan

MAX_VOCAB_DIFFERENCE = 128
"""llama.cpp's ``SPEC_VOCAB_MAX_SIZE_DIFFERENCE``."""
CHECK_FROM_TOKEN = 5
"""llama.cpp's ``SPEC_VOCAB_CHECK_START_TOKEN_ID``: the first ids (specials) may differ."""
_MAX_ITEMS = 1 << 22
_MAX_STRING = 1 << 20
_SCALARS = {
    0: "B",
    1: "b",
    2: "H",
    3: "h",
    4: "I",
    5: "i",
    6: "f",
    7: "?",
    10: "Q",
    11: "q",
    12: "d",
}
_WANTED = (
    "tokenizer.ggml.model",
    "tokenizer.ggml.tokens",
    "tokenizer.ggml.bos_token_id",
    "tokenizer.ggml.eos_token_id",
)


@dataclass(frozen=True, slots=True)
class Vocab:
    """What decides whether two models can draft for each other."""

    model: str
    """Tokenizer type (``gpt2``, ``llama``…)."""
    tokens: tuple[str, ...]
    bos: int | None
    eos: int | None


@dataclass(frozen=True, slots=True)
class DraftPlan:
    """Memory of the draft model beside the served one."""

    path: str
    weights_bytes: int
    kv_bytes: int
    compute_bytes: int
    total_bytes: int
    gpu_bytes: int
    cpu_bytes: int
    gpu_layers: int
    n_layers: int
    placement: str
    """``gpu``, ``partial``, ``cpu`` or ``none`` (it does not fit beside the model)."""


def _read(handle: BinaryIO, fmt: str) -> tuple[object, ...]:
    size = struct.calcsize(fmt)
    data = handle.read(size)
    if len(data) != size:
        raise GgufError(f"{handle.name}: the GGUF header ends early")
    return struct.unpack(fmt, data)


def _string(handle: BinaryIO) -> str:
    (length,) = _read(handle, "<Q")
    assert isinstance(length, int)
    if length > _MAX_STRING:
        raise GgufError(f"{handle.name}: a GGUF string of {length} bytes")
    return handle.read(length).decode("utf-8", "replace")


def _value(handle: BinaryIO, kind: int, keep: bool) -> object:
    if kind == 8:
        return _string(handle)
    if kind == 9:
        (item_kind, count) = _read(handle, "<IQ")
        assert isinstance(item_kind, int) and isinstance(count, int)
        if count > _MAX_ITEMS:
            raise GgufError(f"{handle.name}: a GGUF array of {count} items")
        if item_kind in _SCALARS and not keep:
            handle.seek(count * struct.calcsize("<" + _SCALARS[item_kind]), 1)
            return None
        items = [_value(handle, item_kind, keep) for _ in range(count)]
        return items if keep else None
    if kind not in _SCALARS:
        raise GgufError(f"{handle.name}: unknown GGUF value type {kind}")
    return _read(handle, "<" + _SCALARS[kind])[0]


def read_vocab(path: Path) -> Vocab:
    """The tokenizer facts of a GGUF file (its header only).

    Raises:
        GgufError: not a readable GGUF file.
    """
    found: dict[str, object] = {}
    try:
        with path.open("rb", buffering=1 << 20) as handle:
            if handle.read(4) != b"GGUF":
                raise GgufError(f"{path}: not a GGUF file")
            (_version, _tensors, n_kv) = _read(handle, "<IQQ")
            assert isinstance(n_kv, int)
            for _ in range(min(n_kv, _MAX_ITEMS)):
                key = _string(handle)
                (kind,) = _read(handle, "<I")
                assert isinstance(kind, int)
                value = _value(handle, kind, keep=key in _WANTED)
                if key in _WANTED:
                    found[key] = value
                if len(found) == len(_WANTED):
                    break
    except OSError as error:
        raise GgufError(f"{path}: {error.strerror or error}") from error
    tokens = found.get("tokenizer.ggml.tokens")
    bos, eos = found.get("tokenizer.ggml.bos_token_id"), found.get("tokenizer.ggml.eos_token_id")
    return Vocab(
        model=str(found.get("tokenizer.ggml.model", "")),
        tokens=tuple(str(t) for t in tokens) if isinstance(tokens, list) else (),
        bos=bos if isinstance(bos, int) else None,
        eos=eos if isinstance(eos, int) else None,
    )


def check_vocab(model: Path, draft: Path) -> None:
    """Refuse a draft whose vocabulary differs from the model's (llama.cpp's rule).

    Raises:
        BadInputError: naming what differs.
        GgufError: a file is not a readable GGUF.
    """
    ours, theirs = read_vocab(model), read_vocab(draft)
    name = f"{draft.name} cannot draft for {model.name}"
    if not ours.tokens or not theirs.tokens:
        raise BadInputError(f"{name}: a file has no vocabulary in its header")
    if ours.model != theirs.model:
        raise BadInputError(f"{name}: tokenizers differ ({theirs.model} vs {ours.model})")
    if (ours.bos, ours.eos) != (theirs.bos, theirs.eos):
        raise BadInputError(
            f"{name}: special tokens differ (BOS/EOS {theirs.bos}/{theirs.eos} "
            f"vs {ours.bos}/{ours.eos})"
        )
    if abs(len(ours.tokens) - len(theirs.tokens)) > MAX_VOCAB_DIFFERENCE:
        raise BadInputError(
            f"{name}: vocabularies differ in size ({len(theirs.tokens):,} vs "
            f"{len(ours.tokens):,} tokens)"
        )
    for index in range(CHECK_FROM_TOKEN, min(len(ours.tokens), len(theirs.tokens))):
        if ours.tokens[index] != theirs.tokens[index]:
            raise BadInputError(
                f"{name}: token {index} differs ({theirs.tokens[index]!r} vs "
                f"{ours.tokens[index]!r})"
            )


def plan_with_draft(main: MemoryPlan, draft_path: Path, hw: Hardware) -> MemoryPlan:
    """``main`` with the draft model's memory added where it will sit.

    The draft is planned with the same request (context, sequences, KV type, backend) on
    the memory the model leaves free; the totals, GPU and RAM shares of the returned plan
    include it, and ``draft`` holds its own breakdown. A draft that does not fit makes the
    whole plan ``none``.
    """
    from localctl.plan import plan
    from localctl.shape import shape_from_file

    gpus = list(hw.gpus)
    left_gpu = main.gpu_bytes
    for index, gpu in enumerate(gpus):
        used = min(left_gpu, gpu.free_bytes)
        gpus[index] = replace(gpu, free_bytes=gpu.free_bytes - used)
        left_gpu -= used
    rest = replace(
        hw, gpus=tuple(gpus), ram_available_bytes=max(0, hw.ram_available_bytes - main.cpu_bytes)
    )
    own = plan(shape_from_file(draft_path), rest, main.request)
    draft = DraftPlan(
        path=str(draft_path),
        weights_bytes=own.weights_bytes,
        kv_bytes=own.kv_bytes,
        compute_bytes=own.compute_bytes,
        total_bytes=own.total_bytes - own.overhead_bytes,
        gpu_bytes=own.gpu_bytes,
        cpu_bytes=own.cpu_bytes - own.overhead_bytes,
        gpu_layers=own.gpu_layers,
        n_layers=own.n_layers,
        placement=own.placement,
    )
    combined = replace(
        main,
        total_bytes=main.total_bytes + draft.total_bytes,
        gpu_bytes=main.gpu_bytes + draft.gpu_bytes,
        cpu_bytes=main.cpu_bytes + draft.cpu_bytes,
        expected_rss_bytes=main.expected_rss_bytes + max(0, draft.weights_bytes - draft.gpu_bytes),
        draft=draft,
    )
    if own.placement == "none" and main.placement != "none":
        combined = replace(
            combined, placement="none", reason=f"the draft model does not fit: {own.reason}"
        )
    return combined


def speedup(predicted_tokens: int, accepted: int) -> float | None:
    """Tokens each pass of the served model yields: (accepted + checked) ÷ passes.

    Each pass checks the drafted tokens and adds one of its own, so ``predicted_tokens``
    took ``predicted_tokens - accepted`` passes; without a draft it takes one per token.
    This is the speed-up before the draft's own cost.
    """
    passes = predicted_tokens - accepted
    return predicted_tokens / passes if passes > 0 and accepted else None

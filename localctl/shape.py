"""Where a model's bytes sit: per-block weights, embedding, output head, matrices.

A shape comes from GGUF headers (exact) or from catalog numbers and a quant's file
size (estimated); the fit plan (:mod:`localctl.plan`) places it on a machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from catalog import memory

if TYPE_CHECKING:
    from catalog.gguf import GgufInfo, GgufSet
    from catalog.schema import ArchSpec, ModelSpec


@dataclass(frozen=True, slots=True)
class ModelShape:
    """Where a model's bytes sit, as the placement needs them."""

    arch: ArchSpec
    layer_bytes: tuple[int, ...]
    """Weights of each block."""
    layer_active_bytes: tuple[int, ...]
    """Weights of each block one decode step reads (less than ``layer_bytes`` for MoE)."""
    embd_bytes: int
    """Token embedding (always in RAM)."""
    output_bytes: int
    """Output head and other non-block tensors."""
    tied_output: bool = False
    """The output head is the embedding matrix (llama.cpp copies it to the GPU)."""
    kv_heads_per_layer: tuple[int, ...] = ()
    swa_layers: tuple[bool, ...] = ()
    matrices: tuple[tuple[int, str, str, tuple[int, ...], int], ...] = ()
    """``(layer or -1, name, ggml type, dims, bytes)`` of every weight matrix, for
    the CPU repack copy (:func:`catalog.memory.repacked_bytes`); empty when the
    shape is estimated from catalog numbers."""
    active_params: int = 0
    """Block parameters one token passes through (MoE: the experts in use; 0 when
    unknown): the FLOPs of prompt processing. The output head is not counted: a prompt
    computes logits for its last token only (llama-server and llama-bench alike)."""
    quant: str = ""
    """Quant name (``Q4_K_M``): K- and I-quants cost more arithmetic per weight to decode."""
    layer_expert_bytes: tuple[int, ...] = ()
    """Routed-expert weights of each block (``*_exps``; empty for a dense model): what
    ``--n-cpu-moe`` keeps in RAM."""

    @property
    def expert_ratio(self) -> float:
        """Share of a block's routed experts one token uses (``experts_used / experts``)."""
        arch = self.arch
        return arch.n_experts_used / arch.n_experts if arch.n_experts else 1.0

    @property
    def weights_bytes(self) -> int:
        """All weights as stored in the file(s)."""
        return sum(self.layer_bytes) + self.embd_bytes + self.output_bytes

    def repack_bytes(self, cpu_kind: str) -> tuple[list[int], int]:
        """The CPU repack copy per block and of the non-block matrices (output head)."""
        per_layer = [0] * self.arch.n_layers
        other = 0
        for layer, name, type_name, dims, n_bytes in self.matrices:
            copy = memory.repacked_bytes(name, type_name, dims, n_bytes, cpu_kind)
            if 0 <= layer < len(per_layer):
                per_layer[layer] += copy
            else:
                other += copy
        return per_layer, other


def shape_from_gguf(info: GgufInfo, extra: tuple[GgufInfo, ...] = ()) -> ModelShape:
    """The :class:`ModelShape` of a GGUF file (plus the other parts of a split set)."""
    arch = info.arch
    layers = [0] * arch.n_layers
    active = [0] * arch.n_layers
    experts = [0] * arch.n_layers
    ratio = arch.n_experts_used / arch.n_experts if arch.n_experts else 1.0
    embd = output = params = 0
    has_output = False
    matrices = []
    for tensor in (t for part in (info, *extra) for t in part.tensors):
        layer = tensor.layer
        if len(tensor.dims) in (2, 3):
            matrices.append(
                (
                    -1 if layer is None else layer,
                    tensor.name,
                    tensor.type_name,
                    tensor.dims,
                    tensor.n_bytes,
                )
            )
        if layer is not None and 0 <= layer < arch.n_layers:
            layers[layer] += tensor.n_bytes
            active[layer] += int(tensor.n_bytes * ratio) if tensor.is_expert else tensor.n_bytes
            experts[layer] += tensor.n_bytes if tensor.is_expert else 0
            params += int(tensor.n_elements * ratio) if tensor.is_expert else tensor.n_elements
        elif tensor.name == "token_embd.weight":
            embd += tensor.n_bytes
        else:
            output += tensor.n_bytes
            has_output = has_output or tensor.name == "output.weight"
    return ModelShape(
        arch=arch,
        layer_bytes=tuple(layers),
        layer_active_bytes=tuple(active),
        embd_bytes=embd,
        output_bytes=output,
        tied_output=not has_output,
        kv_heads_per_layer=info.n_kv_heads_per_layer,
        swa_layers=info.swa_layers,
        matrices=tuple(matrices),
        active_params=params,
        quant=info.file_type,
        layer_expert_bytes=tuple(experts) if any(experts) else (),
    )


def shape_from_catalog(model: ModelSpec, size_bytes: int, quant: str = "") -> ModelShape:
    """A :class:`ModelShape` estimated from catalog numbers and the quant's file size.

    The embedding and output head are each ``n_vocab x n_embd`` weights at the
    file's average bits per weight (one matrix when the model ties them); the
    rest is spread evenly over the blocks.
    """
    arch = model.arch
    n_layers = max(1, arch.n_layers)
    bits = size_bytes * 8 / model.params if model.params else 8.0
    embd = min(size_bytes // 4, int(arch.n_vocab * arch.n_embd * bits / 8))
    output = 0 if arch.tied_embeddings else embd
    per_layer = max(0, size_bytes - embd - output) // n_layers
    remainder = max(0, size_bytes - embd - output) - per_layer * n_layers
    layers = [per_layer] * n_layers
    layers[-1] += remainder
    if model.active_params and model.active_params < model.params:
        active_total = model.active_params * bits / 8 - embd - output
        fraction = min(1.0, max(0.0, active_total / max(1, sum(layers))))
    else:
        fraction = 1.0
    embd_params = arch.n_vocab * arch.n_embd
    # A block is dense weights D plus routed experts E, of which a token reads the share
    # r: active = D + rE = f(D + E), so E = (1 - f) / (1 - r) of the block.
    ratio = arch.n_experts_used / arch.n_experts if arch.n_experts else 1.0
    expert_share = (1 - fraction) / (1 - ratio) if fraction < 1 and ratio < 1 else 0.0
    return ModelShape(
        arch=arch,
        layer_bytes=tuple(layers),
        layer_active_bytes=tuple(int(b * fraction) for b in layers),
        embd_bytes=embd,
        output_bytes=output,
        tied_output=arch.tied_embeddings,
        active_params=int(
            (model.active_params or model.params) - embd_params * (1 if arch.tied_embeddings else 2)
        ),
        quant=quant,
        layer_expert_bytes=tuple(int(b * min(1.0, expert_share)) for b in layers)
        if expert_share
        else (),
    )


def shape_from_gguf_set(gguf_set: GgufSet) -> ModelShape:
    """The :class:`ModelShape` of GGUF headers already read (a local or a remote model)."""
    return shape_from_gguf(gguf_set.first, gguf_set.parts[1:])


def shape_from_file(path: Path) -> ModelShape:
    """The :class:`ModelShape` of a local GGUF file (a split set's other parts too).

    Raises:
        GgufError: the file is malformed or a part of the set is missing.
    """
    from catalog.gguf import read_gguf_set

    return shape_from_gguf_set(read_gguf_set(path))


def shape_for_quant(model: ModelSpec, quant: str) -> ModelShape:
    """The estimated :class:`ModelShape` of a catalog model x quant (case-insensitive).

    Raises:
        CatalogError: the model has no such quant.
    """
    from localctl.errors import CatalogError

    spec = model.quant(quant)
    if spec is None:
        names = ", ".join(q.name for q in model.quants) or "none"
        raise CatalogError(f"{model.id} has no quant {quant} (available: {names})")
    return shape_from_catalog(model, spec.size_bytes, spec.name)

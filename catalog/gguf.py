"""Read the header of a GGUF file: metadata, tensor table and architecture numbers.

The parser works on any byte source with random access (a local file, or HTTP
range requests in :mod:`localctl.remote_gguf`) and reads only the header, so a
file of hundreds of GB is described in milliseconds.

GGUF files come from strangers on the internet, and llama.cpp has had heap
overflows in exactly this parsing, so every length is checked before it is
used: counts and lengths are bounded by fixed limits *and* by the bytes left
in the file, huge arrays (the tokenizer vocabulary) are skipped and only
counted, tensor shapes are checked for overflow and tensor data must lie
inside the file. Anything wrong raises :class:`~localctl.errors.GgufError`
with one line of text.
"""

from __future__ import annotations

import os
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from catalog.errors import GgufError
from catalog.filenames import split_part, split_part_name
from catalog.schema import ArchSpec

if TYPE_CHECKING:
    from collections.abc import Iterator

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32

MAX_TENSORS = 1 << 16
"""More tensors than any real model has (DeepSeek-V3 has under 2,000)."""
MAX_KV_PAIRS = 1 << 16
MAX_KEY_BYTES = 1 << 16
MAX_STRING_BYTES = 1 << 28
"""Longest string value accepted (skipped, never kept, when over ``KEEP_STRING_BYTES``)."""
MAX_ARRAY_ITEMS = 1 << 26
MAX_STRING_ITEMS = 1 << 21
"""String arrays are walked item by item; 2M is several times the largest real vocabulary."""
MAX_NESTED_ITEMS = 1 << 16
"""Arrays of arrays (rare in real files) are parsed recursively, so kept short."""
MAX_NESTED_TOTAL = 1 << 16
"""Items of arrays of arrays in the whole header (llama.cpp itself reads none)."""
MAX_PARSE_CPU_S = 10.0
"""CPU seconds one header may cost (a real 9 MB vocabulary takes well under one)."""
MAX_ARRAY_DEPTH = 3
MAX_TENSOR_NAME_BYTES = 63
"""llama.cpp's ``GGML_MAX_NAME`` is 64 including the terminating NUL."""
MAX_DIMS = 4
MAX_DIM = 1 << 40
MAX_ALIGNMENT = 1 << 20
MAX_HEADER_BYTES = 64 << 20
"""Metadata and tensor table must end within this many bytes (real headers,
vocabulary included, stay under 20 MB)."""
KEEP_STRING_BYTES = 1 << 16
"""Strings longer than this are skipped rather than kept in ``metadata``."""
KEEP_ARRAY_ITEMS = 4096
"""Arrays longer than this are counted (``array_lengths``), not kept."""

_CHUNK = 1 << 20

# Value types of GGUF metadata.
_UINT8, _INT8, _UINT16, _INT16, _UINT32, _INT32, _FLOAT32, _BOOL = range(8)
_STRING, _ARRAY, _UINT64, _INT64, _FLOAT64 = range(8, 13)

_SCALAR_FORMATS: dict[int, str] = {
    _UINT8: "<B",
    _INT8: "<b",
    _UINT16: "<H",
    _INT16: "<h",
    _UINT32: "<I",
    _INT32: "<i",
    _FLOAT32: "<f",
    _BOOL: "<B",
    _UINT64: "<Q",
    _INT64: "<q",
    _FLOAT64: "<d",
}
_SCALAR_SIZES: dict[int, int] = {t: struct.calcsize(f) for t, f in _SCALAR_FORMATS.items()}
_TYPE_NAMES: dict[int, str] = {
    _UINT8: "uint8",
    _INT8: "int8",
    _UINT16: "uint16",
    _INT16: "int16",
    _UINT32: "uint32",
    _INT32: "int32",
    _FLOAT32: "float32",
    _BOOL: "bool",
    _STRING: "string",
    _ARRAY: "array",
    _UINT64: "uint64",
    _INT64: "int64",
    _FLOAT64: "float64",
}
_INT_TYPES = frozenset({_UINT8, _INT8, _UINT16, _INT16, _UINT32, _INT32, _UINT64, _INT64})

GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34),
    9: ("Q8_1", 32, 40),
    10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210),
    15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66),
    17: ("IQ2_XS", 256, 74),
    18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50),
    20: ("IQ4_NL", 32, 18),
    21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82),
    23: ("IQ4_XS", 256, 136),
    24: ("I8", 1, 1),
    25: ("I16", 1, 2),
    26: ("I32", 1, 4),
    27: ("I64", 1, 8),
    28: ("F64", 1, 8),
    29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2),
    34: ("TQ1_0", 256, 54),
    35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17),
    40: ("NVFP4", 64, 36),
    41: ("Q1_0", 128, 18),
}
"""ggml type id → (name, elements per block, bytes per block); same figures as
``gguf.constants.GGML_QUANT_SIZES`` (a test keeps them in step)."""

FILE_TYPES: dict[int, str] = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
    36: "TQ1_0",
    37: "TQ2_0",
    38: "MXFP4_MOE",
    39: "NVFP4",
    40: "Q1_0",
}
"""``general.file_type`` → quant name as written in file names."""

SWA_PATTERNS: dict[str, int] = {"gemma2": 2, "gemma3": 6, "cohere2": 4, "gpt-oss": 2, "exaone4": 4}
"""Architectures whose sliding window llama.cpp honours, with the
:attr:`ArchSpec.swa_pattern` it uses (every n-th layer attends to the full context)."""


class ByteSource(Protocol):
    """Random access to the bytes of a GGUF file."""

    def read_at(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes from ``offset``; fewer only at the end of the file."""
        ...

    def size_bytes(self) -> int | None:
        """Total size of the file, or None when the source cannot tell."""
        ...


class FileSource:
    """A :class:`ByteSource` over a local file (positional reads, no seeking state)."""

    def __init__(self, path: Path) -> None:
        """Open ``path`` for reading.

        Raises:
            GgufError: the file cannot be opened.
        """
        self.path = path
        try:
            self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        except OSError as error:
            raise GgufError(f"cannot read {path}: {error.strerror or error}") from None
        self._size = os.fstat(self._fd).st_size

    def read_at(self, offset: int, size: int) -> bytes:
        """Bytes ``[offset, offset+size)``, shorter at the end of the file."""
        try:
            return os.pread(self._fd, size, offset)
        except OSError as error:
            raise GgufError(f"cannot read {self.path}: {error.strerror or error}") from None

    def size_bytes(self) -> int:
        """Size of the file in bytes."""
        return self._size

    def close(self) -> None:
        """Close the file descriptor."""
        os.close(self._fd)

    def __enter__(self) -> FileSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class BytesSource:
    """A :class:`ByteSource` over bytes already in memory (tests, a fetched prefix)."""

    def __init__(self, data: bytes, size: int | None = None) -> None:
        """Serve ``data``; ``size`` is the full file size when ``data`` is only its start."""
        self._data = data
        self._size = len(data) if size is None else size

    def read_at(self, offset: int, size: int) -> bytes:
        """Bytes ``[offset, offset+size)`` of ``data``."""
        return self._data[offset : offset + size]

    def size_bytes(self) -> int:
        """The file size given (or the length of ``data``)."""
        return self._size


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """One entry of the tensor table."""

    name: str
    dims: tuple[int, ...]
    """Shape, innermost dimension first (as stored)."""
    ggml_type: int
    type_name: str
    offset: int
    """Offset of the data relative to the start of the data section."""
    n_bytes: int

    @property
    def n_elements(self) -> int:
        """Number of elements in the tensor."""
        count = 1
        for dim in self.dims:
            count *= dim
        return count

    @property
    def layer(self) -> int | None:
        """Block index for ``blk.N.*`` tensors, else None."""
        if not self.name.startswith("blk."):
            return None
        head = self.name[4:].split(".", 1)[0]
        return int(head) if head.isdigit() else None

    @property
    def is_expert(self) -> bool:
        """True for routed-expert tensors of a MoE model (``*_exps``)."""
        return "_exps" in self.name


@dataclass(frozen=True, slots=True)
class GgufInfo:
    """What a GGUF header says about the model in the file."""

    version: int
    arch: ArchSpec
    file_type: str
    """Quant name like ``Q4_K_M`` (from ``general.file_type``, else the dominant tensor type)."""
    metadata: dict[str, object]
    """Metadata values, small ones only (long strings and arrays are left out)."""
    array_lengths: dict[str, int]
    """Length of every array in the metadata, kept or not."""
    tensors: tuple[TensorInfo, ...]
    tensor_bytes: int
    """Total bytes of tensor data."""
    data_offset: int
    """Where the data section starts in the file."""
    alignment: int
    file_size: int | None
    n_kv_heads_per_layer: tuple[int, ...] = ()
    """Per-layer KV head counts when the file gives an array (empty when uniform)."""
    swa_layers: tuple[bool, ...] = ()
    """Per-layer sliding-window flags when the file gives them (empty otherwise)."""
    split_count: int = 1
    """``split.count``: number of files in a split set (1 for a single file)."""
    name: str = ""
    """``general.name``."""

    def layer_bytes(self) -> list[int]:
        """Tensor bytes of each ``blk.N`` block, index = layer."""
        per_layer = [0] * self.arch.n_layers
        for tensor in self.tensors:
            layer = tensor.layer
            if layer is not None and 0 <= layer < len(per_layer):
                per_layer[layer] += tensor.n_bytes
        return per_layer


class _Cursor:
    """Sequential reads over a :class:`ByteSource` with bounds checks and a small buffer."""

    def __init__(self, source: ByteSource) -> None:
        self.source = source
        self.size = source.size_bytes()
        self.pos = 0
        self._buf = b""
        self._buf_start = 0
        self.nested_left = MAX_NESTED_TOTAL
        # Thread CPU time: waiting on a slow remote source is not the parser's work.
        self._cpu_deadline = time.thread_time() + MAX_PARSE_CPU_S

    def check_time(self) -> None:
        """Refuse to go on once this header has cost ``MAX_PARSE_CPU_S`` of CPU."""
        if time.thread_time() > self._cpu_deadline:
            raise GgufError(
                f"GGUF header still unparsed after {MAX_PARSE_CPU_S:.0f} s of CPU at offset "
                f"{self.pos}; refusing to read on"
            )

    def remaining(self) -> int | None:
        return None if self.size is None else self.size - self.pos

    def _check_limit(self, n: int) -> None:
        if self.pos + n > MAX_HEADER_BYTES:
            raise GgufError(
                f"GGUF header runs past {MAX_HEADER_BYTES >> 20} MiB; refusing to read on"
            )

    def _truncated(self, need: int) -> GgufError:
        return GgufError(f"truncated GGUF header: needs {need} bytes at offset {self.pos}")

    def _ensure(self, n: int) -> memoryview:
        start = self.pos - self._buf_start
        if start >= 0 and start + n <= len(self._buf):
            return memoryview(self._buf)[start : start + n]
        if self.size is not None and self.pos + n > self.size:
            raise self._truncated(n)
        self._check_limit(n)
        data = self.source.read_at(self.pos, max(n, _CHUNK))
        if len(data) < n:
            raise self._truncated(n)
        self._buf, self._buf_start = data, self.pos
        return memoryview(self._buf)[0:n]

    def take(self, n: int) -> bytes:
        view = self._ensure(n)
        self.pos += n
        return bytes(view)

    def skip(self, n: int) -> None:
        if self.size is not None and self.pos + n > self.size:
            raise self._truncated(n)
        self._check_limit(n)
        self.pos += n

    def skip_strings(self, count: int, what: str) -> None:
        """Skip ``count`` length-prefixed strings without keeping them (the tokenizer)."""
        unpack = struct.unpack_from
        for index in range(count):
            if not index & 0xFFFF:
                self.check_time()
            start = self.pos - self._buf_start
            if start >= 0 and start + 8 <= len(self._buf):
                length = unpack("<Q", self._buf, start)[0]
                self.pos += 8
            else:
                length = self.u64()
            if length > MAX_STRING_BYTES:
                raise GgufError(f"absurd {what} length {length} at offset {self.pos - 8}")
            self.skip(length)

    def unpack(self, fmt: str, size: int) -> int | float:
        view = self._ensure(size)
        self.pos += size
        value: int | float = struct.unpack_from(fmt, view)[0]
        return value

    def u32(self) -> int:
        return int(self.unpack("<I", 4))

    def u64(self) -> int:
        return int(self.unpack("<Q", 8))


def _check_count(cursor: _Cursor, count: int, min_item_bytes: int, limit: int, what: str) -> None:
    """Reject a count that exceeds ``limit`` or could not fit in the bytes left."""
    if count > limit:
        raise GgufError(f"absurd {what} {count} (limit {limit}) at offset {cursor.pos}")
    left = cursor.remaining()
    if left is not None and count * min_item_bytes > left:
        raise GgufError(
            f"{what} {count} cannot fit in the {left} bytes left (truncated or corrupt)"
        )


def _read_string(cursor: _Cursor, limit: int, what: str, keep: bool = True) -> str | None:
    length = cursor.u64()
    if length > limit:
        raise GgufError(f"absurd {what} length {length} at offset {cursor.pos - 8}")
    left = cursor.remaining()
    if left is not None and length > left:
        raise GgufError(f"{what} length {length} runs past the end of the file")
    if not keep or length > KEEP_STRING_BYTES:
        cursor.skip(length)
        return None
    raw = cursor.take(length)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise GgufError(f"{what} at offset {cursor.pos - length} is not valid UTF-8") from None


def _read_value(
    cursor: _Cursor, vtype: int, key: str, depth: int, lengths: dict[str, int]
) -> object:
    """One metadata value; None when it was skipped because it is too big to keep."""
    fmt = _SCALAR_FORMATS.get(vtype)
    if fmt is not None:
        value = cursor.unpack(fmt, _SCALAR_SIZES[vtype])
        return bool(value) if vtype == _BOOL else value
    if vtype == _STRING:
        return _read_string(cursor, MAX_STRING_BYTES, f"string value of {key}")
    if vtype == _ARRAY:
        if depth >= MAX_ARRAY_DEPTH:
            raise GgufError(f"arrays nested too deep in {key}")
        item_type = cursor.u32()
        count = cursor.u64()
        if item_type not in _TYPE_NAMES:
            raise GgufError(f"unknown array item type {item_type} in {key}")
        min_item = _SCALAR_SIZES.get(item_type, 8 if item_type == _STRING else 12)
        limit = {_STRING: MAX_STRING_ITEMS, _ARRAY: MAX_NESTED_ITEMS}.get(
            item_type, MAX_ARRAY_ITEMS
        )
        _check_count(cursor, count, min_item, limit, f"array length of {key}")
        if depth == 0:
            lengths[key] = count
        keep = count <= KEEP_ARRAY_ITEMS
        if item_type in _SCALAR_SIZES and not keep:
            cursor.skip(count * _SCALAR_SIZES[item_type])
            return None
        if item_type in _SCALAR_SIZES:
            size = _SCALAR_SIZES[item_type]
            raw = cursor.take(count * size)
            fmt_item = _SCALAR_FORMATS[item_type]
            items = [v[0] for v in struct.iter_unpack(fmt_item, raw)]
            return [bool(v) for v in items] if item_type == _BOOL else items
        if item_type == _STRING:
            if not keep:
                cursor.skip_strings(count, f"item of {key}")
                return None
            return [_read_string(cursor, MAX_STRING_BYTES, f"item of {key}") for _ in range(count)]
        cursor.nested_left -= count
        if cursor.nested_left < 0:
            raise GgufError(
                f"more than {MAX_NESTED_TOTAL} items in arrays of arrays (at {key}); "
                "refusing to read on"
            )
        cursor.check_time()
        nested = [_read_value(cursor, item_type, key, depth + 1, lengths) for _ in range(count)]
        return nested if keep and None not in nested else None
    raise GgufError(f"unknown value type {vtype} for key {key}")


def _read_tensor_info(cursor: _Cursor, index: int) -> tuple[str, tuple[int, ...], int, int]:
    name = _read_string(cursor, MAX_TENSOR_NAME_BYTES, f"name of tensor {index}")
    if not name:
        raise GgufError(f"tensor {index} has an empty name")
    n_dims = cursor.u32()
    if not 1 <= n_dims <= MAX_DIMS:
        raise GgufError(f"tensor {name} has {n_dims} dimensions (1 to {MAX_DIMS} allowed)")
    dims = tuple(cursor.u64() for _ in range(n_dims))
    for dim in dims:
        if dim >= 1 << 63:
            raise GgufError(f"tensor {name} has a negative dimension")
        if not 1 <= dim <= MAX_DIM:
            raise GgufError(f"tensor {name} has an absurd dimension {dim}")
    ggml_type = cursor.u32()
    offset = cursor.u64()
    return name, dims, ggml_type, offset


def _tensor_bytes(name: str, dims: tuple[int, ...], ggml_type: int) -> tuple[str, int]:
    spec = GGML_TYPES.get(ggml_type)
    if spec is None:
        raise GgufError(f"tensor {name} has unknown ggml type {ggml_type}")
    type_name, block, block_bytes = spec
    if dims[0] % block:
        raise GgufError(f"tensor {name}: first dimension {dims[0]} is not a multiple of {block}")
    elements = 1
    for dim in dims:
        elements *= dim
    if elements >= 1 << 62:
        raise GgufError(f"tensor {name} is absurdly large ({elements} elements)")
    return type_name, elements // block * block_bytes


def parse_gguf(source: ByteSource, *, need_arch: bool = True) -> GgufInfo:
    """Parse a GGUF v2/v3 header from any byte source.

    Args:
        source: random access to the file's bytes (local or remote).
        need_arch: require the architecture keys; later parts of a split set
            carry only tensors, so they are read with ``need_arch=False``.

    Returns:
        The header, the tensor table and the architecture numbers.

    Raises:
        GgufError: the bytes are not a well-formed GGUF file, or hold values
            this reader refuses to trust (one line naming what is wrong).
    """
    cursor = _Cursor(source)
    if cursor.size is not None and cursor.size < 24:
        raise GgufError(f"not a GGUF file: only {cursor.size} bytes")
    magic = cursor.take(4)
    if magic != GGUF_MAGIC:
        raise GgufError(f"not a GGUF file (magic {magic!r}, expected b'GGUF')")
    version = cursor.u32()
    if version not in SUPPORTED_VERSIONS:
        raise GgufError(f"unsupported GGUF version {version} (this reader supports 2 and 3)")
    tensor_count = cursor.u64()
    kv_count = cursor.u64()
    _check_count(cursor, tensor_count, 8 + 1 + 4 + 8 + 4 + 8, MAX_TENSORS, "tensor count")
    _check_count(cursor, kv_count, 8 + 1 + 4 + 1, MAX_KV_PAIRS, "metadata count")

    metadata: dict[str, object] = {}
    types: dict[str, int] = {}
    lengths: dict[str, int] = {}
    for index in range(kv_count):
        key = _read_string(cursor, MAX_KEY_BYTES, f"key {index}")
        if not key:
            raise GgufError(f"metadata key {index} is empty")
        if key in types:
            raise GgufError(f"duplicate metadata key {key}")
        vtype = cursor.u32()
        types[key] = vtype
        cursor.check_time()
        value = _read_value(cursor, vtype, key, 0, lengths)
        if value is not None:
            metadata[key] = value

    alignment = _alignment(metadata, types)
    raw_tensors = []
    names: set[str] = set()
    for index in range(tensor_count):
        cursor.check_time()
        name, dims, ggml_type, offset = _read_tensor_info(cursor, index)
        if name in names:
            raise GgufError(f"duplicate tensor name {name}")
        names.add(name)
        raw_tensors.append((name, dims, ggml_type, offset))

    data_offset = -(-cursor.pos // alignment) * alignment
    data_size = None if cursor.size is None else cursor.size - data_offset
    tensors = []
    for name, dims, ggml_type, offset in raw_tensors:
        type_name, n_bytes = _tensor_bytes(name, dims, ggml_type)
        if offset % alignment:
            raise GgufError(f"tensor {name} offset {offset} is not aligned to {alignment}")
        if data_size is not None and offset + n_bytes > data_size:
            raise GgufError(
                f"tensor {name} data ({n_bytes} bytes at {offset}) lies beyond the end of the file"
            )
        tensors.append(TensorInfo(name, dims, ggml_type, type_name, offset, n_bytes))
    _check_overlap(tensors)

    if need_arch or "general.architecture" in types:
        arch, kv_heads, swa_layers = _arch_spec(metadata, types, lengths, tensors)
    else:
        arch, kv_heads, swa_layers = ArchSpec("", 0, 0, 0, 0, 0, 0, 0, 0), (), ()
    split_count = _opt_int(metadata, types, "split.count") or 1
    name_value = metadata.get("general.name")
    return GgufInfo(
        version=version,
        arch=arch,
        file_type=_file_type(metadata, types, tensors),
        metadata=metadata,
        array_lengths=lengths,
        tensors=tuple(tensors),
        tensor_bytes=sum(t.n_bytes for t in tensors),
        data_offset=data_offset,
        alignment=alignment,
        file_size=cursor.size,
        n_kv_heads_per_layer=kv_heads,
        swa_layers=swa_layers,
        split_count=split_count,
        name=name_value if isinstance(name_value, str) else "",
    )


def read_gguf(path: Path, *, need_arch: bool = True) -> GgufInfo:
    """Read the header of a local GGUF file (only the header is read).

    Args:
        path: the ``.gguf`` file (for a split set, the first part).
        need_arch: see :func:`parse_gguf`.

    Returns:
        The parsed header.

    Raises:
        GgufError: the file is missing, unreadable, malformed or hostile.
    """
    if not path.is_file():
        what = "not a regular file" if path.exists() else "no such GGUF file"
        raise GgufError(f"{what}: {path}")
    with FileSource(path) as source:
        try:
            return parse_gguf(source, need_arch=need_arch)
        except GgufError as error:
            raise GgufError(f"{path.name}: {error}") from None


def _check_overlap(tensors: list[TensorInfo]) -> None:
    end = 0
    previous = ""
    for tensor in sorted(tensors, key=lambda t: t.offset):
        if tensor.offset < end:
            raise GgufError(f"tensors {previous} and {tensor.name} overlap")
        end = tensor.offset + tensor.n_bytes
        previous = tensor.name


def _alignment(metadata: dict[str, object], types: dict[str, int]) -> int:
    value = _opt_int(metadata, types, "general.alignment")
    if value is None:
        return DEFAULT_ALIGNMENT
    if value <= 0 or value & (value - 1) or value > MAX_ALIGNMENT:
        raise GgufError(f"general.alignment {value} is not a power of two up to {MAX_ALIGNMENT}")
    return value


def _opt_int(metadata: dict[str, object], types: dict[str, int], key: str) -> int | None:
    if key not in types:
        return None
    if types[key] not in _INT_TYPES:
        raise GgufError(
            f"metadata {key} has type {_TYPE_NAMES.get(types[key])}, expected an integer"
        )
    value = metadata[key]
    assert isinstance(value, int)
    return value


def _int_or_layers(
    metadata: dict[str, object], types: dict[str, int], key: str
) -> tuple[int, ...] | None:
    """An integer key that may also be given per layer as an array of integers."""
    if key not in types:
        return None
    if types[key] in _INT_TYPES:
        scalar = _opt_int(metadata, types, key)
        assert scalar is not None
        return (scalar,)
    items = metadata.get(key)
    if (
        types[key] == _ARRAY
        and isinstance(items, list)
        and items
        and all(isinstance(v, int) and not isinstance(v, bool) for v in items)
    ):
        return tuple(int(v) for v in items)
    raise GgufError(f"metadata {key} has type {_TYPE_NAMES.get(types[key])}, expected an integer")


def _bounded(value: int, key: str, low: int, high: int) -> int:
    if not low <= value <= high:
        raise GgufError(f"metadata {key} = {value} is out of range ({low} to {high})")
    return value


def _arch_spec(
    metadata: dict[str, object],
    types: dict[str, int],
    lengths: dict[str, int],
    tensors: list[TensorInfo],
) -> tuple[ArchSpec, tuple[int, ...], tuple[bool, ...]]:
    arch = metadata.get("general.architecture")
    if "general.architecture" not in types:
        raise GgufError("missing general.architecture")
    if not isinstance(arch, str) or not arch:
        raise GgufError("general.architecture is not a string")

    def get(name: str, *, low: int = 0, high: int = 1 << 24) -> int | None:
        key = f"{arch}.{name}"
        value = _opt_int(metadata, types, key)
        return None if value is None else _bounded(value, key, low, high)

    def layered(name: str, *, low: int = 0, high: int = 1 << 24) -> tuple[int, ...] | None:
        key = f"{arch}.{name}"
        values = _int_or_layers(metadata, types, key)
        if values is not None:
            for value in values:
                _bounded(value, key, low, high)
        return values

    n_layers = get("block_count", low=1, high=1 << 14)
    n_embd = get("embedding_length", low=1, high=1 << 20)
    if n_layers is None or n_embd is None:
        raise GgufError(f"missing {arch}.block_count or {arch}.embedding_length")
    heads = layered("attention.head_count", high=1 << 16) or (0,)
    kv_heads = layered("attention.head_count_kv", high=1 << 16) or heads
    for values, key in ((heads, "head_count"), (kv_heads, "head_count_kv")):
        if len(values) not in (1, n_layers):
            raise GgufError(
                f"{arch}.attention.{key} has {len(values)} entries for {n_layers} layers"
            )
    n_heads, n_kv_heads = max(heads), max(kv_heads)
    if n_kv_heads > n_heads > 0:
        raise GgufError(f"{arch}: more KV heads ({n_kv_heads}) than heads ({n_heads})")
    default_head = n_embd // n_heads if n_heads else 0
    key_length = get("attention.key_length", high=1 << 16)
    value_length = get("attention.value_length", high=1 << 16)
    ff = layered("feed_forward_length", high=1 << 24)
    expert_ff = get("expert_feed_forward_length", high=1 << 24)
    window = get("attention.sliding_window", high=1 << 30) or 0
    n_experts = get("expert_count", high=1 << 16) or 0
    n_experts_used = get("expert_used_count", high=1 << 16) or 0
    kv_lora_rank = get("attention.kv_lora_rank", high=1 << 16) or 0
    rope_dim = get("rope.dimension_count", high=1 << 16) or 0
    # llama.cpp switches MLA on by these two keys alone (llama_hparams::is_mla);
    # a file with kv_lora_rank but without them predates the MLA conversion and
    # runs with the full per-head K/V cache.
    key_length_mla = get("attention.key_length_mla", high=1 << 16) or 0
    value_length_mla = get("attention.value_length_mla", high=1 << 16) or 0
    split_count = _opt_int(metadata, types, "split.count") or 1
    has_output = any(t.name == "output.weight" for t in tensors)
    ctx_train = get("context_length", low=0, high=1 << 30) or 0

    n_vocab = lengths.get("tokenizer.ggml.tokens") or get("vocab_size", high=1 << 24) or 0
    if not n_vocab:
        embd = next((t for t in tensors if t.name == "token_embd.weight"), None)
        n_vocab = embd.dims[1] if embd is not None and len(embd.dims) > 1 else 0

    swa_layers: tuple[bool, ...] = ()
    pattern_key = f"{arch}.attention.sliding_window_pattern"
    pattern_value = metadata.get(pattern_key)
    swa_pattern = SWA_PATTERNS.get(arch, 0) if window else 0
    if isinstance(pattern_value, list) and len(pattern_value) == n_layers:
        swa_layers = tuple(bool(v) for v in pattern_value)
    elif isinstance(pattern_value, int) and not isinstance(pattern_value, bool) and window:
        swa_pattern = _bounded(pattern_value, pattern_key, 0, 1 << 16)

    spec = ArchSpec(
        architecture=arch,
        n_layers=n_layers,
        n_embd=n_embd,
        n_heads=n_heads,
        n_kv_heads=n_kv_heads,
        key_length=key_length if key_length is not None else default_head,
        value_length=value_length if value_length is not None else default_head,
        n_vocab=n_vocab,
        ctx_train=ctx_train,
        n_ff=expert_ff if n_experts and expert_ff else (max(ff) if ff else 0),
        sliding_window=window if (swa_pattern or swa_layers) else 0,
        swa_pattern=swa_pattern,
        n_experts=n_experts,
        n_experts_used=n_experts_used,
        kv_lora_rank=kv_lora_rank,
        rope_dim=rope_dim if kv_lora_rank else 0,
        key_length_mla=key_length_mla if value_length_mla else 0,
        value_length_mla=value_length_mla if key_length_mla else 0,
        tied_embeddings=split_count <= 1 and not has_output and bool(tensors),
    )
    per_layer_kv = kv_heads if len(kv_heads) == n_layers and len(set(kv_heads)) > 1 else ()
    return spec, per_layer_kv, swa_layers


def _file_type(
    metadata: dict[str, object], types: dict[str, int], tensors: list[TensorInfo]
) -> str:
    if "general.file_type" in types and types["general.file_type"] in _INT_TYPES:
        value = metadata.get("general.file_type")
        if isinstance(value, int) and value in FILE_TYPES:
            return FILE_TYPES[value]
    by_type: dict[str, int] = {}
    for tensor in tensors:
        by_type[tensor.type_name] = by_type.get(tensor.type_name, 0) + tensor.n_bytes
    return max(by_type, key=lambda k: by_type[k]) if by_type else "unknown"


def iter_split_paths(first: Path, count: int) -> Iterator[Path]:
    """Paths of a ``-00001-of-0000N.gguf`` split set, given its first part.

    Yields ``first`` alone when its name does not follow the split pattern.
    """
    if count <= 1 or split_part(first.name) != (1, count):
        yield first
        return
    for part in range(1, count + 1):
        yield first.with_name(split_part_name(first.name, part))


@dataclass(frozen=True, slots=True)
class GgufSet:
    """A model spread over one or more GGUF files (a split set)."""

    first: GgufInfo
    parts: tuple[GgufInfo, ...] = field(default=())

    @property
    def tensors(self) -> tuple[TensorInfo, ...]:
        """Tensors of every part."""
        return tuple(t for part in self.parts for t in part.tensors)

    @property
    def tensor_bytes(self) -> int:
        """Tensor data of every part."""
        return sum(part.tensor_bytes for part in self.parts)


def read_gguf_set(path: Path) -> GgufSet:
    """Read every part of a split set (or the one file) starting from its first part.

    Raises:
        GgufError: a part is missing or malformed.
    """
    first = read_gguf(path)
    if first.split_count <= 1:
        return GgufSet(first, (first,))
    if first.split_count > 1024:
        raise GgufError(f"{path.name}: absurd split.count {first.split_count}")
    paths = list(iter_split_paths(path, first.split_count))
    if len(paths) == 1:
        return GgufSet(first, (first,))
    parts = [first] + [read_gguf(p, need_arch=False) for p in paths[1:]]
    return GgufSet(first, tuple(parts))

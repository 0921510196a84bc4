"""GGUF header reading: the real model, every value type, and hostile files rejected fast."""

from __future__ import annotations

import struct
import tracemalloc
from pathlib import Path

import pytest

from catalog.gguf import GGML_TYPES, BytesSource, parse_gguf, read_gguf, read_gguf_set
from localctl.errors import GgufError
from tests.fit_helpers import (
    ARRAY,
    BOOL,
    FLOAT32,
    FLOAT64,
    INT8,
    INT16,
    INT32,
    INT64,
    STRING,
    UINT8,
    UINT16,
    UINT32,
    UINT64,
    TinyModel,
    gguf_string,
    kv_scalar,
    kv_str,
    kv_u32_array,
    tensor_info,
)


def parse(data: bytes):
    return parse_gguf(BytesSource(data))


def assert_rejected(data: bytes, fragment: str = "") -> str:
    with pytest.raises(GgufError) as caught:
        parse(data)
    message = str(caught.value)
    assert "\n" not in message and message
    assert fragment.lower() in message.lower(), message
    return message


def test_reads_smollm2_architecture_and_tensor_sizes(smollm2_path: Path) -> None:
    info = read_gguf(smollm2_path)
    arch = info.arch
    assert (arch.architecture, arch.n_layers, arch.n_embd) == ("llama", 30, 576)
    assert (arch.n_heads, arch.n_kv_heads, arch.key_length, arch.value_length) == (9, 3, 64, 64)
    assert (arch.n_vocab, arch.ctx_train, arch.n_ff) == (49152, 8192, 1536)
    assert info.file_type == "Q4_1"
    assert len(info.tensors) == 272
    # llama.cpp reports "CPU_Mapped model buffer size = 92.10 MiB" for this file.
    assert info.tensor_bytes == 96_576_768
    assert info.array_lengths["tokenizer.ggml.tokens"] == 49152
    assert "tokenizer.ggml.tokens" not in info.metadata  # counted, not kept
    assert info.metadata["general.architecture"] == "llama"
    assert sum(info.layer_bytes()) + 30_081_024 + 2304 == info.tensor_bytes
    assert info.data_offset + info.tensor_bytes <= smollm2_path.stat().st_size


def test_own_type_table_matches_gguf_package() -> None:
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    for type_id, (name, block, size) in GGML_TYPES.items():
        quant = GGMLQuantizationType(type_id)
        assert quant.name == name
        assert GGML_QUANT_SIZES[quant] == (block, size)


def test_every_metadata_value_type_is_read() -> None:
    extra = (
        kv_scalar("t.u8", UINT8, 200),
        kv_scalar("t.i8", INT8, -5),
        kv_scalar("t.u16", UINT16, 60000),
        kv_scalar("t.i16", INT16, -300),
        kv_scalar("t.f32", FLOAT32, 1.5),
        kv_scalar("t.bool", BOOL, 1),
        kv_scalar("t.u64", UINT64, 1 << 40),
        kv_scalar("t.i64", INT64, -(1 << 40)),
        kv_scalar("t.f64", FLOAT64, 2.25),
        kv_str("t.str", "héllo"),
        kv_u32_array("t.arr", [1, 2, 3]),
        gguf_string("t.nested")
        + struct.pack("<IIQ", ARRAY, ARRAY, 2)
        + struct.pack("<IQ", UINT8, 2)
        + b"\x01\x02"
        + struct.pack("<IQ", STRING, 1)
        + gguf_string("x"),
    )
    info = parse(TinyModel(extra_kv=extra).build())
    md = info.metadata
    assert (md["t.u8"], md["t.i8"], md["t.u16"], md["t.i16"]) == (200, -5, 60000, -300)
    assert (md["t.f32"], md["t.bool"], md["t.u64"], md["t.i64"]) == (1.5, True, 1 << 40, -(1 << 40))
    assert (md["t.f64"], md["t.str"], md["t.arr"]) == (2.25, "héllo", [1, 2, 3])
    assert md["t.nested"] == [[1, 2], ["x"]]
    assert info.array_lengths["t.arr"] == 3


def test_per_layer_kv_heads_array_and_explicit_head_sizes() -> None:
    model = TinyModel(n_layers=3)
    kvs = [k for k in model.kvs() if b"head_count_kv" not in k]
    kvs += [
        kv_u32_array("llama.attention.head_count_kv", [2, 0, 4]),
        kv_scalar("llama.attention.key_length", UINT32, 24),
        kv_scalar("llama.attention.value_length", UINT32, 8),
    ]
    info = parse(model.build(kvs=kvs))
    assert info.arch.n_kv_heads == 4
    assert info.n_kv_heads_per_layer == (2, 0, 4)
    assert (info.arch.key_length, info.arch.value_length) == (24, 8)


def test_vocab_falls_back_to_embedding_shape() -> None:
    model = TinyModel()
    kvs = [k for k in model.kvs() if b"tokenizer.ggml.tokens" not in k]
    assert parse(model.build(kvs=kvs)).arch.n_vocab == model.n_vocab


def test_gemma3_sliding_window_pattern() -> None:
    kvs = [
        kv_str("general.architecture", "gemma3"),
        kv_scalar("gemma3.block_count", UINT32, 12),
        kv_scalar("gemma3.embedding_length", UINT32, 64),
        kv_scalar("gemma3.attention.head_count", UINT32, 4),
        kv_scalar("gemma3.attention.head_count_kv", UINT32, 1),
        kv_scalar("gemma3.attention.sliding_window", UINT32, 512),
    ]
    info = parse(TinyModel().build(kvs=kvs, tensors=[]))
    assert (info.arch.sliding_window, info.arch.swa_pattern) == (512, 6)


def test_deepseek2_mla_numbers() -> None:
    kvs = [
        kv_str("general.architecture", "deepseek2"),
        kv_scalar("deepseek2.block_count", UINT32, 61),
        kv_scalar("deepseek2.embedding_length", UINT32, 7168),
        kv_scalar("deepseek2.attention.head_count", UINT32, 128),
        kv_scalar("deepseek2.attention.head_count_kv", UINT32, 128),
        kv_scalar("deepseek2.attention.kv_lora_rank", UINT32, 512),
        kv_scalar("deepseek2.rope.dimension_count", UINT32, 64),
        kv_scalar("deepseek2.expert_count", UINT32, 256),
        kv_scalar("deepseek2.expert_used_count", UINT32, 8),
        kv_scalar("deepseek2.expert_feed_forward_length", UINT32, 2048),
        kv_scalar("deepseek2.feed_forward_length", UINT32, 18432),
    ]
    arch = parse(TinyModel().build(kvs=kvs, tensors=[])).arch
    assert (arch.kv_lora_rank, arch.rope_dim) == (512, 64)
    assert (arch.n_experts, arch.n_experts_used, arch.n_ff) == (256, 8, 2048)


def test_split_set_reads_every_part(tmp_path: Path) -> None:
    model = TinyModel()
    first = model.build(kvs=[*model.kvs(), kv_scalar("split.count", UINT16, 2)])
    second = model.build(
        kvs=[kv_scalar("split.count", UINT16, 2)],
        tensors=[("blk.1.ffn_up.weight", (64, 64), 1, 0)],
    )
    (tmp_path / "m-00001-of-00002.gguf").write_bytes(first)
    (tmp_path / "m-00002-of-00002.gguf").write_bytes(second)
    gguf_set = read_gguf_set(tmp_path / "m-00001-of-00002.gguf")
    assert gguf_set.tensor_bytes == gguf_set.first.tensor_bytes + 64 * 64 * 2
    (tmp_path / "m-00002-of-00002.gguf").unlink()
    with pytest.raises(GgufError, match="no such GGUF file"):
        read_gguf_set(tmp_path / "m-00001-of-00002.gguf")


# --- hostile and malformed files -------------------------------------------------------------

GOOD = TinyModel().build()
HEADER_END = len(TinyModel().build(data=False))


def test_bad_magic() -> None:
    assert_rejected(b"GGML" + GOOD[4:], "not a GGUF file")


def test_empty_and_tiny_files() -> None:
    assert_rejected(b"", "not a GGUF file")
    assert_rejected(b"GGUF\x03\x00", "not a GGUF file")


@pytest.mark.parametrize("version", [0, 1, 4, 0xFFFFFFFF])
def test_unsupported_versions(version: int) -> None:
    assert_rejected(GOOD[:4] + struct.pack("<I", version) + GOOD[8:], "unsupported GGUF version")


def test_truncated_at_every_header_offset() -> None:
    for cut in range(0, HEADER_END + 1):
        with pytest.raises(GgufError):
            parse(GOOD[:cut])


def test_truncated_real_header_at_many_offsets(smollm2_path: Path) -> None:
    header = smollm2_path.read_bytes()[: 1_785_664 + 64]
    for cut in [*range(0, 4096, 97), *range(4096, len(header), len(header) // 40)]:
        assert_rejected(header[:cut])


def test_data_section_truncated_is_rejected() -> None:
    assert_rejected(GOOD[:-1], "beyond the end of the file")


def counts(tensors: int, kvs: int) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", 3, tensors, kvs)


@pytest.mark.parametrize(
    ("tensors", "kvs", "fragment"),
    [
        (1 << 63, 1, "tensor count"),
        (2**64 - 1, 0, "tensor count"),
        (0, 1 << 62, "metadata count"),
        (60_000, 0, "cannot fit"),
        (100_000, 0, "tensor count"),
        (0, 60_000, "cannot fit"),
    ],
)
def test_absurd_counts(tensors: int, kvs: int, fragment: str) -> None:
    assert_rejected(counts(tensors, kvs) + b"\0" * 64, fragment)


def test_huge_counts_do_not_allocate() -> None:
    tracemalloc.start()
    try:
        assert_rejected(counts(1 << 40, 1 << 40) + b"\0" * 1024)
        assert_rejected(
            counts(0, 1) + gguf_string("k") + struct.pack("<IIQ", ARRAY, UINT8, 1 << 60)
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20


def test_huge_key_length() -> None:
    assert_rejected(counts(0, 1) + struct.pack("<Q", 1 << 62) + b"abc" * 32, "key 0 length")


def test_huge_string_value_length() -> None:
    body = gguf_string("k") + struct.pack("<IQ", STRING, 1 << 40) + b"x" * 16
    assert_rejected(counts(0, 1) + body, "string value of k")


def test_string_value_longer_than_file() -> None:
    body = gguf_string("k") + struct.pack("<IQ", STRING, 1000) + b"x" * 16
    assert_rejected(counts(0, 1) + body, "past the end")


@pytest.mark.parametrize(
    ("item_type", "length"),
    [(UINT8, 1 << 60), (STRING, 1 << 40), (UINT64, 10_000), (ARRAY, 1 << 50)],
)
def test_huge_array_lengths(item_type: int, length: int) -> None:
    body = gguf_string("k") + struct.pack("<IIQ", ARRAY, item_type, length) + b"\0" * 64
    assert_rejected(counts(0, 1) + body, "array length of k")


def test_arrays_nested_too_deep() -> None:
    body = gguf_string("k") + struct.pack("<I", ARRAY)
    body += struct.pack("<IQ", ARRAY, 1) * 5 + struct.pack("<IQ", UINT8, 1) + b"\0"
    assert_rejected(counts(0, 1) + body + b"\0" * 64, "nested too deep")


@pytest.mark.parametrize("vtype", [13, 255, 0xFFFFFFFF])
def test_unknown_value_type(vtype: int) -> None:
    body = gguf_string("k") + struct.pack("<I", vtype) + b"\0" * 32
    assert_rejected(counts(0, 1) + body, "unknown value type")


def test_unknown_array_item_type() -> None:
    body = gguf_string("k") + struct.pack("<IIQ", ARRAY, 77, 1) + b"\0" * 32
    assert_rejected(counts(0, 1) + body, "unknown array item type")


def test_non_utf8_key() -> None:
    body = gguf_string(b"\xff\xfe") + struct.pack("<I", UINT8) + b"\0" * 32
    assert_rejected(counts(0, 1) + body, "not valid UTF-8")


def test_duplicate_key() -> None:
    kvs = TinyModel().kvs()
    assert_rejected(TinyModel().build(kvs=[*kvs, kvs[3]]), "duplicate metadata key")


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("llama.block_count", kv_str("llama.block_count", "thirty"), "expected an integer"),
        ("llama.block_count", kv_scalar("llama.block_count", UINT32, 0), "out of range"),
        ("llama.block_count", kv_scalar("llama.block_count", INT32, -3), "out of range"),
        (
            "llama.embedding_length",
            kv_scalar("llama.embedding_length", UINT64, 1 << 50),
            "out of range",
        ),
        (
            "llama.attention.head_count",
            kv_scalar("llama.attention.head_count", FLOAT32, 4.0),
            "expected an integer",
        ),
        (
            "llama.attention.head_count_kv",
            kv_scalar("llama.attention.head_count_kv", UINT32, 64),
            "more KV heads",
        ),
        (
            "llama.attention.head_count_kv",
            kv_u32_array("llama.attention.head_count_kv", [1, 1, 1, 1, 1]),
            "entries for 2 layers",
        ),
        ("general.architecture", kv_scalar("general.architecture", UINT32, 7), "not a string"),
    ],
)
def test_wrong_types_and_values_of_known_keys(key: str, value: bytes, fragment: str) -> None:
    model = TinyModel()
    kvs = [k for k in model.kvs() if not k.startswith(gguf_string(key))] + [value]
    assert_rejected(model.build(kvs=kvs), fragment)


def test_missing_architecture() -> None:
    model = TinyModel()
    kvs = [k for k in model.kvs() if b"general.architecture" not in k]
    assert_rejected(model.build(kvs=kvs), "general.architecture")


def test_bad_alignment() -> None:
    model = TinyModel()
    for value in (0, 3, 1 << 30):
        kvs = [*model.kvs(), kv_scalar("general.alignment", UINT32, value)]
        assert_rejected(model.build(kvs=kvs), "general.alignment")


def build_with_tensor(name: str, dims: tuple[int, ...], ggml_type: int, offset: int) -> bytes:
    return TinyModel().build(tensors=[(name, dims, ggml_type, offset)])


@pytest.mark.parametrize(
    ("dims", "ggml_type", "offset", "fragment"),
    [
        ((), 1, 0, "dimensions"),
        ((1, 1, 1, 1, 1), 1, 0, "dimensions"),
        ((64, 0), 1, 0, "absurd dimension"),
        ((64, 2**64 - 1), 1, 0, "negative dimension"),
        ((64, 1 << 63), 1, 0, "negative dimension"),
        ((1 << 40, 1 << 40), 1, 0, "absurdly large"),
        ((1 << 41, 2), 1, 0, "absurd dimension"),
        ((64, 64), 99, 0, "unknown ggml type"),
        ((33, 1), 2, 0, "not a multiple of 32"),
        ((64, 64), 1, 1 << 40, "beyond the end"),
        ((64, 64), 1, 2**64 - 32, "beyond the end"),
        ((64, 64), 1, 7, "not aligned"),
    ],
)
def test_bad_tensor_infos(
    dims: tuple[int, ...], ggml_type: int, offset: int, fragment: str
) -> None:
    data = TinyModel().build(tensors=[("w", dims, ggml_type, offset)], data=False)
    assert_rejected(data + b"\0" * 8192, fragment)


def test_tensor_name_too_long_or_empty() -> None:
    assert_rejected(build_with_tensor("x" * 64, (64,), 0, 0), "name of tensor 0 length")
    assert_rejected(build_with_tensor("", (64,), 0, 0), "empty name")


def test_duplicate_and_overlapping_tensors() -> None:
    dup = [("a", (64,), 0, 0), ("a", (64,), 0, 256)]
    assert_rejected(TinyModel().build(tensors=dup), "duplicate tensor")
    overlap = [("a", (64,), 0, 0), ("b", (64,), 0, 128)]
    assert_rejected(TinyModel().build(tensors=overlap), "overlap")


def test_tensor_table_past_end_of_file() -> None:
    data = TinyModel().build(data=False)
    extra = tensor_info("w", (64,), 0, 0)
    patched = data[:8] + struct.pack("<Q", 50) + data[16:]
    assert_rejected(patched[: len(data)] + extra)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(GgufError, match="no such GGUF file"):
        read_gguf(tmp_path / "absent.gguf")


def test_directory_and_devices_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(GgufError, match="not a regular file"):
        read_gguf(tmp_path)
    with pytest.raises(GgufError, match="not a regular file"):
        read_gguf(Path("/dev/zero"))


def test_huge_sparse_file_reads_header_only(tmp_path: Path) -> None:
    path = tmp_path / "big.gguf"
    model = TinyModel()
    header = model.build(tensors=[("w", (256, 1 << 30), 1, 0)], data=False)
    with path.open("wb") as handle:
        handle.write(header)
        handle.truncate(len(header) + 256 * (1 << 30) * 2)  # a 512 GiB sparse file
    info = read_gguf(path)  # the header alone is read (bench/hostile.py times it)
    assert info.tensor_bytes == 512 << 30


def test_header_longer_than_64_mib_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "long-header.gguf"
    body = gguf_string("k") + struct.pack("<IQ", STRING, 65 << 20)
    with path.open("wb") as handle:
        handle.write(counts(0, 1) + body)
        handle.truncate(70 << 20)
    with pytest.raises(GgufError, match="runs past 64 MiB"):
        read_gguf(path)


def million_token_header() -> bytes:
    """A header whose vocabulary array holds a million (empty) strings."""
    body = gguf_string("tokenizer.ggml.tokens") + struct.pack("<IIQ", ARRAY, STRING, 1_000_000)
    body += struct.pack("<Q", 0) * 1_000_000
    return counts(0, 1) + body


def test_a_million_tokens_are_counted() -> None:
    info = parse_gguf(BytesSource(million_token_header()), need_arch=False)
    assert info.array_lengths["tokenizer.ggml.tokens"] == 1_000_000

"""The curated catalog: required models, sane numbers, split sets, user overrides, errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from catalog.errors import CatalogError
from catalog.loader import SPLIT_LIMIT_BYTES, load_catalog
from catalog.quants import QUANT_TYPES, bits_per_weight

REQUIRED = [
    "llama-3.3-70b",
    "qwen2.5-72b",
    "qwen2.5-32b",
    "qwen2.5-coder-32b",
    "qwen2.5-coder-7b",
    "mistral-small-3.2-24b",
    "mistral-7b",
    "phi-4",
    "phi-4-mini",
    "llama-3.1-8b",
    "llama-3.2-1b",
    "llama-3.2-3b",
    "qwen2.5-0.5b",
    "qwen2.5-1.5b",
    "qwen2.5-3b",
    "qwen2.5-7b",
    "qwen3-4b",
    "qwen3-8b",
    "qwen3-14b",
    "qwen3-32b",
    "qwen3-30b-a3b",
    "qwen3-coder-30b-a3b",
    "qwen3-next-80b-a3b",
    "deepseek-r1-0528-qwen3-8b",
    "deepseek-r1-distill-qwen-7b",
    "gpt-oss-20b",
    "gpt-oss-120b",
    "llama-4-scout",
    "smollm2-135m",
    "smollm2-1.7b",
    "gemma-2-2b",
    "gemma-3-270m",
    "gemma-3-1b",
    "gemma-3-4b",
    "gemma-3-12b",
    "gemma-3-27b",
]


@pytest.mark.parametrize("model_id", REQUIRED)
def test_required_model_is_present_with_consistent_numbers(model_id: str) -> None:
    model = load_catalog().get(model_id)
    arch = model.arch
    assert arch.n_heads % arch.n_kv_heads == 0
    assert arch.ctx_train >= 2048
    assert model.license and model.repo.count("/") == 1
    for quant in model.quants:
        assert quant.files and all(f.endswith(".gguf") for f in quant.files)
        if not quant.size_exact:
            expected = model.params * bits_per_weight(quant.name) / 8
            assert quant.size_bytes == pytest.approx(expected, rel=0.05, abs=10_000_000)


def test_moe_rows_carry_experts_and_active_parameters() -> None:
    catalog = load_catalog()
    for model_id, experts, used in (
        ("qwen3-30b-a3b", 128, 8),
        ("gpt-oss-20b", 32, 4),
        ("gpt-oss-120b", 128, 4),
        ("llama-4-scout", 16, 1),
    ):
        model = catalog.get(model_id)
        assert (model.arch.n_experts, model.arch.n_experts_used) == (experts, used)
        assert 0 < model.active_params < model.params / 4


def test_sliding_window_rows_carry_their_window() -> None:
    catalog = load_catalog()
    assert catalog.get("gpt-oss-20b").arch.sliding_window == 128
    assert catalog.get("gemma-3-4b").arch.sliding_window == 1024
    assert catalog.get("gemma-3-4b").arch.swa_pattern == 6


# (layers, embedding, heads, KV heads, head dim, FFN per expert, vocab, context,
#  experts, experts used, window, SWA pattern) as the checked sources give them;
# each row's ``arch_source`` names what was read.
CHECKED_ARCH = {
    "qwen3-4b": (36, 2560, 32, 8, 128, 9728, 151_936, 40_960, 0, 0, 0, 0),
    "qwen3-8b": (36, 4096, 32, 8, 128, 12_288, 151_936, 40_960, 0, 0, 0, 0),
    "qwen3-14b": (40, 5120, 40, 8, 128, 17_408, 151_936, 40_960, 0, 0, 0, 0),
    "qwen3-32b": (64, 5120, 64, 8, 128, 25_600, 151_936, 40_960, 0, 0, 0, 0),
    "qwen3-30b-a3b": (48, 2048, 32, 4, 128, 768, 151_936, 40_960, 128, 8, 0, 0),
    "qwen3-coder-30b-a3b": (48, 2048, 32, 4, 128, 768, 151_936, 262_144, 128, 8, 0, 0),
    "gemma-3-1b": (26, 1152, 4, 1, 256, 6912, 262_144, 32_768, 0, 0, 512, 6),
    "gemma-3-4b": (34, 2560, 8, 4, 256, 10_240, 262_144, 131_072, 0, 0, 1024, 6),
    "gemma-3-12b": (48, 3840, 16, 8, 256, 15_360, 262_144, 131_072, 0, 0, 1024, 6),
    "gemma-3-27b": (62, 5376, 32, 16, 128, 21_504, 262_144, 131_072, 0, 0, 1024, 6),
    "llama-4-scout": (48, 5120, 40, 8, 128, 8192, 202_048, 10_485_760, 16, 1, 8192, 4),
    "mistral-small-3.2-24b": (40, 5120, 32, 8, 128, 32_768, 131_072, 131_072, 0, 0, 0, 0),
    "phi-4": (40, 5120, 40, 10, 128, 17_920, 100_352, 16_384, 0, 0, 0, 0),
    "deepseek-r1-0528-qwen3-8b": (36, 4096, 32, 8, 128, 12_288, 151_936, 131_072, 0, 0, 0, 0),
    "deepseek-r1-distill-qwen-7b": (28, 3584, 28, 4, 128, 18_944, 152_064, 131_072, 0, 0, 0, 0),
    "qwen2.5-coder-7b": (28, 3584, 28, 4, 128, 18_944, 152_064, 32_768, 0, 0, 0, 0),
}


@pytest.mark.parametrize("model_id", sorted(CHECKED_ARCH))
def test_architecture_numbers_match_their_checked_source(model_id: str) -> None:
    model = load_catalog().get(model_id)
    a = model.arch
    got = (a.n_layers, a.n_embd, a.n_heads, a.n_kv_heads, a.key_length, a.n_ff, a.n_vocab)
    got += (a.ctx_train, a.n_experts, a.n_experts_used, a.sliding_window, a.swa_pattern)
    assert got == CHECKED_ARCH[model_id]
    assert a.value_length == a.key_length
    assert model.arch_source.startswith(("Checked ", "https://", "GGUF header"))


def test_gemma3_rows_count_the_vocabulary_their_gguf_files_hold() -> None:
    # llama.cpp's converter trims token_embd to the 262,144-piece tokenizer that every
    # Gemma 3 size shares (the 270M row is read from a real GGUF header); the
    # transformers default of 262,208 never reaches a GGUF file.
    catalog = load_catalog()
    header = catalog.get("gemma-3-270m").arch.n_vocab
    assert header == 262_144
    for model_id in ("gemma-3-1b", "gemma-3-4b", "gemma-3-12b", "gemma-3-27b"):
        assert catalog.get(model_id).arch.n_vocab == header


def test_every_builtin_row_says_where_its_architecture_was_read() -> None:
    for model in load_catalog().models:
        assert model.arch_source, model.id


def test_an_architecture_the_plan_cannot_model_says_so() -> None:
    catalog = load_catalog()
    assert "recurrent state" in catalog.get("qwen3-next-80b-a3b").memory_caveat
    assert not catalog.get("qwen3-8b").memory_caveat


def test_user_pattern_quants_expand_to_ordered_split_sets(tmp_path: Path) -> None:
    user = tmp_path / "catalog.toml"
    head, arch = _USER_MODEL.split("[model.arch]")
    user.write_text(
        head.replace("params = 1_000_000_000", "params = 120_000_000_000")
        + 'file = "m-{quant}.gguf"\n'
        + 'split_file = "{quant}/m-{quant}-{part:05d}-of-{parts:05d}.gguf"\n'
        + 'quants = ["Q8_0", "Q4_K_M"]\n\n[model.arch]'
        + arch,
        encoding="utf-8",
    )
    model = load_catalog(user).get("my-model")
    big = model.quant("Q8_0")
    assert big is not None and not big.size_exact and len(big.files) == 3
    assert big.files[0].endswith("-00001-of-00003.gguf")
    small = model.quant("Q4_K_M")
    assert small is not None and len(small.files) == 2 and small.size_bytes > SPLIT_LIMIT_BYTES


def test_test_model_entry_is_exact() -> None:
    _, quant = load_catalog().resolve("smollm2-135m:q4_1")
    assert quant.files == ("SmolLM2-135M-Instruct.Q4_1.gguf",)
    assert quant.size_exact and quant.size_bytes == 98_362_432
    assert quant.sha256[0].startswith("b179c952")


def test_quant_table_rows_name_their_measurement_and_model() -> None:
    q4 = QUANT_TYPES["Q4_K_M"]
    assert (q4.kld, q4.measured_on) == (0.031273, "Llama-3-8B")
    assert QUANT_TYPES["Q8_0"].kld == 0.001355 and QUANT_TYPES["Q2_K"].kld == 0.445132
    assert "Llama-3-8B" in q4.quality and q4.quality_source.endswith("perplexity/README.md")
    # 2.96 is Q2_K's Llama-3-8B file size in GiB, not bits per weight
    assert bits_per_weight("q2_k") == 3.1593 and bits_per_weight("q8_0") == 8.5008
    for row in QUANT_TYPES.values():
        assert row.bpw_source, row.name
        assert row.quality_source or "no published" in row.quality, row.name
    for name in ("IQ2_XXS", "IQ3_M", "IQ4_XS", "Q3_K_L", "BF16", "MXFP4"):
        assert name in QUANT_TYPES


def test_resolve_defaults_to_q4_k_m_and_lists_quants_when_missing() -> None:
    catalog = load_catalog()
    assert catalog.resolve("mistral-7b")[1].name == "Q4_K_M"
    with pytest.raises(CatalogError, match=r"has no quant Q9_K.*Q4_K_M"):
        catalog.resolve("mistral-7b:Q9_K")


def test_unknown_model_suggests_close_matches() -> None:
    with pytest.raises(CatalogError, match=r"did you mean llama-3\.3-70b"):
        load_catalog().get("llama-3.3-70")


def test_user_file_overrides_and_extends(tmp_path: Path) -> None:
    user = tmp_path / "catalog.toml"
    user.write_text(
        """
[[model]]
id = "mistral-7b"
notes = "my note"

[[model]]
id = "my-model"
name = "Mine"
family = "llama"
repo = "me/my-model-GGUF"
license = "MIT"
params = 1_000_000_000
file = "my-model-{quant}.gguf"
quants = ["Q4_K_M"]

[model.arch]
architecture = "llama"
n_layers = 16
n_embd = 2048
n_heads = 16
n_kv_heads = 4
key_length = 128
value_length = 128
n_vocab = 32000
ctx_train = 4096
""",
        encoding="utf-8",
    )
    catalog = load_catalog(user)
    assert catalog.get("mistral-7b").notes == "my note"
    assert catalog.get("mistral-7b").arch.n_layers == 32
    mine = catalog.get("my-model")
    assert mine.source == str(user)
    assert mine.quant("Q4_K_M") is not None


@pytest.mark.parametrize(
    ("body", "pattern"),
    [
        ('[[model]]\nid = "x"\nname = "X"\n', r"model 'x', field 'family': missing"),
        (
            '[[model]]\nid = "mistral-7b"\nparams = "lots"\n',
            r"catalog.toml:3: model 'mistral-7b', field 'params': expected int",
        ),
        ('[[model]]\nid = "mistral-7b"\ncolour = "red"\n', r"field 'colour': unknown field"),
        (
            '[[model]]\nid = "mistral-7b"\n[model.arch]\nn_kv_heads = 7\n',
            r"field 'arch.n_kv_heads': must divide n_heads",
        ),
        (
            '[[model]]\nid = "mistral-7b"\nfile = "../../etc/x.gguf"\nquants = ["Q4_K_M"]\n',
            r"unsafe file name",
        ),
        ("[[model]\nid = 1\n", r"catalog.toml: invalid TOML: .*line 1"),
    ],
)
def test_malformed_user_entry_names_file_entry_and_field(
    tmp_path: Path, body: str, pattern: str
) -> None:
    user = tmp_path / "catalog.toml"
    user.write_text(body, encoding="utf-8")
    catalog = load_catalog(user)
    assert len(catalog.warnings) == 1 and re.search(pattern, catalog.warnings[0])
    assert "\n" not in catalog.warnings[0]
    assert str(user) in catalog.warnings[0]
    assert catalog.get("mistral-7b").source == "builtin"


_USER_MODEL = """
[[model]]
id = "my-model"
name = "Mine"
family = "llama"
repo = "me/my-model-GGUF"
license = "MIT"
params = 1_000_000_000

[model.arch]
architecture = "llama"
n_layers = 16
n_embd = 2048
n_heads = 16
n_kv_heads = 4
key_length = 128
value_length = 128
n_vocab = 32000
ctx_train = 4096
tied_embeddings = true
"""


def test_exact_quant_carries_per_file_sizes_hashes_revision_and_source(tmp_path: Path) -> None:
    user = tmp_path / "catalog.toml"
    user.write_text(
        _USER_MODEL
        + """
[[model.quant]]
name = "Q8_0"
files = ["Q8_0/m-00001-of-00002.gguf", "Q8_0/m-00002-of-00002.gguf"]
file_sizes = [1_000, 234]
sha256 = ["{}", "{}"]
revision = "{}"
source = "https://huggingface.co/me/my-model-GGUF/tree/main/Q8_0"
checked = "2026-12-01"
""".format("a" * 64, "b" * 64, "c" * 40),
        encoding="utf-8",
    )
    model = load_catalog(user).get("my-model")
    quant = model.quants[0]
    assert quant.size_exact and quant.size_bytes == 1_234
    assert quant.file_sizes == (1_000, 234)
    assert quant.revision == "c" * 40 and quant.fact_date == "2026-12-01"
    assert quant.fact_source.endswith("/tree/main/Q8_0")
    assert model.arch.tied_embeddings


def test_old_style_exact_quant_with_only_size_bytes_still_loads(tmp_path: Path) -> None:
    user = tmp_path / "catalog.toml"
    user.write_text(
        _USER_MODEL
        + '\n[[model.quant]]\nname = "Q4_K_M"\nfiles = ["m.gguf"]\nsize_bytes = 5_000\n',
        encoding="utf-8",
    )
    quant = load_catalog(user).get("my-model").quants[0]
    assert quant.size_exact and quant.size_bytes == 5_000 and quant.file_sizes == ()


def test_pattern_quants_are_labelled_estimates(tmp_path: Path) -> None:
    user = tmp_path / "catalog.toml"
    head, arch = _USER_MODEL.split("[model.arch]")
    user.write_text(
        head + 'file = "m-{quant}.gguf"\nquants = ["Q4_K_M"]\n\n[model.arch]' + arch,
        encoding="utf-8",
    )
    quant = load_catalog(user).get("my-model").quants[0]
    assert not quant.size_exact and quant.file_sizes == ()


@pytest.mark.parametrize(
    ("quant", "pattern"),
    [
        ('files = ["m.gguf"]\nfile_sizes = [1, 2]', r"need one positive size per file"),
        ('files = ["m.gguf"]\nfile_sizes = [10]\nsize_bytes = 11', r"not the sum of file_sizes"),
        ('files = ["m.gguf"]', r"field 'quant.size_bytes': missing"),
        ('files = ["m.gguf"]\nsize_bytes = 1\nrevision = "main"', r"40-hex commit"),
        ('files = ["m.gguf"]\nsize_bytes = 1\nchecked = "yesterday"', r"ISO date"),
    ],
)
def test_bad_exact_quant_fields_are_named(tmp_path: Path, quant: str, pattern: str) -> None:
    user = tmp_path / "catalog.toml"
    user.write_text(
        _USER_MODEL + f'\n[[model.quant]]\nname = "Q4_K_M"\n{quant}\n', encoding="utf-8"
    )
    warnings = load_catalog(user).warnings
    assert len(warnings) == 1 and re.search(pattern, warnings[0])

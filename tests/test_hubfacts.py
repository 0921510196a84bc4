"""Hub listings laid over catalog rows (pure): confirmed, changed and vanished files."""

from __future__ import annotations

from catalog.hubfacts import CHANGED, CONFIRMED, VANISHED, ListedRepo, apply_listings, compare
from catalog.loader import Catalog
from catalog.schema import ArchSpec, ModelSpec, QuantSpec

ARCH = ArchSpec("llama", 2, 64, 4, 4, 16, 16, 100, 512)
A, B = "a" * 64, "b" * 64


def _catalog() -> Catalog:
    quants = (
        QuantSpec("Q4_0", ("m-Q4_0.gguf",), 100, sha256=(A,), file_sizes=(100,)),
        QuantSpec("Q8_0", ("m-Q8_0-00001-of-00002.gguf", "m-Q8_0-00002-of-00002.gguf"), 300),
        QuantSpec("Q6_K", ("m-Q6_K.gguf",), 150, size_exact=False),
        QuantSpec("Q5_K_M", ("m-Q5_K_M.gguf",), 120),
    )
    model = ModelSpec("m", "M", "f", "o/m-GGUF", 1000, ARCH, "mit", quants)
    other = ModelSpec("n", "N", "f", "o/n-GGUF", 1000, ARCH, "mit", quants[:1])
    return Catalog(models=(model, other))


LISTED = ListedRepo(
    repo="o/m-GGUF",
    files={
        "m-Q4_0.gguf": (100, A),
        "m-Q8_0-00001-of-00002.gguf": (200, B),
        "m-Q8_0-00002-of-00002.gguf": (104, B),
        "m-Q6_K.gguf": (161, B),
    },
    checked_at="2026-12-01T08:00:00Z",
    commit="c" * 40,
    endpoint="https://huggingface.co",
)


def test_compare_reports_changed_sizes_and_vanished_files_only() -> None:
    changes = {c.quant: c for c in compare(_catalog(), {"o/m-GGUF": LISTED})}
    assert set(changes) == {"Q8_0", "Q5_K_M"}
    assert changes["Q8_0"].status == CHANGED and changes["Q8_0"].hub_bytes == 304
    assert changes["Q8_0"].detail == "size 300 -> 304 bytes"
    assert changes["Q5_K_M"].status == VANISHED and changes["Q5_K_M"].hub_bytes is None
    assert changes["Q5_K_M"].detail == "m-Q5_K_M.gguf is no longer in o/m-GGUF"


def test_a_changed_sha256_with_the_same_size_is_a_change() -> None:
    listed = ListedRepo("o/m-GGUF", {**LISTED.files, "m-Q4_0.gguf": (100, B)}, "2026-12-01")
    changes = {c.quant: c for c in compare(_catalog(), {"o/m-GGUF": listed})}
    assert changes["Q4_0"].detail == "sha256 of m-Q4_0.gguf differs"


def test_applied_listing_takes_the_hub_facts_and_marks_each_row() -> None:
    applied = apply_listings(_catalog(), {"o/m-GGUF": LISTED})
    model = applied.get("m")
    q4, q8, q6, q5 = (model.quant(n) for n in ("Q4_0", "Q8_0", "Q6_K", "Q5_K_M"))
    assert q4 is not None and q4.hub_status == CONFIRMED and q4.size_bytes == 100
    assert q8 is not None and q8.hub_status == CHANGED
    assert (q8.size_bytes, q8.file_sizes, q8.sha256) == (304, (200, 104), (B, B))
    assert q8.revision == "c" * 40 and q8.fact_date == "2026-12-01"
    assert q8.fact_source == f"https://huggingface.co/o/m-GGUF/tree/{'c' * 40}"
    # An estimated size becomes the exact listed one.
    assert q6 is not None and q6.size_exact and q6.size_bytes == 161
    assert q5 is not None and q5.hub_status == VANISHED and q5.size_bytes == 120
    assert "no longer in o/m-GGUF (hub listing of 2026-12-01)" in q5.hub_note
    # A repo without a listing is left alone.
    untouched = applied.get("n").quant("Q4_0")
    assert untouched is not None and untouched.hub_status == ""
    assert apply_listings(_catalog(), {}) == _catalog()


def test_parts_that_changed_size_but_not_in_total_are_a_change() -> None:
    quant = QuantSpec("Q8_0", ("p-00001-of-00002.gguf", "p-00002-of-00002.gguf"), 300)
    quant = QuantSpec(quant.name, quant.files, 300, file_sizes=(200, 100))
    catalog = Catalog(models=(ModelSpec("p", "P", "f", "o/p", 1, ARCH, "mit", (quant,)),))
    listed = ListedRepo(
        "o/p", {"p-00001-of-00002.gguf": (150, ""), "p-00002-of-00002.gguf": (150, "")}, "x"
    )
    [change] = compare(catalog, {"o/p": listed})
    assert change.detail == "size of p-00001-of-00002.gguf differs"

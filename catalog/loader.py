"""Load the curated catalog (package data) and the user's catalog file.

Schema of a ``[[model]]`` entry (TOML):

- ``id``, ``name``, ``family``, ``repo``, ``license`` (strings), ``params`` (int),
  optional ``active_params`` (int, MoE), ``notes`` (string), ``tags`` (strings).
- ``[model.arch]``: the fields of :class:`catalog.schema.ArchSpec`.
- ``file``: file name pattern of one quant, ``{quant}`` replaced by its name.
- ``split_file`` (optional): pattern for split sets, with ``{part}`` and ``{parts}``
  (Python format fields, e.g. ``{part:05d}``); a quant whose estimated size exceeds
  ``SPLIT_LIMIT_BYTES`` is split into as many parts as needed.
- ``quants``: quant names whose files follow the patterns (size estimated from bits
  per weight, ``size_exact = false``).
- ``[[model.quant]]``: exact entries with ``name`` and ``files``, the exact size as
  ``file_sizes`` (one per file) and/or ``size_bytes`` (their total), and optionally
  ``sha256`` (one per file), ``revision`` (the repo commit), ``source`` (URL of the
  page the facts came from) and ``checked`` (ISO date they were read).
- ``memory_caveat`` (optional string): what the memory plan cannot model for this
  architecture; ``arch_source`` (optional string): where the arch numbers come from.

User file merge rule: an entry whose ``id`` exists in the curated catalog replaces
the fields it gives (``arch`` key by key; ``quants``/``quant`` replace the quant
list); a new ``id`` must be complete. Every error names file, entry and field.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from catalog.errors import CatalogError
from catalog.quants import QUANT_TYPES
from catalog.schema import ArchSpec, ModelSpec, QuantSpec

BUILTIN_FILE = Path(__file__).with_name("data") / "models.toml"
SPLIT_LIMIT_BYTES = 50_000_000_000
"""Hugging Face's per-file soft limit; GGUF publishers split sets above it."""
DEFAULT_QUANT = "Q4_K_M"
_METADATA_BYTES = 8_000_000
"""Rough size of the GGUF header and tokenizer added to an estimated file size."""

_STR_FIELDS = ("id", "name", "family", "repo", "license")
_OPTIONAL = {
    "active_params",
    "notes",
    "tags",
    "split_file",
    "quants",
    "quant",
    "file",
    "memory_caveat",
    "arch_source",
}
_QUANT_FIELDS = {
    "name",
    "files",
    "size_bytes",
    "file_sizes",
    "sha256",
    "revision",
    "source",
    "checked",
}
_ALLOWED = {*_STR_FIELDS, "params", "arch", *_OPTIONAL}
_SAFE_NAME = re.compile(r"^[A-Za-z0-9._\-/]+$")


@dataclass(frozen=True, slots=True)
class Catalog:
    """Every known model, curated and user-added."""

    models: tuple[ModelSpec, ...]
    warnings: tuple[str, ...] = ()
    """One line per user catalog entry (or user file) that was skipped, and why."""

    def get(self, model_id: str) -> ModelSpec:
        """The model called ``model_id`` (case-insensitive).

        Raises:
            CatalogError: unknown id; the message names close matches.
        """
        wanted = model_id.lower()
        for model in self.models:
            if model.id == wanted:
                return model
        ids = [m.id for m in self.models]
        close = difflib.get_close_matches(wanted, ids, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see `localctl models`"
        raise CatalogError(f"unknown model {model_id!r}{hint}")

    def resolve(self, ref: str) -> tuple[ModelSpec, QuantSpec]:
        """Resolve ``id[:QUANT]`` (default quant Q4_K_M) to a model and a quant.

        Raises:
            CatalogError: unknown model, or a quant the model does not have (the
                message lists the quants that exist).
        """
        model_id, _, quant_name = ref.partition(":")
        model = self.get(model_id.strip())
        quant_name = (quant_name.strip() or DEFAULT_QUANT).upper()
        quant = model.quant(quant_name)
        if quant is None:
            names = ", ".join(q.name for q in model.quants)
            raise CatalogError(f"{model.id} has no quant {quant_name}; it has: {names}")
        return model, quant


def _line_of(text: str, model_id: str | None, key: str | None = None) -> int:
    """Line of ``id = "model_id"`` (or of ``key`` after it); 0 if not found."""
    if model_id is None:
        return 0
    lines = text.splitlines()
    start = next(
        (
            i
            for i, line in enumerate(lines)
            if re.match(rf"^\s*id\s*=\s*[\"']{re.escape(model_id)}[\"']", line)
        ),
        None,
    )
    if start is None:
        return 0
    if key:
        for i in range(start, len(lines)):
            if i > start and lines[i].strip() == "[[model]]":
                break
            if re.match(rf"^\s*{re.escape(key)}\s*=", lines[i]):
                return i + 1
    return start + 1


class _Where:
    """Builds error messages naming file, entry, field and line."""

    def __init__(self, path: Path, text: str, model_id: str | None) -> None:
        self.path, self.text, self.model_id = path, text, model_id

    def error(self, field: str, problem: str) -> CatalogError:
        line = _line_of(self.text, self.model_id, field.split(".")[-1])
        place = f"{self.path}:{line}" if line else str(self.path)
        entry = f"model {_short(repr(self.model_id))}" if self.model_id else "a model entry"
        problem = _short(problem, 300)
        return CatalogError(f"{place}: {entry}, field {_short(repr(field))}: {problem}")


def _short(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters: an error quotes the user's file, not all of it."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _expect(where: _Where, field: str, value: Any, kind: type | tuple[type, ...]) -> Any:
    if isinstance(value, bool) or not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise where.error(field, f"expected {names}, got {type(value).__name__} {value!r}")
    return value


def _arch(where: _Where, table: Any) -> ArchSpec:
    _expect(where, "arch", table, dict)
    fields = {f.name: f for f in dataclasses.fields(ArchSpec)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in fields:
            raise where.error(f"arch.{key}", f"unknown field (known: {', '.join(fields)})")
        if key == "architecture":
            values[key] = _expect(where, f"arch.{key}", value, str)
        elif key == "tied_embeddings":
            if not isinstance(value, bool):
                raise where.error(f"arch.{key}", f"expected true or false, got {value!r}")
            values[key] = value
        else:
            number = _expect(where, f"arch.{key}", value, int)
            if number < 0 or number > 1 << 26:
                raise where.error(f"arch.{key}", f"out of range: {number}")
            values[key] = number
    missing = [n for n, f in fields.items() if f.default is dataclasses.MISSING and n not in values]
    if missing:
        raise where.error(f"arch.{missing[0]}", "missing")
    arch = ArchSpec(**values)
    if arch.n_layers < 1 or arch.n_heads < 1 or arch.n_kv_heads < 1:
        raise where.error("arch.n_layers", "layers and heads must be positive")
    if arch.n_kv_heads > arch.n_heads or arch.n_heads % arch.n_kv_heads:
        raise where.error("arch.n_kv_heads", "must divide n_heads")
    return arch


def _safe_file(where: _Where, field: str, name: str) -> str:
    if not _SAFE_NAME.match(name) or name.startswith("/") or ".." in name.split("/"):
        raise where.error(field, f"unsafe file name {name!r}")
    if not name.lower().endswith(".gguf"):
        raise where.error(field, f"not a .gguf file: {name!r}")
    return name


def _file_pattern(where: _Where, field: str, value: Any) -> str:
    """A file-name pattern whose only fields are ``{quant}``, ``{part:05d}``, ``{parts:05d}``."""
    pattern = str(_expect(where, field, value, str))
    bare = re.sub(r"\{(?:quant|part(?:s)?(?::0?\d(?:d)?)?)\}", "", pattern)
    if len(pattern) > 512 or "{" in bare or "}" in bare:
        raise where.error(field, "a file pattern may hold only {quant}, {part:05d} and {parts:05d}")
    return pattern


def estimate_size(params: int, quant: str, arch: ArchSpec | None = None) -> int:
    """Estimated file size of ``params`` weights at ``quant`` (an estimate, never exact).

    With the architecture, the embedding and output matrices get the types
    llama.cpp's quantizer gives them (``llama-quant.cpp``): the output head (or a
    tied embedding) Q6_K, or Q8_0 when the embedding width is not a multiple of
    the 256-value k-quant block, in which case the block weights fall back to a
    32-value type of at least 5.5 bits too. Against the 159 exact files of the
    curated catalog this is within -31% / +10% (median +0.8%); the misses are
    small models whose publishers keep the embedding in F16 (Qwen2.5 0.5B/1.5B).
    Without the architecture it is ``params x bits per weight``.
    """
    row = QUANT_TYPES[quant]
    bpw = row.bits_per_weight
    if arch is None or not arch.n_vocab or not arch.n_embd:
        return int(params * bpw / 8) + _METADATA_BYTES
    misaligned = row.family in ("k-quant", "i-quant") and arch.n_embd % 256 != 0
    block_bpw = max(bpw, 5.5) if misaligned else bpw
    head_bpw = 8.5 if misaligned else max(bpw, 6.5625)
    embedding = arch.n_vocab * arch.n_embd
    if arch.tied_embeddings:
        matrices_bits, matrices = embedding * head_bpw, embedding
    else:
        matrices_bits, matrices = embedding * (block_bpw + head_bpw), 2 * embedding
    blocks = max(0, params - matrices)
    return int((blocks * block_bpw + matrices_bits) / 8) + _METADATA_BYTES


def _pattern_quant(
    where: _Where, entry: dict[str, Any], name: str, params: int, arch: ArchSpec
) -> QuantSpec:
    quant = name.upper()
    if quant not in QUANT_TYPES:
        raise where.error("quants", f"unknown quant type {name!r}")
    size = estimate_size(params, quant, arch)
    pattern = _file_pattern(where, "file", entry.get("file"))
    split = entry.get("split_file")
    if split is not None:
        split = _file_pattern(where, "split_file", split)
    try:
        if split and size > SPLIT_LIMIT_BYTES:
            parts = math.ceil(size / SPLIT_LIMIT_BYTES)
            files = tuple(
                split.format(quant=quant, part=i, parts=parts) for i in range(1, parts + 1)
            )
        else:
            files = (pattern.format(quant=quant),)
    except (KeyError, IndexError, ValueError) as error:
        raise where.error("file", f"bad pattern: {error}") from error
    files = tuple(_safe_file(where, "file", f) for f in files)
    return QuantSpec(name=quant, files=files, size_bytes=size, size_exact=False)


def _explicit_quant(where: _Where, table: Any) -> QuantSpec:
    _expect(where, "quant", table, dict)
    unknown = set(table) - _QUANT_FIELDS
    if unknown:
        raise where.error(f"quant.{sorted(unknown)[0]}", "unknown field")
    name = _expect(where, "quant.name", table.get("name"), str).upper()
    if name not in QUANT_TYPES:
        raise where.error("quant.name", f"unknown quant type {name!r}")
    files = _expect(where, "quant.files", table.get("files"), list)
    if not files:
        raise where.error("quant.files", "empty")
    names = tuple(
        _safe_file(where, "quant.files", _expect(where, "quant.files", f, str)) for f in files
    )
    sizes = tuple(
        _expect(where, "quant.file_sizes", n, int)
        for n in _expect(where, "quant.file_sizes", table.get("file_sizes", []), list)
    )
    if sizes and (len(sizes) != len(names) or min(sizes) <= 0):
        raise where.error("quant.file_sizes", "need one positive size per file")
    if "size_bytes" in table:
        size = _expect(where, "quant.size_bytes", table["size_bytes"], int)
        if size <= 0:
            raise where.error("quant.size_bytes", "must be positive")
        if sizes and sum(sizes) != size:
            raise where.error(
                "quant.size_bytes", f"{size} is not the sum of file_sizes ({sum(sizes)})"
            )
    elif sizes:
        size = sum(sizes)
    else:
        raise where.error("quant.size_bytes", "missing (give size_bytes or file_sizes)")
    digests = tuple(_expect(where, "quant.sha256", d, str) for d in table.get("sha256", []))
    if digests and (
        len(digests) != len(names) or not all(re.fullmatch(r"[0-9a-f]{64}", d) for d in digests)
    ):
        raise where.error("quant.sha256", "need one 64-hex digest per file")
    revision = _expect(where, "quant.revision", table.get("revision", ""), str)
    if revision and not re.fullmatch(r"[0-9a-f]{40}", revision):
        raise where.error("quant.revision", "expected a 40-hex commit id")
    checked = _expect(where, "quant.checked", table.get("checked", ""), str)
    if checked and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", checked):
        raise where.error("quant.checked", "expected an ISO date (YYYY-MM-DD)")
    return QuantSpec(
        name=name,
        files=names,
        size_bytes=size,
        size_exact=True,
        sha256=digests,
        file_sizes=sizes,
        revision=revision,
        fact_source=_expect(where, "quant.source", table.get("source", ""), str),
        fact_date=checked,
    )


def _model(entry: dict[str, Any], path: Path, text: str, source: str) -> ModelSpec:
    raw_id = entry.get("id")
    where = _Where(path, text, raw_id if isinstance(raw_id, str) else None)
    unknown = set(entry) - _ALLOWED
    if unknown:
        raise where.error(
            sorted(unknown)[0], f"unknown field (known: {', '.join(sorted(_ALLOWED))})"
        )
    for key in (*_STR_FIELDS, "params", "arch"):
        if key not in entry:
            raise where.error(key, "missing")
    strings = {k: _expect(where, k, entry[k], str) for k in _STR_FIELDS}
    if not re.fullmatch(r"[a-z0-9][a-z0-9._\-]*", strings["id"]):
        raise where.error("id", "use lower-case letters, digits, '.', '-' or '_'")
    if not re.fullmatch(r"[A-Za-z0-9._\-]+/[A-Za-z0-9._\-]+", strings["repo"]):
        raise where.error("repo", f"expected owner/name, got {strings['repo']!r}")
    params = _expect(where, "params", entry["params"], int)
    if params <= 0:
        raise where.error("params", "must be positive")
    active = _expect(where, "active_params", entry.get("active_params", 0), int)
    tags = tuple(
        _expect(where, "tags", t, str) for t in _expect(where, "tags", entry.get("tags", []), list)
    )
    arch = _arch(where, entry["arch"])
    quants: dict[str, QuantSpec] = {}
    for name in _expect(where, "quants", entry.get("quants", []), list):
        spec = _pattern_quant(where, entry, _expect(where, "quants", name, str), params, arch)
        quants[spec.name] = spec
    for table in _expect(where, "quant", entry.get("quant", []), list):
        spec = _explicit_quant(where, table)
        quants[spec.name] = spec
    if not quants:
        raise where.error("quants", "no quants")
    ordered = sorted(quants.values(), key=lambda q: QUANT_TYPES[q.name].bits_per_weight)
    return ModelSpec(
        id=strings["id"],
        name=strings["name"],
        family=strings["family"],
        repo=strings["repo"],
        params=params,
        arch=arch,
        license=strings["license"],
        quants=tuple(ordered),
        active_params=active,
        notes=_expect(where, "notes", entry.get("notes", ""), str),
        source=source,
        tags=tags,
        memory_caveat=_expect(where, "memory_caveat", entry.get("memory_caveat", ""), str),
        arch_source=_expect(where, "arch_source", entry.get("arch_source", ""), str),
    )


def _entries(path: Path) -> tuple[list[dict[str, Any]], str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CatalogError(f"{path}: cannot read catalog: {error}") from error
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise CatalogError(f"{path}: invalid TOML: {error}") from error
    unknown = set(data) - {"model"}
    if unknown:
        raise CatalogError(
            f"{path}: unknown top-level key {sorted(unknown)[0]!r} (expected [[model]])"
        )
    entries = data.get("model", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise CatalogError(f"{path}: 'model' must be an array of tables ([[model]])")
    return entries, text


@functools.lru_cache(maxsize=1)
def _builtin() -> tuple[tuple[dict[str, Any], ...], str]:
    entries, text = _entries(BUILTIN_FILE)
    return tuple(entries), text


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if key == "arch" and isinstance(value, dict) and isinstance(base.get("arch"), dict):
            merged["arch"] = {**base["arch"], **value}
        else:
            merged[key] = value
    if ("quants" in override or "quant" in override) and not (
        "quants" in override and "quant" in override
    ):
        merged.pop("quant" if "quants" in override else "quants", None)
    return merged


def load_catalog(user_file: Path | None = None) -> Catalog:
    """The curated catalog, extended or overridden by ``user_file`` when it exists.

    Args:
        user_file: The user's catalog TOML (callers pass localctl's path); may not exist.

    Returns:
        The merged catalog, curated order first, new user models after. A malformed
        user entry is left out (the curated model it would override stays as it was),
        and an unreadable user file is ignored; ``Catalog.warnings`` says which and why.

    Raises:
        CatalogError: a malformed curated entry, naming file, entry and field.
    """
    entries, text = _builtin()
    models = {e["id"]: _model(e, BUILTIN_FILE, text, "builtin") for e in entries}
    by_id = {e["id"]: e for e in entries}
    warnings: list[str] = []
    if user_file is not None and user_file.is_file():
        try:
            user_entries, user_text = _entries(user_file)
        except CatalogError as error:
            user_entries, user_text = [], ""
            warnings.append(f"{error}; the file is ignored")
        for entry in user_entries:
            try:
                raw_id = entry.get("id")
                if not isinstance(raw_id, str):
                    raise _Where(user_file, user_text, None).error("id", "missing")
                base = by_id.get(raw_id)
                merged = _merge(base, entry) if base else entry
                models[raw_id] = _model(merged, user_file, user_text, str(user_file))
            except CatalogError as error:
                warnings.append(f"{error}; entry skipped")
    return Catalog(models=tuple(models.values()), warnings=tuple(warnings))

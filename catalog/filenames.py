"""GGUF file naming: the quant written in a file name and ``-0000N-of-0000M`` split sets.

Pure string rules shared by the downloader, the local file scan and the GGUF reader.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import PurePosixPath

SPLIT_RE = re.compile(r"-(\d{5})-of-(\d{5})$", re.IGNORECASE)
"""The split marker at the end of a file stem: part number and part count."""
_QUANT = re.compile(
    r"(?:^|[-._])((?:UD-)?(?:I?Q\d(?:_[A-Z0-9]+)*|TQ\d_\d|BF16|F16|F32|FP16|FP32|MXFP4(?:_MOE)?))$",
    re.IGNORECASE,
)


def _stem(base: str) -> str:
    return base[: -len(".gguf")] if base.lower().endswith(".gguf") else base


def quant_of(filename: str) -> str | None:
    """Quant name (upper case) written in a GGUF file name, or None.

    ``Llama-3.3-70B-Instruct-Q4_K_M-00001-of-00002.gguf`` → ``Q4_K_M``; a name without
    one takes its folder's (``Q4_K_M/model-00001-of-00002.gguf`` → ``Q4_K_M``).
    """
    path = PurePosixPath(filename)
    base = path.name
    if not base.lower().endswith(".gguf") or base.lower().startswith("mmproj"):
        return None
    stem = SPLIT_RE.sub("", _stem(base))
    match = _QUANT.search(stem) or _QUANT.fullmatch(path.parent.name)
    return match.group(1).upper() if match else None


def split_part(filename: str) -> tuple[int, int] | None:
    """``(part, count)`` for a ``-0000N-of-0000M.gguf`` name, else None."""
    base = PurePosixPath(filename).name
    if not base.lower().endswith(".gguf"):
        return None
    match = SPLIT_RE.search(_stem(base))
    return (int(match.group(1)), int(match.group(2))) if match else None


def part_number(filename: str) -> int:
    """The part number of a split-set file name; 0 for a single file."""
    part = split_part(filename)
    return part[0] if part else 0


def split_stem(filename: str) -> str:
    """The file name without ``.gguf`` and without its split marker."""
    return SPLIT_RE.sub("", _stem(PurePosixPath(filename).name))


def split_set_key(filename: str) -> str:
    """A key shared by the names of all parts of one split set (folder included)."""
    path = PurePosixPath(filename)
    return str(path.parent / split_stem(filename)).lower()


def split_part_name(filename: str, part: int) -> str:
    """The name of part ``part`` of the split set ``filename`` belongs to (same folder).

    Returns ``filename`` unchanged when it is not a split-set name.
    """
    found = split_part(filename)
    if found is None:
        return filename
    head, _, base = filename.rpartition("/")
    stem = split_stem(base)
    name = f"{stem}-{part:05d}-of-{found[1]:05d}.gguf"
    return f"{head}/{name}" if head else name


def quants_in_files(names: Iterable[str]) -> dict[str, list[list[str]]]:
    """Group GGUF file names by quant: quant → list of file sets (each in part order).

    A split set missing a part is left out. Files whose names carry no quant are ignored.
    """
    sets: dict[tuple[str, str], list[str]] = {}
    for name in names:
        quant = quant_of(name)
        if quant is None:
            continue
        sets.setdefault((quant, split_set_key(name)), []).append(name)
    result: dict[str, list[list[str]]] = {}
    for (quant, _), members in sorted(sets.items()):
        singles = [m for m in members if split_part(m) is None]
        parts = sorted((m for m in members if split_part(m) is not None), key=part_number)
        for single in singles:
            result.setdefault(quant, []).append([single])
        if parts:
            count = split_part(parts[0])
            numbers = [part_number(p) for p in parts]
            if count is not None and numbers == list(range(1, count[1] + 1)):
                result.setdefault(quant, []).append(parts)
    return result

"""GGUF files already on this machine (HF cache and configured model folders).

Two questions, both answered from file names and ``stat`` alone (no hashing, no
network), because the catalog asks them for every row:

* :func:`find_local` — is this model x quant fully on disk? It looks in the
  Hugging Face cache (``models--OWNER--NAME/snapshots/*/FILE``, the commit in
  ``refs/main`` first) and then, by file name, in the configured
  ``model_folders`` and the usual folders of other tools: LM Studio
  (``~/.lmstudio/models``, ``~/.cache/lm-studio/models``) and llama.cpp's
  download cache (``~/.cache/llama.cpp``, whose files are named
  ``OWNER_NAME_FILE``).
* :func:`scan_local_ggufs` — every GGUF found there, with its size and, where
  the layout says so, its repository.

Folder scans are remembered for a few seconds so a catalog of hundreds of rows
walks each folder once.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from catalog.filenames import quant_of

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from catalog.schema import ModelSpec, QuantSpec

SCAN_TTL_S = 5.0
"""How long a folder scan is reused before the folders are walked again."""
MAX_DEPTH = 6
"""How deep a model folder is walked."""


@dataclass(frozen=True, slots=True)
class LocalGguf:
    """One GGUF file found on disk."""

    path: Path
    size_bytes: int
    repo: str | None
    """``OWNER/NAME`` when the folder layout tells (HF cache, LM Studio), else None."""
    source: str
    """``hf-cache``, ``lm-studio``, ``llama.cpp`` or ``folder``."""
    quant: str | None
    """Quant written in the file name (upper case), if any."""


_scan_cache: dict[tuple[str, ...], tuple[float, list[LocalGguf]]] = {}


def default_folders() -> list[tuple[Path, str]]:
    """Other tools' model folders looked in besides the HF cache: (folder, source).

    The cache folders follow ``XDG_CACHE_HOME`` (else ``~/.cache``), and llama.cpp's its
    ``LLAMA_CACHE`` override, as those tools do. (llama.cpp's newer ``-hf`` downloads use
    the Hugging Face cache layout, which is scanned anyway.)
    """
    home = Path.home()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache")
    llama = os.environ.get("LLAMA_CACHE")
    return [
        (home / ".lmstudio" / "models", "lm-studio"),
        (cache / "lm-studio" / "models", "lm-studio"),
        (Path(llama).expanduser() if llama else cache / "llama.cpp", "llama.cpp"),
    ]


def _configured_folders(model_folders: Sequence[str]) -> list[tuple[Path, str]]:
    return [(Path(os.path.expandvars(f)).expanduser(), "folder") for f in model_folders]


def _walk(root: Path, depth: int = 0) -> Iterator[os.DirEntry[str]]:
    try:
        with os.scandir(root) as entries:
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if depth < MAX_DEPTH and not entry.name.startswith("."):
                            yield from _walk(Path(entry.path), depth + 1)
                    elif entry.name.lower().endswith(".gguf"):
                        yield entry
                except OSError:
                    continue
    except OSError:
        return


def _hf_cache_ggufs(cache: Path) -> list[LocalGguf]:
    found: list[LocalGguf] = []
    try:
        repos = [p for p in cache.iterdir() if p.name.startswith("models--")]
    except OSError:
        return found
    for storage in repos:
        repo = storage.name[len("models--") :].replace("--", "/", 1)
        snapshots = storage / "snapshots"
        for entry in _walk(snapshots):
            try:
                size = os.stat(entry.path).st_size
            except OSError:
                continue
            found.append(LocalGguf(Path(entry.path), size, repo, "hf-cache", quant_of(entry.name)))
    return found


def _folder_ggufs(root: Path, source: str) -> list[LocalGguf]:
    found: list[LocalGguf] = []
    for entry in _walk(root):
        try:
            size = entry.stat().st_size
        except OSError:
            continue
        path = Path(entry.path)
        repo = None
        if source == "lm-studio":
            parts = path.relative_to(root).parts
            if len(parts) >= 3:
                repo = f"{parts[0]}/{parts[1]}"
        found.append(LocalGguf(path, size, repo, source, quant_of(entry.name)))
    return found


def _folders(model_folders: Sequence[str]) -> list[tuple[Path, str]]:
    seen: set[Path] = set()
    result = []
    for folder, source in [*_configured_folders(model_folders), *default_folders()]:
        if folder in seen:
            continue
        seen.add(folder)
        result.append((folder, source))
    return result


def scan_local_ggufs(model_folders: Sequence[str] = (), *, fresh: bool = False) -> list[LocalGguf]:
    """Every GGUF file in the HF cache, configured model folders and other tools' folders.

    Args:
        model_folders: The configured folders (``Config.model_folders``).
        fresh: Scan now even if a scan under :data:`SCAN_TTL_S` old is at hand (before a
            download: a file added a second ago must count).

    Returns:
        One entry per file (each part of a split set is its own entry), HF cache first.
    """
    from localctl.hub import hub_cache_dir

    cache = hub_cache_dir()
    folders = _folders(model_folders)
    key = (str(cache), *(str(f) for f, _ in folders))
    now = time.monotonic()
    cached = _scan_cache.get(key)
    if cached is not None and now - cached[0] < SCAN_TTL_S and not fresh:
        return list(cached[1])
    found = _hf_cache_ggufs(cache)
    for folder, source in folders:
        found.extend(_folder_ggufs(folder, source))
    _scan_cache.clear()
    _scan_cache[key] = (now, found)
    return list(found)


def _in_hf_cache(repo: str, files: tuple[str, ...]) -> Path | None:
    from localctl.hub import repo_cache_dir

    storage = repo_cache_dir(repo)
    snapshots = storage / "snapshots"
    commits: list[str] = []
    with contextlib.suppress(OSError):
        commits.append((storage / "refs" / "main").read_text(encoding="utf-8").strip())
    try:
        others = sorted(snapshots.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        return None
    commits += [p.name for p in others if p.name not in commits]
    for commit in commits:
        paths = [snapshots / commit / Path(*name.split("/")) for name in files]
        if paths and all(p.is_file() for p in paths):
            return paths[0]
    return None


def _matches(entry: LocalGguf, name: str) -> bool:
    base = entry.path.name
    if base == name:
        return True
    # llama.cpp's cache names files OWNER_NAME_FILE (path separators as underscores).
    return entry.source == "llama.cpp" and base.endswith("_" + name)


def find_local(
    model: ModelSpec, quant: QuantSpec, model_folders: Sequence[str] = (), *, fresh: bool = False
) -> Path | None:
    """First file of ``model`` x ``quant`` when every part is on disk, else None.

    Looks in the HF cache first, then in model folders by file name; every part of a
    split set must be in the same folder. Only names and sizes are checked (fast).

    Args:
        model: The catalog entry (its ``repo`` locates the HF cache folder).
        quant: The quant whose ``files`` must all be present.
        model_folders: The configured folders (``Config.model_folders``).
        fresh: Scan the folders now (see :func:`scan_local_ggufs`).

    Returns:
        Path of the first file, or None.
    """
    if not quant.files:
        return None
    try:
        found = _in_hf_cache(model.repo, quant.files)
    except ValueError:
        found = None
    if found is not None:
        return found
    names = [_base_name(f) for f in quant.files]
    single = len(names) == 1 and quant.size_exact and quant.size_bytes > 0
    for entry in scan_local_ggufs(model_folders, fresh=fresh):
        if entry.source == "hf-cache" or not _matches(entry, names[0]):
            continue
        if single and entry.size_bytes != quant.size_bytes:
            continue
        folder = entry.path.parent
        prefix = entry.path.name[: len(entry.path.name) - len(names[0])]
        if all((folder / (prefix + n)).is_file() for n in names[1:]):
            return entry.path
    return None


def _base_name(name: str) -> str:
    """The last component of a repo path (``Q4_K_M/x-00001-of-00002.gguf`` → ``x-…gguf``)."""
    return name.rsplit("/", 1)[-1]

"""Pull references (``MODEL[:QUANT]``, ``OWNER/REPO[:QUANT]``, ``OWNER/REPO/FILE.gguf``).

Also the checks that keep repository ids and file names safe.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from localctl.errors import BadInputError, DownloadError

if TYPE_CHECKING:
    pass


DEFAULT_QUANT = "Q4_K_M"

_REPO_PART = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_-])?")


@dataclass(frozen=True, slots=True)
class Ref:
    """A parsed pull reference."""

    repo: str | None
    """``owner/name`` for hub forms; None for a catalog id."""
    model_id: str | None
    quant: str | None
    filename: str | None
    """Path inside the repo for the ``OWNER/REPO/FILE.gguf`` form."""
    files: tuple[str, ...] = ()
    """A catalog quant's files, already resolved (the catalog is not read again)."""
    sha256: tuple[str, ...] = ()
    """The catalog's sha256 of each of ``files`` (empty where unknown)."""


def check_repo_id(repo: str) -> str:
    """Return ``repo`` if it is a plain ``owner/name``; raise BadInputError otherwise."""
    parts = repo.split("/")
    if len(parts) != 2 or not all(_REPO_PART.fullmatch(p) and ".." not in p for p in parts):
        raise BadInputError(f"not a Hugging Face repository id: {repo!r} (expected OWNER/NAME)")
    return repo


def safe_repo_path(name: object, *, hostile: bool = True) -> str:
    """Return ``name`` if it is a relative path that stays inside a repository.

    Args:
        name: A file name from the hub (or the user).
        hostile: True when the hub supplied it (DownloadError), False for user input
            (BadInputError).

    Raises:
        DownloadError: (or BadInputError) for an absolute path, ``..``, ``.``, empty parts,
            backslashes or control characters.
    """
    error: type[DownloadError | BadInputError] = DownloadError if hostile else BadInputError
    source = "the hub listed a file name" if hostile else "file name"
    if not isinstance(name, str) or not name:
        raise error(f"{source} that is not a string: {name!r}; refusing it")
    parts = name.split("/")
    bad = (
        name.startswith("/")
        or "\\" in name
        or any(ord(c) < 0x20 or c == "\x7f" for c in name)
        or any(p in ("", ".", "..") for p in parts)
        or re.match(r"^[A-Za-z]:", name) is not None
        or len(name) > 1024
    )
    if bad:
        raise error(f"{source} that would escape the cache: {name!r}; refusing it")
    return name


def parse_ref(ref: str) -> Ref:
    """Split a pull reference into its parts (no network).

    Raises:
        BadInputError: the reference has none of the three accepted forms.
    """
    text = ref.strip()
    if not text:
        raise BadInputError(
            "empty model reference; expected MODEL[:QUANT], OWNER/REPO:QUANT "
            "or OWNER/REPO/FILE.gguf"
        )
    if "/" not in text:
        model_id, _, quant = text.partition(":")
        if not model_id:
            raise BadInputError(f"no model id in {ref!r}")
        return Ref(repo=None, model_id=model_id, quant=quant or None, filename=None)
    parts = text.split("/")
    if len(parts) >= 3:
        repo = check_repo_id("/".join(parts[:2]))
        filename = safe_repo_path("/".join(parts[2:]), hostile=False)
        if not filename.lower().endswith(".gguf"):
            raise BadInputError(f"{ref!r}: a file reference must name a .gguf file")
        return Ref(repo=repo, model_id=None, quant=None, filename=filename)
    repo_text, _, quant = text.partition(":")
    return Ref(repo=check_repo_id(repo_text), model_id=None, quant=quant or None, filename=None)


def describe_quants(found: dict[str, list[list[str]]]) -> str:
    if not found:
        return "it has no GGUF files with a quant in their names"
    items = []
    for quant in sorted(found):
        sets = found[quant]
        count = max(len(s) for s in sets)
        items.append(f"{quant} ({count} parts)" if count > 1 else quant)
    return "quants in this repo: " + ", ".join(items)

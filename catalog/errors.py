"""The root of localctl's exception family, defined here so the catalog room needs
nothing from the rooms that import it. ``localctl.errors`` re-exports these."""

from __future__ import annotations


class LocalctlError(Exception):
    """A failure the user can act on; ``str(error)`` is one plain line."""

    exit_code: int = 1


class BadInputError(LocalctlError):
    """The user asked for something that cannot be done as asked (exit code 2)."""

    exit_code = 2


class CatalogError(BadInputError):
    """A catalog entry is malformed or a model/quant is unknown."""


class GgufError(BadInputError):
    """A GGUF file is malformed, truncated, hostile or unreadable."""

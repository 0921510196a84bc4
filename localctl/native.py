"""The native ``llama-server``: where it is, how it was built, and why a backend is chosen.

``scripts/install.sh`` builds ``llama-server`` from the llama.cpp sources vendored in the
llama-cpp-python sdist, on top of the bindings' own CMake build tree, into
``.venv/llama.cpp/bin`` (linked as ``.venv/bin/llama-server``), with a ``build-info.json``
beside it recording the source, version and CMake flags. :func:`choose_backend` says which
backend ``auto`` (or an explicit choice) resolves to, which binary and build will run, and
why, in words ``localctl hw`` and ``serve`` print.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from localctl.errors import BadInputError

BUILD_INFO_FILE = "build-info.json"
"""Written beside the binary by ``scripts/build-llama-server.sh``."""

INSTALL_HINT = "./scripts/install.sh builds it"


@dataclass(frozen=True, slots=True)
class NativeBuild:
    """Where a native ``llama-server`` was found and what its build record says."""

    path: Path
    found_by: str
    """``LOCALCTL_LLAMA_SERVER``, ``config`` (``server.llama_server_path``), ``install``
    (the binary ``scripts/install.sh`` put beside this Python) or ``PATH``."""
    source: str = ""
    """E.g. ``llama.cpp vendored in llama-cpp-python 0.3.36``; empty when not recorded."""
    version: str = ""
    """llama.cpp's own version line (build number and commit), when recorded."""
    cmake_args: tuple[str, ...] = ()
    """CMake flags it was built with (the same as the bindings' when built by the install)."""

    def describe(self) -> str:
        """One line: path, how it was found, and its build when recorded."""
        text = f"{self.path} (found by {self.found_by})"
        if self.source:
            text += f"; built from {self.source}"
        if self.cmake_args:
            text += f" with {' '.join(self.cmake_args)}"
        return text


@dataclass(frozen=True, slots=True)
class BackendChoice:
    """The backend a server will run, the binary, and why."""

    backend: str
    """``llama-server`` or ``llama-cpp-python``."""
    reason: str
    """One line fit for a user."""
    native: NativeBuild | None = None
    """The native binary when the backend is ``llama-server``."""


def installed_binary() -> Path:
    """Where ``scripts/install.sh`` links the native server: beside this Python's executable."""
    return Path(sys.executable).parent / "llama-server"


def _build_record(path: Path) -> dict[str, object]:
    try:
        record = json.loads((path.resolve().parent / BUILD_INFO_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def find_native(configured: str = "") -> NativeBuild | None:
    """The native ``llama-server`` to run, if any.

    Looked for in order: ``$LOCALCTL_LLAMA_SERVER``, the configured path, the one the
    install built beside this Python, then ``PATH``.

    Args:
        configured: ``server.llama_server_path`` from the config (may be empty).
    """
    candidates = [
        (os.environ.get("LOCALCTL_LLAMA_SERVER", ""), "LOCALCTL_LLAMA_SERVER"),
        (configured, "config"),
        (str(installed_binary()), "install"),
        (shutil.which("llama-server") or "", "PATH"),
    ]
    for candidate, found_by in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            path = Path(candidate)
            record = _build_record(path)
            args = record.get("cmake_args")
            return NativeBuild(
                path=path,
                found_by=found_by,
                source=str(record.get("source", "")),
                version=str(record.get("llama_cpp_version", "")),
                cmake_args=tuple(str(a) for a in args) if isinstance(args, list) else (),
            )
    return None


def choose_backend(requested: str, configured: str = "") -> BackendChoice:
    """Resolve ``requested`` (``auto``, ``llama-server`` or ``llama-cpp-python``).

    ``auto`` runs the native server when one is found (faster and leaner than the Python
    server on the same llama.cpp), else llama-cpp-python's server.

    Args:
        requested: The backend asked for (``--backend`` or ``server.backend``).
        configured: ``server.llama_server_path``.

    Raises:
        BadInputError: ``llama-server`` asked for but none found, or an unknown backend.
    """
    if requested == "llama-cpp-python":
        return BackendChoice("llama-cpp-python", "llama-cpp-python asked for (server.backend)")
    if requested not in ("auto", "llama-server"):
        raise BadInputError(
            f"unknown backend {requested!r}; choose auto, llama-cpp-python or llama-server"
        )
    native = find_native(configured)
    if native is not None:
        why = (
            "auto picks the native server when one is found"
            if requested == "auto"
            else ("llama-server asked for")
        )
        return BackendChoice("llama-server", why, native)
    if requested == "llama-server":
        raise BadInputError(
            "llama-server not found: set server.llama_server_path or LOCALCTL_LLAMA_SERVER, "
            f"or put it on PATH ({INSTALL_HINT})"
        )
    return BackendChoice(
        "llama-cpp-python",
        f"no native llama-server found (looked in LOCALCTL_LLAMA_SERVER, "
        f"server.llama_server_path, {installed_binary()}, PATH; {INSTALL_HINT}), "
        "so llama-cpp-python's server runs",
    )

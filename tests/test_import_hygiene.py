"""The engine and the catalog never import textual or rich (checked in a fresh interpreter)."""

from __future__ import annotations

import subprocess
import sys

import pytest

ENGINE_MODULES = [
    "catalog",
    "catalog.schema",
    "localctl",
    "localctl.cli",
    "localctl.config",
    "localctl.paths",
    "localctl.plan",
    "localctl.hardware",
    "localctl.runfile",
]


@pytest.mark.parametrize("module", ENGINE_MODULES)
def test_engine_module_does_not_import_ui_libraries(module: str) -> None:
    code = (
        f"import sys, importlib; importlib.import_module({module!r}); "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich', 'tui')); "
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_cli_help_imports_no_heavy_libraries() -> None:
    code = (
        "import sys; from localctl.cli import build_parser; build_parser(); "
        "heavy = ('textual', 'rich', 'llama_cpp', 'huggingface_hub', 'numpy', 'gguf', "
        "'httpx', 'psutil'); "
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""

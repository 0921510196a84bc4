"""The engine and the catalog never import textual or rich (checked in a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys

UI_ROOTS = ("textual", "rich", "tui")

_WALK = """
import importlib, json, pkgutil, sys
ui = {ui!r}
found, offenders = [], {{}}
for root in ("catalog", "localctl"):
    package = importlib.import_module(root)
    names = [root] + [m.name for m in pkgutil.walk_packages(package.__path__, root + ".")]
    for name in names:
        if name == "localctl.__main__":
            continue  # running it would start the CLI
        before = {{m for m in sys.modules if m.split(".")[0] in ui}}
        importlib.import_module(name)
        found.append(name)
        after = {{m for m in sys.modules if m.split(".")[0] in ui}}
        if after - before:
            offenders[name] = sorted(after - before)[:3]
print(json.dumps({{"modules": found, "offenders": offenders}}))
"""


def test_no_engine_or_catalog_module_imports_ui_libraries() -> None:
    """Every module of ``catalog`` and ``localctl`` is imported in one fresh interpreter;
    the first one that brings textual, rich or tui in is named."""
    result = subprocess.run(
        [sys.executable, "-c", _WALK.format(ui=UI_ROOTS)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    report = json.loads(result.stdout)
    assert report["offenders"] == {}
    modules = set(report["modules"])
    assert {"catalog.gguf", "localctl.cli", "localctl.hub.fetch", "localctl.library"} <= modules
    assert len(modules) > 60


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

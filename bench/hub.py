"""Hub facts and prices: catalog refresh, search, a plan from a remote header, price data.

The fake hub on loopback mirrors every catalog repository (listed files with the
catalog's names, sizes and hashes), so ``catalog refresh`` does the work it would do
against Hugging Face minus the network's latency.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _mirror_catalog() -> list[Any]:
    """Fake repos holding every catalog row's files (listing only), as the catalog says."""
    from catalog.loader import load_catalog
    from tests.fakehub import FakeRepo, listed_file

    repos: dict[str, dict[str, tuple[int, str]]] = {}
    for model in load_catalog().models:
        files = repos.setdefault(model.repo, {})
        for quant in model.quants:
            sizes = quant.file_sizes or tuple(
                quant.size_bytes // len(quant.files) for _ in quant.files
            )
            hashes = quant.sha256 or tuple(
                hashlib.sha256(name.encode()).hexdigest() for name in quant.files
            )
            for name, size, sha in zip(quant.files, sizes, hashes, strict=True):
                files[name] = (size, sha)
    return [
        FakeRepo(repo, [listed_file(n, size, sha) for n, (size, sha) in files.items()])
        for repo, files in repos.items()
    ]


def _timed(argv: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, check=False)
    return time.perf_counter() - started, done


def run() -> list[dict[str, Any]]:
    """One row per measured operation."""
    from tests.conftest import fetch_smollm2
    from tests.fakehub import DEFAULT_REPO, FakeHub, hub_env, search_repos

    python = sys.executable
    rows: list[dict[str, Any]] = []
    probe = (
        "import time; t=time.perf_counter(); from localctl.cost import price_source;"
        "from localctl.config import DEFAULT_API_MODELS; price_source(DEFAULT_API_MODELS);"
        "a=time.perf_counter(); price_source(DEFAULT_API_MODELS); b=time.perf_counter();"
        "print(a-t, b-a)"
    )
    done = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=True)
    first, again = (float(x) for x in done.stdout.split())
    rows.append({"operation": "genai-prices data: first use in a process", "seconds": first})
    rows.append({"operation": "genai-prices data: every later use", "seconds": again})

    home = tempfile.mkdtemp(prefix="bench-hub-")
    base = dict(os.environ, LOCALCTL_HOME=home, HF_HOME=str(Path(home) / "hf"))
    mirror = _mirror_catalog()
    with FakeHub(mirror, lifetime_s=600) as hub:
        env = hub_env(hub, base)
        took, done = _timed([python, "-m", "localctl", "catalog", "refresh", "--json"], env)
        report = json.loads(done.stdout)
        listed = sum(r["status"] == "listed" for r in report["repos"])
        rows.append(
            {
                "operation": f"catalog refresh: {len(mirror)} repos, "
                f"{report['rows_checked']} rows, {len(report['changes'])} differ",
                "seconds": took,
                "requests": len(hub.requests),
                "note": f"{listed} listed",
            }
        )
    model = fetch_smollm2()
    with FakeHub(search_repos(model), lifetime_s=600) as hub:
        env = hub_env(hub, base)
        took, done = _timed([python, "-m", "localctl", "search", "smollm2", "--json"], env)
        found = json.loads(done.stdout)["repos"]
        rows.append(
            {
                "operation": f"search smollm2: {len(found)} repos, "
                f"{sum(len(r['quants']) for r in found)} quants",
                "seconds": took,
                "requests": len(hub.requests),
            }
        )
        before = len(hub.requests)
        took, done = _timed([python, "-m", "localctl", "fit", f"{DEFAULT_REPO}:Q4_1"], env)
        ranges = [r for r in hub.requests[before:] if "/resolve/" in r.path]
        rows.append(
            {
                "operation": "fit OWNER/REPO:QUANT (listing + header by range)",
                "seconds": took,
                "requests": len(hub.requests) - before,
                "note": f"{len(ranges)} range reads, nothing downloaded",
            }
        )
    return rows

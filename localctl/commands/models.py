"""`localctl models`: the catalog with a fit verdict and predicted speed per quant."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from catalog.loader import Catalog


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``models`` verb."""
    from localctl.commands.fit import add_plan_arguments, add_request_arguments

    parser = subparsers.add_parser(
        "models",
        help="catalog models with fit verdicts for this machine",
        description="Every catalog model x quant: size, quality, fit verdict and predicted speed.",
    )
    add_plan_arguments(parser)
    add_request_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.set_defaults(run=run)


def load_user_catalog() -> Catalog:
    """The catalog as :func:`localctl.library.load_user_catalog` reads it."""
    from localctl import library

    return library.load_user_catalog()


def run(args: argparse.Namespace) -> int:
    """Run ``localctl models``."""
    from localctl.commands.fit import hardware_summary, plan_document, plan_request
    from localctl.config import load_config
    from localctl.errors import LocalctlError
    from localctl.hardware import resolve_hardware
    from localctl.library import (
        PAST_TRAINING_MARK,
        beyond_training,
        library_targets,
        plan_target,
        quality_note,
    )
    from localctl.output import emit_json, human_bytes, table

    config = load_config()
    request = plan_request(config, args)
    ctx = request.ctx
    catalog = load_user_catalog()
    hw = resolve_hardware(args.hw)
    rows: list[dict[str, Any]] = []
    for target in library_targets(catalog.models, config):
        model, quant, local = target.model, target.quant, target.local_path
        try:
            row = plan_document(plan_target(target, hw, request))
        except LocalctlError as error:
            row = {"placement": "error", "verdict": "?", "reason": str(error)}
        row.update(
            model=model.id,
            name=model.name,
            quant=quant.name,
            local_file=target.is_local_file,
            size_bytes=quant.size_bytes,
            size_exact=quant.size_exact,
            repo=model.repo,
            files=list(quant.files),
            file_sizes=list(quant.file_sizes),
            sha256=list(quant.sha256),
            revision=quant.revision or None,
            fact_source=quant.fact_source or None,
            fact_date=quant.fact_date or None,
            hub_status=quant.hub_status or None,
            hub_note=quant.hub_note or None,
            memory_caveat=model.memory_caveat or None,
            past_training=beyond_training(model, ctx),
            quality=quality_note(quant),
            downloaded=local is not None,
            path=str(local) if local is not None else None,
        )
        rows.append(row)
    if args.json:
        emit_json({"ctx": ctx, "hardware": hardware_summary(hw), "models": rows})
        return 0
    # The same units and marks as the TUI's table: GiB, a leading ~ for an estimated size,
    # a check mark for a file on disk.
    header = ["model", "quant", "size", "quality", "fit", "tok/s", "local"]
    body = [
        [
            r["model"],
            r["quant"] + _HUB_MARKS.get(r["hub_status"] or "", ""),
            ("" if r["size_exact"] else "~") + human_bytes(r["size_bytes"]),
            r["quality"],
            r["verdict"] + (PAST_TRAINING_MARK if r["past_training"] else ""),
            f"{r['predicted_tok_s']:.1f}" if r["placement"] in ("gpu", "partial", "cpu") else "-",
            "✓" if r["downloaded"] else "",
        ]
        for r in rows
    ]
    print(f"ctx {ctx} on {hw.profile or 'this machine'} (tok/s: with the context full)")
    print(table(body, header))
    if any(r["past_training"] for r in rows):
        print(f"{PAST_TRAINING_MARK.strip()} ctx {ctx} is longer than the model was trained for")
    from localctl.snapshot import snapshot_age

    if age := snapshot_age():
        print(age)
    flagged = [r for r in rows if r["hub_status"] in _HUB_MARKS]
    for r in flagged:
        print(f"{r['model']}:{r['quant']}{_HUB_MARKS[r['hub_status']]} {r['hub_note']}")
    return 0


_HUB_MARKS = {"changed": " (changed)", "vanished": " (gone)"}
"""How a row the last hub listing contradicts is marked (``localctl catalog refresh``)."""

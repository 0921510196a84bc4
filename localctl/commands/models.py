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
    """The built-in catalog extended by the user's catalog file, with the hub snapshot
    (``localctl catalog refresh``) laid over it."""
    from localctl.snapshot import load_catalog

    return load_catalog()


def _quality(name: str) -> str:
    try:
        from catalog.quants import QUANT_TYPES
    except ImportError:
        return ""
    quant = QUANT_TYPES.get(name.upper())
    return quant.quality if quant is not None else ""


def run(args: argparse.Namespace) -> int:
    """Run ``localctl models``."""
    from localctl.commands.fit import hardware_summary, plan_document, plan_request
    from localctl.config import load_config
    from localctl.hardware import resolve_hardware
    from localctl.inventory import find_local
    from localctl.output import emit_json, human_bytes, table
    from localctl.plan import plan
    from localctl.shape import shape_for_quant

    config = load_config()
    request = plan_request(config, args)
    ctx = request.ctx
    catalog = load_user_catalog()
    hw = resolve_hardware(args.hw)
    rows: list[dict[str, Any]] = []
    for model in catalog.models:
        for quant in model.quants:
            memory_plan = plan(shape_for_quant(model, quant.name), hw, request)
            local = find_local(model, quant)
            row = plan_document(memory_plan)
            row.update(
                model=model.id,
                name=model.name,
                quant=quant.name,
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
                quality=_quality(quant.name),
                downloaded=local is not None,
                path=str(local) if local is not None else None,
            )
            rows.append(row)
    if args.json:
        emit_json({"ctx": ctx, "hardware": hardware_summary(hw), "models": rows})
        return 0
    header = ["model", "quant", "size", "quality", "fit", "tok/s", "local"]
    body = [
        [
            r["model"],
            r["quant"] + _HUB_MARKS.get(r["hub_status"] or "", ""),
            human_bytes(r["size_bytes"], decimal=True) + ("" if r["size_exact"] else "~"),
            r["quality"],
            r["verdict"],
            f"{r['predicted_tok_s']:.1f}" if r["placement"] != "none" else "-",
            "yes" if r["downloaded"] else "",
        ]
        for r in rows
    ]
    print(f"ctx {ctx} on {hw.profile or 'this machine'}")
    print(table(body, header))
    from localctl.snapshot import snapshot_age

    if age := snapshot_age():
        print(age)
    flagged = [r for r in rows if r["hub_status"] in _HUB_MARKS]
    for r in flagged:
        print(f"{r['model']}:{r['quant']}{_HUB_MARKS[r['hub_status']]} {r['hub_note']}")
    return 0


_HUB_MARKS = {"changed": " (changed)", "vanished": " (gone)"}
"""How a row the last hub listing contradicts is marked (``localctl catalog refresh``)."""

"""`localctl search`: GGUF repositories on the hub, their quant files and exact sizes."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from localctl.plan import MemoryPlan
    from localctl.search import RepoHit, SearchResult


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``search`` verb."""
    from localctl.commands.fit import add_plan_arguments

    parser = subparsers.add_parser(
        "search",
        help="GGUF repositories on the hub: quants, exact sizes, downloads",
        description=(
            "Search the Hugging Face Hub (HF_ENDPOINT) for GGUF repositories whose id "
            "contains QUERY, most downloaded first, each with its quant files and exact "
            "sizes. Plan one with `localctl fit OWNER/REPO:QUANT` (reads its header, no "
            "download); download it with `localctl pull OWNER/REPO:QUANT`."
        ),
    )
    parser.add_argument("query", metavar="QUERY", help="words in the repository id")
    parser.add_argument(
        "--limit", type=int, default=10, metavar="N", help="most repositories (default 10)"
    )
    parser.add_argument(
        "--fit",
        action="store_true",
        help="plan every quant found from its header (one range read each, no download)",
    )
    add_plan_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.set_defaults(run=run)


def hit_document(hit: RepoHit, plans: dict[str, MemoryPlan | str] | None = None) -> dict[str, Any]:
    """The stable JSON form of one repository found (with each quant's plan when given)."""
    from localctl.commands.fit import plan_document

    def planned(ref: str) -> dict[str, Any]:
        if plans is None or ref not in plans:
            return {}
        plan = plans[ref]
        if isinstance(plan, str):
            return {"plan": None, "plan_error": plan}
        return {"plan": plan_document(plan), "plan_error": None}

    return {
        "repo": hit.repo,
        "downloads": hit.downloads,
        "likes": hit.likes,
        "last_modified": hit.last_modified,
        "gated": hit.gated,
        "commit": hit.commit,
        "error": hit.error,
        "quants": [
            {
                "quant": q.quant,
                "ref": q.ref,
                "size_bytes": q.size_bytes,
                "parts": q.parts,
                "files": [
                    {"path": f.path, "size_bytes": f.size_bytes, "sha256": f.sha256}
                    for f in q.files
                ],
                **planned(q.ref),
            }
            for q in hit.quants
        ],
    }


def render(result: SearchResult, plans: dict[str, MemoryPlan | str] | None = None) -> str:
    """Human output: one block per repository, one line per quant (with its verdict)."""
    from localctl.output import human_bytes

    if not result.hits:
        return f"no GGUF repositories on {result.endpoint} match {result.query!r}"
    lines: list[str] = []
    for hit in result.hits:
        updated = hit.last_modified[:10] or "unknown"
        gated = " · gated" if hit.gated else ""
        lines.append(f"{hit.repo}  ({hit.downloads:,} downloads · updated {updated}{gated})")
        if hit.error:
            lines.append(f"  {hit.error}")
        elif not hit.quants:
            lines.append("  no GGUF files with a quant in their names")
        for quant in hit.quants:
            parts = f"{quant.parts} parts" if quant.parts > 1 else "1 file"
            line = (
                f"  {quant.quant:<10} {human_bytes(quant.size_bytes):>10}  {parts:<8}  {quant.ref}"
            )
            plan = (plans or {}).get(quant.ref)
            if isinstance(plan, str):
                line += f"  (no plan: {plan})"
            elif plan is not None:
                line += f"  {plan.verdict()}"
                if plan.placement != "none":
                    line += f", {plan.predicted_tok_s:.1f} tok/s"
            lines.append(line)
    lines.append("")
    lines.append(
        "Plan one: localctl fit REF (reads its header, no download). Get it: localctl pull REF"
    )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run ``localctl search``."""
    from localctl.config import load_config
    from localctl.errors import BadInputError
    from localctl.output import emit_json
    from localctl.search import plan_hits, search_hub

    if not args.fit and (args.hw is not None or args.ctx is not None):
        raise BadInputError("--hw and --ctx describe the --fit plans; pass --fit too")
    result = search_hub(args.query, limit=args.limit)
    plans = None
    ctx = None
    if args.fit:
        from localctl.hardware import resolve_hardware
        from localctl.request import PlanRequest

        request = PlanRequest.from_config(load_config(), ctx=args.ctx)
        ctx = request.ctx
        plans = plan_hits(result, resolve_hardware(args.hw), request)
    if args.json:
        emit_json(
            {
                "query": result.query,
                "endpoint": result.endpoint,
                "ctx": ctx,
                "repos": [hit_document(hit, plans) for hit in result.hits],
            }
        )
        return 0
    print(render(result, plans))
    return 0

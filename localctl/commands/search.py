"""`localctl search`: GGUF repositories on the hub, their quant files and exact sizes."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from localctl.search import RepoHit, SearchResult


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``search`` verb."""
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
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.set_defaults(run=run)


def hit_document(hit: RepoHit) -> dict[str, Any]:
    """The stable JSON form of one repository found."""
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
            }
            for q in hit.quants
        ],
    }


def render(result: SearchResult) -> str:
    """Human output: one block per repository, one line per quant."""
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
            lines.append(
                f"  {quant.quant:<10} {human_bytes(quant.size_bytes):>10}  {parts:<8}  {quant.ref}"
            )
    lines.append("")
    lines.append(
        "Plan one: localctl fit REF (reads its header, no download). Get it: localctl pull REF"
    )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run ``localctl search``."""
    from localctl.output import emit_json
    from localctl.search import search_hub

    result = search_hub(args.query, limit=args.limit)
    if args.json:
        emit_json(
            {
                "query": result.query,
                "endpoint": result.endpoint,
                "repos": [hit_document(hit) for hit in result.hits],
            }
        )
        return 0
    print(render(result))
    return 0

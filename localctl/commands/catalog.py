"""`localctl catalog refresh`: exact files, sizes and sha256 of every catalog repo from the hub."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from localctl.snapshot import RefreshReport, RepoOutcome


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``catalog`` verb and its ``refresh`` action."""
    parser = subparsers.add_parser(
        "catalog",
        help="refresh the catalog's file facts from the hub",
        description="Work with the catalog's facts about the hub.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    refresh = actions.add_parser(
        "refresh",
        help="list every catalog repo on the hub; store sizes and sha256; flag changes",
        description=(
            "List the files of every catalog repository on the Hugging Face Hub "
            "(HF_ENDPOINT, HF_TOKEN honoured) and store them with the date in localctl's "
            "cache. Rows whose files changed take the hub's sizes and hashes; rows whose "
            "files vanished are flagged. Offline, the last snapshot is kept and its age said."
        ),
    )
    refresh.add_argument(
        "models", nargs="*", metavar="MODEL", help="catalog ids to refresh (default: all)"
    )
    refresh.add_argument("--json", action="store_true", help="print the report as JSON")
    refresh.set_defaults(run=run)


def report_document(report: RefreshReport) -> dict[str, Any]:
    """The stable JSON form of a refresh."""
    from localctl.snapshot import snapshot_file

    return {
        "endpoint": report.endpoint,
        "started_at": report.started_at,
        "offline": report.offline,
        "oldest_kept": report.oldest_kept,
        "snapshot": str(snapshot_file()),
        "rows_checked": report.rows_checked,
        "repos": [
            {
                "repo": o.repo,
                "status": o.status,
                "error": o.error,
                "checked_at": o.checked_at,
            }
            for o in report.repos
        ],
        "changes": [
            {
                "model": c.model_id,
                "quant": c.quant,
                "repo": c.repo,
                "status": c.status,
                "detail": c.detail,
                "catalog_bytes": c.catalog_bytes,
                "hub_bytes": c.hub_bytes,
                "checked_at": c.checked_at,
            }
            for c in report.changes
        ],
    }


def summary(report: RefreshReport) -> list[str]:
    """Human lines: counts, then each changed or vanished row, then each failed repo."""
    from localctl.snapshot import age_text

    listed = [o for o in report.repos if o.status == "listed"]
    failed = [o for o in report.repos if o.status == "failed"]
    lines = []
    if report.offline:
        kept = (
            f"keeping the last snapshot ({age_text(report.oldest_kept)}, "
            f"from {report.oldest_kept[:16].replace('T', ' ')} UTC)"
            if report.oldest_kept
            else "no snapshot stored yet: the catalog's own facts stay in use"
        )
        lines.append(f"cannot reach {report.endpoint}: {kept}")
    else:
        lines.append(
            f"{len(listed)} of {len(report.repos)} repos listed on {report.endpoint}; "
            f"{report.rows_checked} rows checked, {len(report.changes)} differ"
        )
    for change in report.changes:
        lines.append(f"  {change.status:<8} {change.key}: {change.detail}")
    lines.extend(_repo_line(o) for o in failed)
    if not report.offline:
        lines.extend(_repo_line(o) for o in report.repos if o.status in ("kept", "missing"))
    return lines


def _repo_line(outcome: RepoOutcome) -> str:
    from localctl.snapshot import age_text

    if outcome.status == "kept":
        return f"  kept     {outcome.repo}: unreachable, listing {age_text(outcome.checked_at)}"
    return f"  {outcome.status:<8} {outcome.repo}: {outcome.error}"


def run(args: argparse.Namespace) -> int:
    """Run ``localctl catalog refresh``; exit 1 when no repository could be listed."""
    from localctl.output import emit_json
    from localctl.snapshot import refresh_catalog

    progress = None
    if sys.stderr.isatty():
        done: list[RepoOutcome] = []

        def progress(outcome: RepoOutcome) -> None:
            done.append(outcome)
            sys.stderr.write(
                f"\r{len(done)} repos checked, last {outcome.repo} ({outcome.status})\033[K"
            )
            sys.stderr.flush()

    report = refresh_catalog(only=args.models, progress=progress)
    if progress is not None:
        sys.stderr.write("\r\033[K")
    lines = summary(report)
    if args.json:
        emit_json(report_document(report))
    elif not report.offline:
        print("\n".join(lines))
    if report.offline:
        print(f"localctl: {lines[0]}", file=sys.stderr)
        return 1
    return 0

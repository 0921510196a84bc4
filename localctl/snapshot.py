"""The hub snapshot: the catalog's repositories as the hub last listed them.

``localctl catalog refresh`` (:func:`refresh`) lists every catalog repository
through :func:`localctl.hub.listing.list_repo` and stores the GGUF files (exact size,
sha256, commit, date of the listing) in localctl's cache folder, one entry per
repository. A repository that cannot be reached keeps its previous entry, so an
offline refresh loses nothing and says how old what it keeps is.
:func:`load_catalog` then lays the snapshot over the catalog
(:func:`catalog.hubfacts.apply_listings`): rows whose files changed take the hub's
sizes and hashes, rows whose files vanished are marked, and ``models``, ``fit``,
downloads and the TUI all read the catalog through it.
"""

from __future__ import annotations

import datetime
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from catalog.hubfacts import ListedRepo, QuantChange, apply_listings, compare
from localctl import hub, paths
from localctl.errors import BadInputError, LocalctlError
from localctl.hub import listing

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from pathlib import Path

    from catalog.loader import Catalog

SNAPSHOT_VERSION = 1
REFRESH_WORKERS = 4
"""Repositories listed at once."""


def snapshot_file() -> Path:
    """Where the snapshot lives (``<cache>/hub-snapshot.json``)."""
    return paths.cache_dir() / "hub-snapshot.json"


@dataclass(frozen=True, slots=True)
class RepoOutcome:
    """What a refresh did for one repository."""

    repo: str
    status: str
    """``listed`` (read now), ``kept`` (hub unreachable: the stored listing stays),
    ``missing`` (no stored listing and the hub could not be reached) or ``failed``
    (the hub answered with an error: not found, gated, server error)."""
    error: str = ""
    checked_at: str = ""
    """When the listing in use was read (now, or the kept one's date)."""


@dataclass(frozen=True, slots=True)
class RefreshReport:
    """The result of one refresh."""

    endpoint: str
    started_at: str
    repos: tuple[RepoOutcome, ...]
    changes: tuple[QuantChange, ...]
    """Every catalog row the hub's listings contradict (changed or vanished files)."""
    rows_checked: int
    """Catalog rows whose repository has a listing in the snapshot."""
    offline: bool = False
    """True when no repository could be reached."""
    oldest_kept: str = ""
    """ISO time of the oldest listing kept from before (empty when none was kept)."""
    notes: tuple[str, ...] = field(default=())


def _listed_from_json(document: Any) -> ListedRepo | None:
    try:
        files = {
            str(f["path"]): (int(f["size_bytes"]), str(f.get("sha256") or ""))
            for f in document["files"]
        }
        return ListedRepo(
            repo=str(document["repo"]),
            files=files,
            checked_at=str(document["checked_at"]),
            commit=str(document.get("commit", "")),
            endpoint=str(document.get("endpoint", "")),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _listed_to_json(listed: ListedRepo) -> dict[str, Any]:
    return {
        "repo": listed.repo,
        "checked_at": listed.checked_at,
        "commit": listed.commit,
        "endpoint": listed.endpoint,
        "files": [
            {"path": path, "size_bytes": size, "sha256": sha or None}
            for path, (size, sha) in sorted(listed.files.items())
        ],
    }


def load_snapshot() -> dict[str, ListedRepo]:
    """The stored listings by repository (empty when there is no readable snapshot)."""
    try:
        document = json.loads(snapshot_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(document, dict) or document.get("version") != SNAPSHOT_VERSION:
        return {}
    repos = document.get("repos")
    if not isinstance(repos, dict):
        return {}
    loaded = {}
    for value in repos.values():
        listed = _listed_from_json(value)
        if listed is not None:
            loaded[listed.repo] = listed
    return loaded


def save_snapshot(listings: dict[str, ListedRepo]) -> None:
    """Write the snapshot atomically."""
    from localctl.config import atomic_write

    document = {
        "version": SNAPSHOT_VERSION,
        "repos": {repo: _listed_to_json(listings[repo]) for repo in sorted(listings)},
    }
    path = snapshot_file()
    paths.ensure_private_dir(path.parent)
    atomic_write(path, json.dumps(document, indent=1).encode("utf-8"))


def _listed(found: listing.RepoListing) -> ListedRepo:
    return ListedRepo(
        repo=found.repo,
        files={
            f.path: (f.size_bytes, f.sha256 or "")
            for f in found.files
            if f.path.lower().endswith(".gguf")
        },
        checked_at=found.checked_at,
        commit=found.commit,
        endpoint=found.endpoint,
    )


def age_text(checked_at: str, now: datetime.datetime | None = None) -> str:
    """How old an ISO time is, in words (``3 h``, ``2 days``)."""
    try:
        then = datetime.datetime.strptime(checked_at, "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.UTC
        )
    except ValueError:
        return "of unknown age"
    seconds = max(0.0, ((now or datetime.datetime.now(datetime.UTC)) - then).total_seconds())
    if seconds < 120:
        return f"{seconds:.0f} s old"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min old"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h old"
    return f"{seconds / 86400:.0f} days old"


def refresh(
    catalog: Catalog,
    *,
    only: Iterable[str] = (),
    progress: Callable[[RepoOutcome], None] | None = None,
    cancel: threading.Event | None = None,
) -> RefreshReport:
    """List every catalog repository on the hub, store the snapshot, report what changed.

    Args:
        catalog: The catalog as shipped plus the user's file (without a snapshot laid
            over it: changes are judged against the catalog's own facts).
        only: Model ids to refresh (default: every model).
        progress: Called (from worker threads) once per repository as it finishes.
        cancel: Set it to stop early; repositories not listed yet keep their entries.

    Returns:
        Per repository what happened, and every row whose files changed or vanished.

    Raises:
        BadInputError: an id in ``only`` is not in the catalog.
    """
    wanted = {m.lower() for m in only}
    models = [m for m in catalog.models if not wanted or m.id in wanted]
    unknown = wanted - {m.id for m in models}
    if unknown:
        raise BadInputError(f"not in the catalog: {', '.join(sorted(unknown))}")
    repos = sorted({m.repo for m in models})
    stored = load_snapshot()
    started = listing.utc_now()
    lock = threading.Lock()
    unreachable: list[str] = []
    """The first "cannot reach" error: once the hub is unreachable, the rest are not tried."""

    def one(repo: str) -> RepoOutcome:
        old = stored.get(repo)
        kept = ("kept" if old is not None else "missing", old.checked_at if old else "")
        if cancel is not None and cancel.is_set():
            outcome = RepoOutcome(repo, kept[0], "cancelled", kept[1])
        elif unreachable:
            outcome = RepoOutcome(repo, kept[0], unreachable[0], kept[1])
        else:
            try:
                found = _listed(listing.list_repo(repo, expand=True, cancel=cancel))
            except listing.HubUnreachable as error:
                unreachable.append(str(error))
                outcome = RepoOutcome(repo, kept[0], str(error), kept[1])
            except LocalctlError as error:
                outcome = RepoOutcome(repo, "failed", str(error), kept[1])
            else:
                with lock:
                    stored[repo] = found
                outcome = RepoOutcome(repo, "listed", "", found.checked_at)
        if progress is not None:
            progress(outcome)
        return outcome

    with ThreadPoolExecutor(max_workers=REFRESH_WORKERS) as pool:
        outcomes = tuple(pool.map(one, repos))
    if any(o.status == "listed" for o in outcomes):
        save_snapshot(stored)
    changes = compare(catalog, stored)
    checked = sum(len(m.quants) for m in catalog.models if m.repo in stored)
    kept = [o.checked_at for o in outcomes if o.status == "kept" and o.checked_at]
    offline = bool(outcomes) and all(o.status in ("kept", "missing") for o in outcomes)
    return RefreshReport(
        endpoint=hub.hub_endpoint(),
        started_at=started,
        repos=outcomes,
        changes=tuple(changes),
        rows_checked=checked,
        offline=offline,
        oldest_kept=min(kept, default=""),
    )


def snapshot_age() -> str:
    """One line on the stored snapshot: how many repos, from when, how old; empty if none."""
    stored = load_snapshot()
    if not stored:
        return ""
    oldest = min(listed.checked_at for listed in stored.values())
    return (
        f"hub facts: {len(stored)} repo{'s' if len(stored) != 1 else ''} listed by "
        "catalog refresh, the oldest "
        f"{age_text(oldest)} ({oldest[:16].replace('T', ' ')} UTC)"
    )


def refresh_catalog(
    *,
    only: Iterable[str] = (),
    progress: Callable[[RepoOutcome], None] | None = None,
    cancel: threading.Event | None = None,
) -> RefreshReport:
    """:func:`refresh` of the catalog as shipped plus the user's file (blocking: call it
    from a worker thread in a UI).

    Raises:
        BadInputError: an id in ``only`` is not in the catalog.
        CatalogError: a malformed catalog entry.
    """
    from catalog.loader import load_catalog as load

    return refresh(load(paths.user_catalog_file()), only=only, progress=progress, cancel=cancel)


def load_catalog() -> Catalog:
    """The catalog (curated plus the user's file) with the hub snapshot laid over it.

    A malformed entry of the user's file is skipped; each such warning is logged once
    (the CLI prints it on stderr, the TUI's log pane shows it).

    Raises:
        CatalogError: a malformed curated entry.
    """
    from catalog.loader import load_catalog as load

    catalog = load(paths.user_catalog_file())
    for warning in catalog.warnings:
        if warning not in _warned:
            _warned.add(warning)
            logging.getLogger("localctl.catalog").warning("warning: %s", warning)
    return apply_listings(catalog, load_snapshot())


_warned: set[str] = set()
"""Catalog warnings already logged by this process."""

"""Hub search: GGUF repositories matching a query, their quant files, and a plan for one.

:func:`search_hub` asks huggingface_hub for GGUF repos (``list_models(search=…,
filter="gguf", sort="downloads")``), then lists each one's files (exact sizes, split
sets grouped, several files per quant kept apart). :func:`read_quant_header` reads the
chosen quant's GGUF header(s) with HTTP range requests (no download), and
:func:`hub_model` turns that header into the same catalog values a curated row has,
so the fit plan, the download and the server are the ones every catalog row uses.
"""

from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from catalog.schema import HUB_SOURCE
from localctl import hub
from localctl.errors import BadInputError, DownloadError, LocalctlError
from localctl.hub import listing

if TYPE_CHECKING:
    from catalog.gguf import GgufSet
    from catalog.schema import ModelSpec, QuantSpec
    from localctl.hardware import Hardware
    from localctl.hub.listing import QuantSet
    from localctl.plan import MemoryPlan
    from localctl.request import PlanRequest

DEFAULT_LIMIT = 10
"""Repositories listed by one search (each costs one more request for its files)."""
LIST_WORKERS = 4
"""Repositories listed at once."""


@dataclass(frozen=True, slots=True)
class RepoHit:
    """One repository found by a search, with its GGUF quants."""

    repo: str
    downloads: int
    """Downloads over the last 30 days, as the hub counts them."""
    likes: int
    last_modified: str
    """ISO time of the repository's last commit (empty when unknown)."""
    gated: bool
    quants: tuple[QuantSet, ...] = ()
    commit: str = ""
    """Commit the file list was read at (empty when it could not be read)."""
    error: str = ""
    """Why the files could not be listed (one line), empty when they were."""


@dataclass(frozen=True, slots=True)
class SearchResult:
    """What one search found."""

    query: str
    endpoint: str
    hits: tuple[RepoHit, ...] = field(default=())


def _find_repos(query: str, limit: int, cancel: threading.Event | None) -> list[Any]:
    api = listing.hub_api(hub.hub_token())
    expand = ["downloads", "likes", "lastModified", "gated", "tags"]

    def call() -> list[Any]:
        with listing.no_backoff():
            found = api.list_models(
                search=query, filter="gguf", sort="downloads", limit=limit, expand=expand
            )
            return list(found)

    return list(listing.with_retries(call, "the model search", cancel, retry=False))


def _plain_repo_id(info: Any) -> bool:
    try:
        hub.check_repo_id(str(info.id))
    except BadInputError:
        return False
    return True


def _hit(info: Any, cancel: threading.Event | None) -> RepoHit:
    repo = str(info.id)
    modified = info.last_modified
    hit = RepoHit(
        repo=repo,
        downloads=int(info.downloads or 0),
        likes=int(info.likes or 0),
        last_modified=modified.strftime("%Y-%m-%dT%H:%M:%SZ") if modified else "",
        gated=bool(info.gated),
    )
    try:
        files = listing.list_repo(repo, expand=False, cancel=cancel)
    except LocalctlError as error:
        return dataclasses.replace(hit, error=str(error))
    quants = tuple(listing.quant_sets(repo, files.files))
    return dataclasses.replace(hit, quants=quants, commit=files.commit)


def search_hub(
    query: str, *, limit: int = DEFAULT_LIMIT, cancel: threading.Event | None = None
) -> SearchResult:
    """GGUF repositories whose id contains ``query``, most downloaded first, with their quants.

    Args:
        query: Words to look for in repository ids (the hub's own matching).
        limit: The most repositories to return.
        cancel: Set it to stop retries early.

    Returns:
        The repositories; one whose files could not be listed carries the reason in
        ``error`` (a gated one says how to get access).

    Raises:
        BadInputError: empty query or a limit below 1.
        DownloadError: the search itself failed (one line; offline says so).
    """
    text = query.strip()
    if not text:
        raise BadInputError("search needs a query, e.g. `localctl search qwen3`")
    if limit < 1:
        raise BadInputError("--limit must be at least 1")
    # An id the hub would refuse (a hostile mirror: escape sequences, paths) is left out.
    found = [info for info in _find_repos(text, limit, cancel) if _plain_repo_id(info)]
    with ThreadPoolExecutor(max_workers=LIST_WORKERS) as pool:
        hits = tuple(pool.map(lambda info: _hit(info, cancel), found))
    return SearchResult(query=text, endpoint=hub.hub_endpoint(), hits=hits)


def file_url(repo: str, commit: str, path: str) -> str:
    """The ``resolve`` URL of one file at ``commit`` (``main`` when empty)."""
    return f"{hub.hub_endpoint()}/{repo}/resolve/{commit or 'main'}/{quote(path)}"


def read_quant_header(repo: str, quant: QuantSet, commit: str = "") -> GgufSet:
    """Read the GGUF header of every file of ``quant`` with HTTP range requests.

    Only the first few MiB of each file are fetched; nothing is written to disk.

    Raises:
        DownloadError: the file cannot be read (a gated repository says what to do).
        GgufError: the bytes are not a GGUF header.
    """
    from localctl.remote_gguf import read_remote_gguf_set

    try:
        return read_remote_gguf_set(file_url(repo, commit, quant.files[0].path))
    except DownloadError as error:
        if "(401)" in str(error) or "(403)" in str(error):
            raise listing.GatedRepoError(listing.gated_message(repo)) from None
        raise


def hub_model(repo: str, quant: QuantSet, gguf_set: GgufSet) -> tuple[ModelSpec, QuantSpec]:
    """Catalog values for a hub quant, from its header and its listing (exact sizes).

    The model id is the repository id and the quant carries the listed files, sizes and
    sha256, so a download of it is verified like a catalog row's.
    """
    from catalog.schema import ModelSpec, QuantSpec

    info = gguf_set.first
    spec = QuantSpec(
        name=quant.quant,
        files=tuple(f.path for f in quant.files),
        size_bytes=quant.size_bytes,
        size_exact=True,
        sha256=tuple(f.sha256 or "" for f in quant.files),
    )
    license_ = info.metadata.get("general.license")
    model = ModelSpec(
        id=repo,
        name=info.name or repo.split("/", 1)[1],
        family=HUB_SOURCE,
        repo=repo,
        params=sum(t.n_elements for t in gguf_set.tensors),
        arch=info.arch,
        license=str(license_) if license_ else "",
        quants=(spec,),
        notes=f"from a hub search; header read from {file_url(repo, '', quant.files[0].path)}",
        source=HUB_SOURCE,
    )
    return model, spec


@dataclass(frozen=True, slots=True)
class HubChoice:
    """One quant of one hub repository, its files listed and its header read."""

    repo: str
    quant: QuantSet
    commit: str
    gguf_set: GgufSet


def is_hub_ref(ref: str) -> bool:
    """True when ``ref`` reads as ``OWNER/REPO[:QUANT]`` or ``OWNER/REPO/FILE.gguf``."""
    if ref.lower().endswith(".gguf") and ref.count("/") < 2:
        return False
    try:
        return hub.parse_ref(ref).repo is not None
    except BadInputError:
        return False


def choose(ref: str, *, cancel: threading.Event | None = None) -> HubChoice:
    """List the repository ``ref`` names, pick its quant and read that quant's header.

    Args:
        ref: ``OWNER/REPO:QUANT`` (``OWNER/REPO`` when it has one quant) or
            ``OWNER/REPO/FILE.gguf`` (a split part brings its whole set).
        cancel: Set it to stop retries early.

    Raises:
        BadInputError: a malformed reference or a quant the repository does not have.
        DownloadError: hub failures (gated repositories say what to do).
        GgufError: the file is not a GGUF file.
    """
    parsed = hub.parse_ref(ref)
    if parsed.repo is None:
        raise BadInputError(f"{ref!r} is not a hub reference (OWNER/REPO:QUANT)")
    repo = parsed.repo
    found = listing.list_repo(repo, expand=False, cancel=cancel)
    sets = listing.quant_sets(repo, found.files)
    if parsed.filename is not None:
        wanted = [q for q in sets if parsed.filename in (f.path for f in q.files)]
    elif parsed.quant is not None:
        wanted = [q for q in sets if q.quant == parsed.quant.upper()]
    else:
        wanted = sets if len({q.quant for q in sets}) == 1 else []
    if len(wanted) != 1:
        names = ", ".join(q.ref.removeprefix(f"{repo}:") for q in sets)
        has = f"it has {names}" if names else "it has no GGUF files with a quant in their names"
        if wanted:
            raise BadInputError(f"{ref}: several files match; pick one: {names}")
        if parsed.quant is None and parsed.filename is None:
            raise BadInputError(f"{ref}: name a quant as {repo}:QUANT; {has}")
        raise BadInputError(f"{ref}: not in {repo}; {has}")
    quant = wanted[0]
    return HubChoice(repo, quant, found.commit, read_quant_header(repo, quant, found.commit))


def plan_hits(
    result: SearchResult, hw: Hardware, request: PlanRequest
) -> dict[str, MemoryPlan | str]:
    """Plan every quant found from its own header (one range read each, four at a time).

    Args:
        result: A search result.
        hw: The machine to plan for.
        request: What each plan is for (context, KV type, backend...).

    Returns:
        Quant reference → its plan, or the one-line reason it could not be planned.
    """
    from localctl.plan import plan
    from localctl.shape import shape_from_gguf_set

    def one(hit: RepoHit, quant: QuantSet) -> tuple[str, MemoryPlan | str]:
        try:
            header = read_quant_header(hit.repo, quant, hit.commit)
            planned = plan(shape_from_gguf_set(header), hw, request)
        except LocalctlError as error:
            return quant.ref, str(error)
        return quant.ref, planned

    jobs = [(hit, quant) for hit in result.hits for quant in hit.quants]
    with ThreadPoolExecutor(max_workers=LIST_WORKERS) as pool:
        return dict(pool.map(lambda job: one(*job), jobs))

"""Resolve a reference against the hub: pinned commit, files, sizes, sha256s; no byte yet."""

from __future__ import annotations

import threading
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from catalog.filenames import part_number, quant_of, quants_in_files, split_part, split_set_key
from localctl.errors import BadInputError, DownloadError
from localctl.hub import env
from localctl.hub.cache import repo_cache_dir
from localctl.hub.env import hub_endpoint, hub_token
from localctl.hub.errors import hub_error, no_connection, retryable, sleep_or_cancel
from localctl.hub.refs import (
    DEFAULT_QUANT,
    Ref,
    check_repo_id,
    describe_quants,
    parse_ref,
    safe_repo_path,
)
from localctl.hub.values import HEX40, PullPlan, RemoteFile, checked_size_and_sha256

if TYPE_CHECKING:
    pass


def _model_info(
    repo: str,
    endpoint: str,
    token: str | None,
    cancel: threading.Event | None,
    retry: bool = True,
) -> Any:
    from huggingface_hub import HfApi

    api = HfApi(endpoint=endpoint, token=token or False, library_name="localctl")
    delays = env.RETRY_DELAYS_S if retry else ()
    for attempt in range(len(delays) + 1):
        try:
            return api.model_info(repo, files_metadata=True, token=token or False)
        except Exception as error:
            if not retryable(error) or no_connection(error) or attempt == len(delays):
                raise hub_error(error, repo, endpoint) from error
            sleep_or_cancel(delays[attempt], cancel)
    raise AssertionError("unreachable")


def _remote_files(info: Any) -> dict[str, RemoteFile]:
    files: dict[str, RemoteFile] = {}
    for sibling in info.siblings or ():
        name = safe_repo_path(sibling.rfilename)
        blob_id = sibling.blob_id
        if not isinstance(blob_id, str) or not HEX40.fullmatch(blob_id):
            raise DownloadError(
                f"the hub sent a malformed object id for {name!r}: {blob_id!r}; refusing it"
            )
        size, sha256 = checked_size_and_sha256(name, sibling.size, sibling.lfs)
        files[name] = RemoteFile(path=name, size_bytes=size, sha256=sha256, blob_id=blob_id)
    return files


def choose_files(
    ref: Ref, repo: str, available: Collection[str], catalog_files: tuple[str, ...]
) -> tuple[list[str], str | None]:
    names = [n for n in available if n.lower().endswith(".gguf")]
    found = quants_in_files(names)
    if catalog_files:
        missing = [f for f in catalog_files if f not in available]
        if missing:
            raise DownloadError(f"{missing[0]} is not in {repo} any more; {describe_quants(found)}")
        return list(catalog_files), ref.quant
    if ref.filename is not None:
        if ref.filename not in available:
            raise DownloadError(
                f"{ref.filename} not found in {repo} (HTTP 404); {describe_quants(found)}"
            )
        part = split_part(ref.filename)
        if part is None:
            return [ref.filename], quant_of(ref.filename)
        key = split_set_key(ref.filename)
        members = sorted(
            (n for n in names if split_set_key(n) == key and split_part(n) is not None),
            key=part_number,
        )
        if [part_number(m) for m in members] != list(range(1, part[1] + 1)):
            raise DownloadError(
                f"{ref.filename} is part of a split set that is incomplete in {repo}"
            )
        return members, quant_of(ref.filename)
    wanted = (ref.quant or "").upper()
    if not wanted:
        if len(found) == 1:
            wanted = next(iter(found))
        elif DEFAULT_QUANT in found:
            wanted = DEFAULT_QUANT
        else:
            raise BadInputError(f"{repo}: name a quant as {repo}:QUANT; {describe_quants(found)}")
    sets = found.get(wanted)
    if not sets:
        raise BadInputError(f"no {wanted} files in {repo}; {describe_quants(found)}")
    if len(sets) > 1:
        options = ", ".join(s[0] for s in sets)
        raise BadInputError(
            f"several {wanted} files in {repo} ({options}); pull one as {repo}/FILE.gguf"
        )
    return sets[0], wanted


def catalog_entry(ref: Ref) -> tuple[str, tuple[str, ...], tuple[str, ...], str]:
    """(repo, files, sha256s, quant) of a catalog reference."""
    from localctl.snapshot import load_catalog

    catalog = load_catalog()
    text = ref.model_id if ref.quant is None else f"{ref.model_id}:{ref.quant}"
    model, quant = catalog.resolve(text or "")
    return check_repo_id(model.repo), tuple(quant.files), tuple(quant.sha256), quant.name


def resolved_ref(ref: str | Ref) -> Ref:
    """``ref`` with its repository known: a catalog id is looked up (files, hashes, quant).

    Raises:
        BadInputError: malformed reference or unknown catalog id.
    """
    parsed = parse_ref(ref) if isinstance(ref, str) else ref
    if parsed.repo is not None:
        return parsed
    repo, files, sha256, quant = catalog_entry(parsed)
    return Ref(repo, parsed.model_id, quant, None, files, sha256)


def resolve(
    ref: str | Ref, *, cancel: threading.Event | None = None, cache_answers: bool = False
) -> PullPlan:
    """Resolve ``ref`` against the hub: pinned commit, file list, sizes, sha256s.

    Args:
        ref: ``MODEL[:QUANT]``, ``OWNER/REPO[:QUANT]`` or ``OWNER/REPO/FILE.gguf``, or a
            :class:`Ref` already resolved (a catalog quant with its repo, files and hashes).
        cancel: Set it to stop retries early.
        cache_answers: The caller answers from the cache when the hub is unreachable:
            with a snapshot of the repository cached, the hub is asked once, without
            backoff (offline, the cached copy answered only after 7.5 s of retries).

    Returns:
        The plan; no file byte has been fetched.

    Raises:
        BadInputError: malformed reference, unknown catalog id, or a quant with no match
            (the message lists the quants that exist).
        DownloadError: hub errors, hostile hub values, no network.
    """
    parsed = resolved_ref(ref)
    catalog_files, catalog_sha = parsed.files, parsed.sha256
    for name in catalog_files:
        safe_repo_path(name)
    repo = check_repo_id(parsed.repo or "")
    endpoint = hub_endpoint()
    cached = cache_answers and (repo_cache_dir(repo) / "refs" / "main").is_file()
    info = _model_info(repo, endpoint, hub_token(), cancel, retry=not cached)
    commit = info.sha
    if not isinstance(commit, str) or not HEX40.fullmatch(commit):
        raise DownloadError(
            f"the hub sent a malformed commit id for {repo}: {commit!r}; refusing it"
        )
    available = _remote_files(info)
    chosen, quant = choose_files(parsed, repo, available, catalog_files)
    files = tuple(available[name] for name in chosen)
    for remote, expected in zip(files, catalog_sha, strict=False):
        if expected and remote.sha256 and expected.lower() != remote.sha256:
            raise DownloadError(
                f"{remote.path} in {repo} no longer matches the catalog's sha256 "
                f"(hub {remote.sha256[:12]}…, catalog {expected[:12]}…); "
                f"pull it as {repo}:{quant} to take the hub's"
            )
    return PullPlan(repo=repo, commit=commit, files=files, endpoint=endpoint, quant=quant)

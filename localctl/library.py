"""The catalog as this machine sees it: catalog quants, GGUF files on disk, resolved refs.

Every face lists, resolves and plans models here, so ``localctl models`` shows the rows
the TUI shows and ``fit``, ``cost``, ``serve`` and the TUI plan one model the same way:

- :func:`load_user_catalog`: the built-in catalog, the user's catalog file and the hub
  snapshot (``localctl catalog refresh``) laid over them.
- :func:`library_targets` / :func:`catalog_rows`: one :class:`Target` (or
  :class:`CatalogRow`) per catalog model x quant, marked with its file when every part is
  on disk, then one ``local`` entry per GGUF on disk that no catalog quant covers (Hugging
  Face cache, model folders, LM Studio…), described from its own header.
- :func:`resolve`: a reference (catalog ``MODEL[:QUANT]``, a local ``FILE.gguf``, a hub
  ``OWNER/REPO[:QUANT]`` or ``OWNER/REPO/FILE.gguf``, or an ``https://`` URL) to one
  :class:`Target`.
- :func:`plan_target` / :func:`plan_rows`: the fit plan for one
  :class:`~localctl.request.PlanRequest`. A target whose file is on disk is planned from
  the file's header (exact), a hub quant or URL from the header read by range requests,
  any other catalog quant from catalog numbers (estimated).
- :func:`target_file`: the target's file on disk, pulled first when needed
  (:func:`localctl.hub.pull` takes the target's resolved :class:`~localctl.hub.Ref`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from catalog.filenames import split_part, split_stem
from localctl.errors import BadInputError, CatalogError
from localctl.plan import plan
from localctl.sanitize import printable
from localctl.shape import shape_for_quant, shape_from_file, shape_from_gguf_set

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable, Iterable

    from catalog.gguf import GgufInfo, GgufSet
    from catalog.loader import Catalog
    from catalog.schema import ModelSpec, QuantSpec
    from localctl import hub
    from localctl.config import Config
    from localctl.hardware import Hardware
    from localctl.plan import MemoryPlan
    from localctl.request import PlanRequest
    from localctl.shape import ModelShape

LOCAL_SOURCE = "local"
"""``ModelSpec.source`` (and family) of a model made from a GGUF file on disk."""

_log = logging.getLogger("localctl.library")


@dataclass(frozen=True, slots=True)
class Target:
    """One model x quant, resolved: what to plan, and where its bytes are or come from."""

    model: ModelSpec
    quant: QuantSpec
    local_path: Path | None = None
    """First file when every part is on disk."""
    gguf_set: GgufSet | None = None
    """Headers already read by range requests (a hub quant or a URL)."""
    pull_ref: str = ""
    """The pull reference when it is not the catalog's ``model-id:QUANT`` (a hub quant:
    ``OWNER/REPO:QUANT`` or ``OWNER/REPO/FILE.gguf``; empty for a URL or a local file)."""
    name: str = ""
    """What to call it (the catalog id, the file's model name, the hub repository)."""
    source: str = ""
    """Where its facts come from: the repository, the file's path or the URL."""

    @property
    def key(self) -> str:
        """``model-id:QUANT`` (or ``pull_ref``): the row key and the pull reference."""
        return self.pull_ref or f"{self.model.id}:{self.quant.name}"

    @property
    def label(self) -> str:
        """What a served model is called: ``model-id:QUANT`` (or the hub reference), or the
        file's name for a GGUF on disk that is no catalog quant."""
        if self.is_local_file and self.local_path is not None:
            return self.local_path.name
        return self.key

    @property
    def is_local_file(self) -> bool:
        """True for a GGUF file on disk that is no catalog quant."""
        return self.model.source == LOCAL_SOURCE

    def hub_ref(self) -> hub.Ref:
        """The resolved pull reference (a catalog quant's repo, files and hashes).

        Raises:
            BadInputError: the target has nothing to pull (a URL or a local file).
        """
        from localctl import hub

        if self.pull_ref:
            return hub.parse_ref(self.pull_ref)
        if self.is_local_file or not self.model.repo or "/" not in self.model.repo:
            raise BadInputError(f"{self.name or self.key} is not on the hub; nothing to pull")
        return hub.Ref(
            repo=hub.check_repo_id(self.model.repo),
            model_id=self.model.id,
            quant=self.quant.name,
            filename=None,
            files=tuple(self.quant.files),
            sha256=tuple(self.quant.sha256),
        )

    def shape(self) -> ModelShape:
        """Where the model's bytes sit: from the file on disk, the headers read, or the catalog.

        Raises:
            GgufError: the file on disk is malformed.
            CatalogError: the model has no such quant.
        """
        if self.local_path is not None:
            return shape_from_file(self.local_path)
        if self.gguf_set is not None:
            return shape_from_gguf_set(self.gguf_set)
        return shape_for_quant(self.model, self.quant.name)


@dataclass(frozen=True, slots=True)
class CatalogRow:
    """One model x quant as a catalog table shows it: the target and its plan here."""

    model: ModelSpec
    quant: QuantSpec
    quality: str = ""
    """Quality note of the quant type."""
    plan: MemoryPlan | None = None
    """Fit plan for the current request; None while computing or when planning failed."""
    plan_error: str = ""
    """One line saying why there is no plan."""
    local_path: Path | None = None
    """First file when every part is on disk."""
    pull_ref: str = ""
    """The pull reference when it is not ``model-id:QUANT`` (a hub search result:
    ``OWNER/REPO:QUANT`` or ``OWNER/REPO/FILE.gguf``)."""

    @classmethod
    def of(cls, target: Target) -> CatalogRow:
        """An unplanned row for ``target``."""
        quality = quality_note(target.quant)
        return cls(
            target.model,
            target.quant,
            quality,
            local_path=target.local_path,
            pull_ref=target.pull_ref,
        )

    @property
    def target(self) -> Target:
        """What the row stands for (what is planned and pulled)."""
        return Target(
            self.model,
            self.quant,
            local_path=self.local_path,
            pull_ref=self.pull_ref,
            name=self.model.id,
            source=self.model.repo,
        )

    @property
    def key(self) -> str:
        """``model-id:QUANT`` (or ``pull_ref``), the row key and the pull reference."""
        return self.pull_ref or f"{self.model.id}:{self.quant.name}"

    @property
    def verdict(self) -> str:
        """``GPU``, ``partial N/M``, ``CPU``, ``won't fit``, ``…`` (computing) or ``?``."""
        if self.plan is not None:
            return self.plan.verdict()
        return "?" if self.plan_error else "…"

    @property
    def placement(self) -> str:
        """Plan placement, ``pending`` or ``error``."""
        if self.plan is not None:
            return self.plan.placement
        return "error" if self.plan_error else "pending"

    @property
    def fits(self) -> bool:
        """True when the plan places the model somewhere."""
        return self.plan is not None and self.plan.placement != "none"

    @property
    def downloaded(self) -> bool:
        """True when every file is on disk."""
        return self.local_path is not None

    @property
    def past_training(self) -> bool:
        """True when the planned context is longer than the model was trained for."""
        return self.plan is not None and beyond_training(self.model, self.plan.ctx)


def beyond_training(model: ModelSpec, ctx: int) -> bool:
    """True when ``ctx`` is longer than the context ``model`` was trained for (when known)."""
    return bool(model.arch.ctx_train) and ctx > model.arch.ctx_train


PAST_TRAINING_MARK = " !"
"""Appended to a verdict whose context is longer than the model was trained for (the
table and ``localctl models`` both; the plan's reason says by how much)."""


def load_user_catalog() -> Catalog:
    """The built-in catalog extended by the user's catalog file, with the hub snapshot
    (``localctl catalog refresh``) laid over it.

    Raises:
        CatalogError: a malformed catalog entry.
    """
    from localctl.snapshot import load_catalog

    return load_catalog()


def load_models() -> list[ModelSpec]:
    """Every catalog model (see :func:`load_user_catalog`).

    Raises:
        CatalogError: a malformed catalog entry.
    """
    return list(load_user_catalog().models)


def quality_note(quant: QuantSpec) -> str:
    """The quant table's quality note for ``quant``, or an empty string."""
    from catalog.quants import QUANT_TYPES

    spec = QUANT_TYPES.get(quant.name.upper())
    return spec.quality if spec is not None else ""


def is_gguf_path(ref: str) -> bool:
    """True when ``ref`` names a GGUF file rather than a catalog model."""
    return ref.lower().endswith(".gguf") or Path(ref).expanduser().is_file()


def catalog_target(
    model: ModelSpec, quant: QuantSpec, config: Config, *, on_disk: bool = True
) -> Target:
    """The target of a catalog quant, with its file when every part is on disk
    (``on_disk`` False: without looking, so without a file)."""
    from localctl.inventory import find_local

    local = find_local(model, quant, config.model_folders) if on_disk else None
    return Target(model, quant, local_path=local, name=model.id, source=model.repo)


def file_on_disk(target: Target, config: Config) -> Path | None:
    """The target's first file if every part is on disk now, else None.

    A row planned before the scan of the model folders finished does not know its file
    yet; asking here before a download keeps a file on disk from being fetched again.
    """
    if target.local_path is not None or target.pull_ref:
        return target.local_path
    from localctl.inventory import find_local

    return find_local(target.model, target.quant, config.model_folders, fresh=True)


def library_targets(
    models: Iterable[ModelSpec], config: Config, *, include_local: bool = True, on_disk: bool = True
) -> list[Target]:
    """Every catalog model x quant, then the GGUF files on disk that no catalog quant covers.

    Args:
        models: The catalog's models.
        config: Where else to look for files (``model_folders``).
        include_local: Also list GGUF files on disk (HF cache, model folders, LM Studio…)
            that are no catalog quant, planned from their header.
        on_disk: Look on disk at all; False gives the catalog's quants without their files
            and without a scan of the model folders (a first plan that waits for nothing).
    """
    targets = [
        catalog_target(model, quant, config, on_disk=on_disk)
        for model in models
        for quant in model.quants
    ]
    if include_local and on_disk:
        known = {t.local_path.absolute() for t in targets if t.local_path is not None}
        targets.extend(local_targets(known, config))
    return targets


def catalog_rows(
    config: Config,
    models: list[ModelSpec] | None = None,
    *,
    include_local: bool = True,
    on_disk: bool = True,
) -> list[CatalogRow]:
    """Unplanned rows of :func:`library_targets` (``models`` None: :func:`load_models`).

    Raises:
        CatalogError: a malformed catalog entry.
    """
    chosen = load_models() if models is None else models
    targets = library_targets(chosen, config, include_local=include_local, on_disk=on_disk)
    return [CatalogRow.of(t) for t in targets]


def local_targets(known: set[Path], config: Config) -> list[Target]:
    """Targets for GGUF files on disk outside ``known`` (first part of a split set only).

    A file whose header cannot be read is left out with a warning on the ``localctl``
    logger (the TUI's log pane; ``localctl fit FILE`` says why in full).
    """
    from catalog.errors import GgufError
    from catalog.gguf import read_gguf
    from localctl.inventory import scan_local_ggufs

    targets: list[Target] = []
    seen: set[Path] = set()
    for entry in scan_local_ggufs(config.model_folders):
        path = entry.path.absolute()
        part = split_part(path.name)
        if path in known or path in seen or (part is not None and part[0] != 1):
            continue
        seen.add(path)
        try:
            info = read_gguf(path)
        except (GgufError, OSError) as error:
            _log.warning("left out %s: not a readable GGUF file (%s)", printable(path), error)
            continue
        size = info.file_size or entry.size_bytes
        model, quant = _file_model(path, info, entry.repo, entry.quant, entry.source, size)
        targets.append(Target(model, quant, local_path=path, name=model.name, source=str(path)))
    return targets


def resolve(ref: str, config: Config, catalog: Catalog | None = None) -> Target:
    """The one target a reference names.

    Args:
        ref: ``MODEL[:QUANT]`` (catalog), a path to a ``.gguf`` file, ``OWNER/REPO[:QUANT]``
            or ``OWNER/REPO/FILE.gguf`` on the hub (header read by range requests), or an
            ``http(s)://`` URL of a GGUF file.
        config: Where else to look for files (``model_folders``).
        catalog: The catalog to resolve ids in (default: :func:`load_user_catalog`).

    Raises:
        BadInputError: a missing file or a malformed reference.
        GgufError: a malformed GGUF header.
        CatalogError: unknown model or quant.
        DownloadError: a hub or URL header could not be read.
    """
    if ref.startswith(("http://", "https://")):
        return _url_target(ref)
    path = Path(ref).expanduser()
    if not path.exists() and _is_hub_ref(ref):
        return _hub_target(ref)
    if is_gguf_path(ref):
        return file_target(path)
    try:
        model, quant = (catalog or load_user_catalog()).resolve(ref)
    except CatalogError:
        if path.is_dir():  # not "unknown model": say what to pass instead
            raise BadInputError(_folder_message(path)) from None
        raise
    return catalog_target(model, quant, config)


def _folder_message(folder: Path) -> str:
    """What to pass instead of a folder: a GGUF file in it (the first few are named)."""
    names = sorted(p.name for p in folder.glob("*.gguf"))[:3]
    if not names:
        return f"{printable(folder)} is a folder with no .gguf file in it; pass a GGUF file"
    more = ", …" if len(names) == 3 else ""
    listed = ", ".join(printable(n) for n in names) + more
    return f"{printable(folder)} is a folder; pass one of its GGUF files ({listed})"


def file_target(path: Path) -> Target:
    """The target of a GGUF file on disk (its header read now).

    Raises:
        GgufError: the file does not exist or is not a valid GGUF.
    """
    from catalog.gguf import read_gguf

    info = read_gguf(path)
    model, quant = _file_model(path, info, None, None, "file")
    name = printable(info.name or path.name)
    return Target(model, quant, local_path=path, name=name, source=str(path))


def _url_target(url: str) -> Target:
    from localctl.remote_gguf import read_remote_gguf_set

    gguf_set = read_remote_gguf_set(url)
    info = gguf_set.first
    base = url.split("?", 1)[0].rsplit("/", 1)[-1]
    model, quant = _file_model(Path(base), info, None, None, "url")
    name = printable(info.name or base)
    return Target(model, quant, gguf_set=gguf_set, name=name, source=url)


def _is_hub_ref(ref: str) -> bool:
    from localctl.search import is_hub_ref

    return is_hub_ref(ref)


def _hub_target(ref: str) -> Target:
    from localctl.hub.errors import Unreachable
    from localctl.hub.fetch import cached
    from localctl.search import choose, hub_model

    try:
        choice = choose(ref)
    except Unreachable:  # offline: a copy in the cache still serves
        found = cached(ref)
        if found is None:
            raise
        return replace(file_target(found.path), pull_ref=ref, source=ref)
    model, quant = hub_model(choice.repo, choice.quant, choice.gguf_set)
    return Target(
        model,
        quant,
        gguf_set=choice.gguf_set,
        pull_ref=choice.quant.ref,
        name=choice.repo,
        source=choice.quant.ref,
    )


def _file_model(
    path: Path,
    info: GgufInfo,
    repo: str | None,
    quant_name: str | None,
    origin: str,
    size_bytes: int = 0,
) -> tuple[ModelSpec, QuantSpec]:
    """Catalog values for a GGUF file made from its header."""
    from catalog.schema import ModelSpec, QuantSpec

    stem = split_stem(path.name)
    quant = QuantSpec(
        name=printable(quant_name or info.file_type or "GGUF").upper(),
        files=(path.name,),
        size_bytes=size_bytes or info.file_size or 0,
    )
    license_ = info.metadata.get("general.license")
    # The header and the file name are someone else's text: shown, never obeyed.
    model = ModelSpec(
        id=printable(stem.lower()),
        name=printable(info.name or stem),
        family=LOCAL_SOURCE,
        repo=printable(repo or str(path.parent)),
        params=sum(t.n_elements for t in info.tensors),
        arch=info.arch,
        license=printable(license_) if license_ else "",
        quants=(quant,),
        notes=printable(f"local file ({origin}): {path}"),
        source=LOCAL_SOURCE,
    )
    return model, quant


def check_on_hub(target: Target) -> None:
    """Refuse to download a catalog quant whose files the last ``catalog refresh`` found
    gone from the hub (nothing is fetched; a file already on disk is never refused).

    Raises:
        DownloadError: the quant's ``hub_status`` is ``vanished``; the one line says what
            the listing found and how to check again.
    """
    from catalog.hubfacts import VANISHED
    from localctl.errors import DownloadError

    if target.local_path is None and target.quant.hub_status == VANISHED:
        found = target.quant.hub_note or "a file is no longer listed"
        raise DownloadError(
            f"{target.key} is gone from the hub: {found}; nothing downloaded "
            "(run `localctl catalog refresh` to check again)"
        )


def plan_target(target: Target, hw: Hardware, request: PlanRequest) -> MemoryPlan:
    """The fit plan of ``target`` on ``hw`` for ``request``.

    Raises:
        GgufError: the file on disk is malformed.
        CatalogError: the model has no such quant.
    """
    return plan(target.shape(), hw, request)


def try_plan(target: Target, hw: Hardware, request: PlanRequest) -> tuple[MemoryPlan | None, str]:
    """:func:`plan_target`, or None and the one line that says why it could not plan."""
    from localctl.errors import LocalctlError

    try:
        return plan_target(target, hw, request), ""
    except (LocalctlError, NotImplementedError, ValueError) as error:
        return None, str(error) or type(error).__name__


def plan_row(row: CatalogRow, hw: Hardware, request: PlanRequest) -> CatalogRow:
    """``row`` with its plan for ``request`` on ``hw`` (or the one line that stopped it)."""
    memory_plan, reason = try_plan(row.target, hw, request)
    return replace(row, plan=memory_plan, plan_error=reason)


def plan_rows(
    rows: list[CatalogRow],
    hw: Hardware,
    request: PlanRequest,
    cancel: threading.Event | None = None,
) -> Iterator[CatalogRow]:
    """Each row planned for ``request``, in order; ends early once ``cancel`` is set."""
    for row in rows:
        if cancel is not None and cancel.is_set():
            return
        yield plan_row(row, hw, request)


def target_file(
    target: Target,
    *,
    progress: Callable[[hub.PullProgress], None] | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """The target's (first) file on disk; a catalog or hub quant is pulled first if needed.

    Raises:
        BadInputError: a URL target (nothing to pull).
        DownloadError: the pull failed.
        DownloadCancelled: ``cancel`` was set.
    """
    from localctl import hub

    if target.local_path is not None:
        return target.local_path
    return hub.pull(target.hub_ref(), progress=progress, cancel=cancel).path


def fetch_target(
    ref: str,
    config: Config,
    *,
    progress: Callable[[hub.PullProgress], None] | None = None,
    cancel: threading.Event | None = None,
) -> Target:
    """:func:`resolve` ``ref`` and make its file present (:func:`target_file`).

    Returns:
        The target with ``local_path`` set.

    Raises:
        LocalctlError: as :func:`resolve` and :func:`target_file`.
    """
    target = resolve(ref, config)
    return replace(target, local_path=target_file(target, progress=progress, cancel=cancel))

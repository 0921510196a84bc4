"""`localctl pull`: download a model's GGUF file(s) into the Hugging Face cache."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from localctl.hub import PullProgress, PullResult

QUIET_INTERVAL_S = 10.0
"""Seconds between progress lines when stderr is not a terminal."""
BAR_WIDTH = 24


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``pull`` verb."""
    parser = subparsers.add_parser(
        "pull",
        help="download a model (resumable, sha256-verified) into the Hugging Face cache",
        description=(
            "Download GGUF file(s) into the Hugging Face cache (HF_HOME), resuming partial "
            "files and verifying sha256. HF_ENDPOINT and HF_TOKEN are honoured."
        ),
    )
    parser.add_argument(
        "ref",
        metavar="REF",
        help="MODEL[:QUANT] from the catalog, OWNER/REPO:QUANT, or OWNER/REPO/FILE.gguf",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON document when done")
    parser.add_argument(
        "--force",
        action="store_true",
        help="download it even when the fit plan (config's context) says it won't fit here",
    )
    parser.set_defaults(run=run)


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ProgressPrinter:
    """Draws a one-line bar on a terminal, or prints a quiet line now and then otherwise."""

    def __init__(self, stream: TextIO, *, tty: bool | None = None) -> None:
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.last_line = 0.0
        self.last_key: tuple[int, str] = (0, "")
        self.last_done = 0
        self.width = 0

    def __call__(self, p: PullProgress) -> None:
        """Receive one progress report (from the downloading thread)."""
        from localctl.output import human_bytes

        part = f"part {p.file_index}/{p.file_count}" if p.file_count > 1 else p.filename
        if p.phase == "verify":
            state = f"checking {human_bytes(p.bytes_done)}"
        else:
            state = (
                f"{human_bytes(p.total_done)} / {human_bytes(p.total_bytes)}  "
                f"{human_bytes(p.speed_bytes_s)}/s  ETA {_clock(p.eta_s)}"
            )
        if self.tty:
            fraction = p.total_done / p.total_bytes if p.total_bytes else 1.0
            filled = int(BAR_WIDTH * min(fraction, 1.0))
            bar = "#" * filled + "-" * (BAR_WIDTH - filled)
            line = f"{part}  [{bar}] {fraction * 100:5.1f}%  {state}"
            pad = max(self.width - len(line), 0)
            self.width = len(line)
            self.stream.write("\r" + line + " " * pad)
            self.stream.flush()
            return
        now = time.monotonic()
        key = (p.file_index, p.phase)
        finished = p.phase == "download" and p.bytes_done >= p.bytes_total
        due = now - self.last_line >= QUIET_INTERVAL_S
        if key != self.last_key or due or (finished and self.last_done != p.file_index):
            self.last_key, self.last_line = key, now
            if finished:
                self.last_done = p.file_index
            name = p.filename
            if p.file_count > 1:
                name = f"{p.filename} (part {p.file_index}/{p.file_count})"
            self.stream.write(f"pull: {name}: {state}\n")
            self.stream.flush()

    def finish(self) -> None:
        """End the bar line."""
        if self.tty and self.width:
            self.stream.write("\n")
            self.stream.flush()
            self.width = 0


def _document(result: PullResult) -> dict[str, object]:
    return {
        "files": [str(p) for p in result.files],
        "bytes": result.bytes,
        "sha256": list(result.sha256),
        "path": str(result.path),
        "seconds": round(result.seconds, 3),
        "downloaded_bytes": result.downloaded_bytes,
        "repo": result.repo,
        "commit": result.commit,
    }


def _check_fits(ref: str) -> None:
    """Refuse a catalog or hub quant whose plan (the config's context) does not fit this
    machine; a hub quant is planned from its header, read by range requests."""
    import logging

    from localctl.config import load_config
    from localctl.errors import GgufError
    from localctl.hardware import resolve_hardware
    from localctl.request import PlanRequest
    from localctl.session import catalog_plan, check_fits

    config = load_config()
    request = PlanRequest.from_config(config)
    try:
        known = catalog_plan(ref, config, resolve_hardware(None, measure=False), request)
    except GgufError as error:  # the download's sha256 decides; serve reads the file again
        logging.getLogger("localctl.pull").warning(
            "warning: %s was not checked for fit (its header could not be planned: %s)",
            ref,
            error,
        )
        return
    if known is not None:
        check_fits(*known)


def run(args: argparse.Namespace) -> int:
    """Run ``localctl pull``: the download runs in a worker so Ctrl-C can cancel it cleanly."""
    from localctl import hub
    from localctl.output import emit_json, human_bytes

    if not args.force:
        _check_fits(args.ref)
    printer = ProgressPrinter(sys.stderr)
    cancel = threading.Event()
    outcome: list[PullResult | BaseException] = []

    def work() -> None:
        try:
            outcome.append(hub.pull(args.ref, progress=printer, cancel=cancel))
        except BaseException as error:
            outcome.append(error)

    worker = threading.Thread(target=work, name="localctl-pull", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.2)
    except KeyboardInterrupt:
        cancel.set()
        worker.join(5.0)
        printer.finish()
        print("localctl: interrupted; run the same command to resume", file=sys.stderr)
        return 130
    printer.finish()
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    if args.json:
        emit_json(_document(result))
        return 0
    fetched = human_bytes(result.downloaded_bytes)
    note = "already in the cache" if result.downloaded_bytes == 0 else f"downloaded {fetched}"
    print(
        f"{result.repo} @ {result.commit[:12]}: {len(result.files)} file(s), "
        f"{human_bytes(result.bytes)}, sha256 verified ({note}, {result.seconds:.1f} s)"
    )
    for path, digest in zip(result.files, result.sha256, strict=True):
        print(f"  {digest}  {path}")
    return 0

"""`localctl serve`: run a model server in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from localctl.config import Config
    from localctl.hardware import Hardware
    from localctl.hub import PullProgress
    from localctl.plan import MemoryPlan
    from localctl.request import PlanRequest
    from localctl.session import LaunchOverrides


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``serve`` verb."""
    from localctl.commands.fit import add_request_arguments

    parser = subparsers.add_parser(
        "serve",
        help="start a local llama.cpp server for a model (foreground)",
        description="Start a llama.cpp server with arguments from the fit plan. "
        "Arguments after -- go to the server unchanged (host, port, key, CORS and "
        "tool flags are refused).",
    )
    parser.add_argument(
        "model",
        metavar="REF",
        help="MODEL[:QUANT] from the catalog, OWNER/REPO:QUANT, OWNER/REPO/FILE.gguf or a "
        "GGUF file",
    )
    add_request_arguments(parser, ctx=True)
    parser.add_argument("--port", type=int, metavar="P", help="port (default from config, 8080)")
    parser.add_argument("--host", metavar="H", help="bind address (default 127.0.0.1)")
    parser.add_argument("--gpu-layers", type=int, metavar="N", help="override the plan")
    parser.add_argument("--threads", type=int, metavar="N", help="default: physical cores")
    parser.add_argument(
        "--api-key",
        metavar="KEY",
        help="default: LOCALCTL_API_KEY, else a random key per run (visible in ps: "
        "prefer --api-key-file or the environment)",
    )
    parser.add_argument("--api-key-file", metavar="FILE", help="read the key from FILE (- stdin)")
    parser.add_argument(
        "--json",
        action="store_true",
        help="once ready, print one JSON line (url, api_key, pid, backend, plan vs measured) "
        "instead of the URL and key lines",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="download and start it even when the fit plan says it won't fit",
    )
    parser.add_argument(
        "--draft",
        metavar="MODEL|FILE",
        help="speculative decoding with this draft model (same vocabulary; native server); "
        "default: the config's [drafts] entry for the model",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the server command line the plan would launch, then exit (nothing is "
        "downloaded or started)",
    )
    parser.add_argument("--timeout", type=float, default=300.0, help=argparse.SUPPRESS)
    parser.add_argument("extra", nargs="*", metavar="-- ARGS", help="extra server arguments")
    parser.set_defaults(run=run)


def _progress(p: PullProgress) -> None:
    pct = 100.0 * p.total_done / p.total_bytes if p.total_bytes else 0.0
    print(f"\rdownloading {p.filename}: {pct:5.1f}%", end="", file=sys.stderr, flush=True)


def _overrides(
    args: argparse.Namespace,
    extra: tuple[str, ...],
    draft: Path | None,
    api_key: str | None = None,
) -> LaunchOverrides:
    """What the command line says over the plan's launch options (serve and --dry-run)."""
    from localctl.session import LaunchOverrides

    return LaunchOverrides(
        host=args.host,
        port=args.port,
        threads=args.threads,
        gpu_layers=args.gpu_layers,
        api_key=api_key,
        extra_args=extra,
        draft_path=draft,
    )


def _dry_run(
    args: argparse.Namespace, config: Config, request: PlanRequest, extra: tuple[str, ...]
) -> int:
    """Print the command ``serve`` would launch; download and start nothing."""
    from pathlib import Path

    from localctl.backends import command_line
    from localctl.hardware import resolve_hardware
    from localctl.library import plan_target, resolve
    from localctl.session import plan_command, with_draft

    hw = resolve_hardware(None)
    target = resolve(args.model, config)
    name = target.label
    path = target.local_path or Path(target.quant.files[0] if target.quant.files else name)
    if target.local_path is None:
        print(f"{name} is not downloaded yet: serve downloads it first", file=sys.stderr)
    memory_plan, draft = with_draft(
        name, path, plan_target(target, hw, request), config, hw, ref=args.draft
    )
    argv = plan_command(path, name, memory_plan, config, hw, _overrides(args, extra, draft))
    print(f"# {memory_plan.verdict()}: {memory_plan.reason}", file=sys.stderr)
    print(command_line(argv))
    return 0


def planned_model(
    args: argparse.Namespace,
    config: Config,
    progress: Callable[[PullProgress], None] | None = None,
) -> tuple[str, Path, Hardware, MemoryPlan]:
    """What ``serve`` runs: the model's name, its file (pulled first if needed), this
    machine and the plan, made from the same request ``fit`` and ``models`` make.

    A catalog or hub quant (``OWNER/REPO:QUANT``) that is not on disk is checked against
    its plan before a byte is downloaded (``--force`` skips the check); a catalog quant
    whose files the last ``catalog refresh`` found gone is refused.

    Raises:
        LocalctlError: a bad reference or flag, a malformed file, a failed pull.
        WontFitError: the plan says it cannot fit (without ``--force``).
    """
    import dataclasses

    from localctl.commands.fit import plan_request
    from localctl.hardware import resolve_hardware
    from localctl.library import check_on_hub, plan_target, resolve, target_file
    from localctl.session import check_fits

    request = plan_request(config, args)
    hw = resolve_hardware(None)
    target = resolve(args.model, config)  # a hub quant: its header, read by range requests
    check_on_hub(target)
    if not getattr(args, "force", False) and target.local_path is None:
        check_fits(plan_target(target, hw, request), target.label)  # before a byte is fetched
    target = dataclasses.replace(target, local_path=target_file(target, progress=progress))
    assert target.local_path is not None
    return target.label, target.local_path, hw, plan_target(target, hw, request)


def run(args: argparse.Namespace) -> int:
    """Run ``localctl serve``."""
    import json
    import signal

    from localctl.auth import api_key_from
    from localctl.commands.fit import plan_request
    from localctl.config import load_config
    from localctl.errors import ServerError
    from localctl.native import choose_backend
    from localctl.server import (
        check_passthrough,
        failure_lines,
        format_memory_report,
        is_loopback,
    )
    from localctl.session import (
        ServingSession,
        check_fits,
        launch_options,
        with_draft,
    )

    config = load_config()
    api_key = api_key_from(args.api_key, args.api_key_file)
    extra = tuple(a for a in args.extra if a != "--")
    check_passthrough(extra)
    request = plan_request(config, args)
    if args.dry_run:
        return _dry_run(args, config, request, extra)
    choice = choose_backend(args.backend or config.server.backend, config.server.llama_server_path)
    pulled = False

    def progress(update: PullProgress) -> None:
        nonlocal pulled
        pulled = True
        _progress(update)

    try:
        name, path, hw, memory_plan = planned_model(args, config, progress)
    finally:
        if pulled:
            print(file=sys.stderr)  # ends the progress line, also before an error
    memory_plan, draft = with_draft(
        name, path, memory_plan, config, hw, ref=args.draft, pull=True, progress=progress
    )
    if not args.force:
        check_fits(memory_plan, name)
    overrides = _overrides(args, extra, draft, api_key)
    options = launch_options(path, name, memory_plan, config, hw, overrides)
    session = ServingSession(options, memory_plan)

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    previous_hup = signal.signal(signal.SIGHUP, on_term)  # a closed terminal stops it too
    try:
        print(f"starting {name} with {session.backend} ({choice.reason})", file=sys.stderr)
        if choice.native is not None:
            print(f"  {choice.native.describe()}", file=sys.stderr, flush=True)
        session.start_sync(timeout_s=args.timeout)
        if session.port_note:
            print(session.port_note, file=sys.stderr)
        if not is_loopback(session.options.host) and not api_key:
            print("non-loopback host: a key was generated; clients need it", file=sys.stderr)
        print(f"ready in {session.ready_s:.1f} s", file=sys.stderr)
        record = session.memory_record()
        assert record is not None
        print(format_memory_report(record), file=sys.stderr)
        if args.json:
            document = {
                "url": session.url,
                "api_key": session.api_key,
                "pid": session.pid,
                "backend": session.backend,
                "backend_reason": choice.reason,
                "llama_server": str(choice.native.path) if choice.native else None,
                "model": name,
                "ready_s": round(session.ready_s, 3),
                "port_note": session.port_note,
                "memory": record,
            }
            print(json.dumps(document), flush=True)
        else:
            print(session.url, flush=True)
            print(f"API key: {session.api_key}", flush=True)
        while not session.wait_exited(0.5):
            pass
        tail = " | ".join(failure_lines(session.log_tail(200)))
        raise ServerError(f"{session.exit_reason}; log tail: {tail}")
    except KeyboardInterrupt:
        print("stopping ...", file=sys.stderr)
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGHUP, previous_hup)
        session.stop_sync()

"""`localctl serve`: run a model server in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from localctl.hub import PullProgress


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``serve`` verb."""
    parser = subparsers.add_parser(
        "serve",
        help="start a local llama.cpp server for a model (foreground)",
        description="Start a llama.cpp server with arguments from the fit plan. "
        "Arguments after -- go to the server unchanged (host, port, key, CORS and "
        "tool flags are refused).",
    )
    parser.add_argument("model", metavar="MODEL[:QUANT]|FILE.gguf")
    parser.add_argument("--ctx", type=int, metavar="N", help="context per sequence (tokens)")
    parser.add_argument("--port", type=int, metavar="P", help="port (default from config, 8080)")
    parser.add_argument("--host", metavar="H", help="bind address (default 127.0.0.1)")
    parser.add_argument(
        "--backend", choices=("auto", "llama-cpp-python", "llama-server"), default=None
    )
    parser.add_argument("--gpu-layers", type=int, metavar="N", help="override the plan")
    parser.add_argument("--threads", type=int, metavar="N", help="default: physical cores")
    parser.add_argument("--parallel", type=int, metavar="N", help="sequences served at once")
    parser.add_argument("--kv-type", choices=("f16", "q8_0", "q4_0"), default=None)
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
    parser.add_argument("--timeout", type=float, default=300.0, help=argparse.SUPPRESS)
    parser.add_argument("extra", nargs="*", metavar="-- ARGS", help="extra server arguments")
    parser.set_defaults(run=run)


def _progress(p: PullProgress) -> None:
    pct = 100.0 * p.total_done / p.total_bytes if p.total_bytes else 0.0
    print(f"\rdownloading {p.filename}: {pct:5.1f}%", end="", file=sys.stderr, flush=True)


def resolve_model_file(ref: str) -> tuple[Path, str]:
    """A local GGUF path for ``ref`` (validated; pulled first if needed) and a display name.

    Raises:
        GgufError: a local file is not a valid GGUF (before any process starts).
        CatalogError: unknown model or quant.
        DownloadError: the pull failed.
    """
    from localctl.commands.fit import is_gguf_path

    if is_gguf_path(ref):
        from catalog.gguf import read_gguf
        from localctl.errors import BadInputError

        path = Path(ref).expanduser()
        if not path.is_file():
            raise BadInputError(f"model file not found: {path}")
        read_gguf(path)
        return path, path.name
    from localctl import hub
    from localctl.commands.models import load_user_catalog
    from localctl.inventory import find_local

    model, quant = load_user_catalog().resolve(ref)
    local = find_local(model, quant)
    if local is None:
        result = hub.pull(f"{model.id}:{quant.name}", progress=_progress)
        print(file=sys.stderr)
        local = result.path
    return local, f"{model.id}:{quant.name}"


def run(args: argparse.Namespace) -> int:
    """Run ``localctl serve``."""
    import json
    import signal
    import time

    from localctl.auth import api_key_from
    from localctl.config import load_config
    from localctl.errors import BadInputError, ServerError
    from localctl.hardware import resolve_hardware
    from localctl.plan import plan_for_file
    from localctl.runfile import RunInfo, remove_run_file, write_run_file
    from localctl.server import (
        ModelServer,
        ServerOptions,
        check_passthrough,
        format_memory_report,
        is_loopback,
        measure_memory,
        resolve_backend,
    )

    config = load_config()
    api_key = api_key_from(args.api_key, args.api_key_file)
    extra = [a for a in args.extra if a != "--"]
    check_passthrough(extra)
    ctx = args.ctx if args.ctx is not None else config.default_ctx
    parallel = args.parallel if args.parallel is not None else config.parallel
    kv_type = args.kv_type or config.kv_type
    if ctx < 1 or parallel < 1:
        raise BadInputError("--ctx and --parallel must be at least 1")
    host = args.host or config.server.host
    path, name = resolve_model_file(args.model)
    hw = resolve_hardware(None)
    backend = resolve_backend(
        args.backend or config.server.backend, config.server.llama_server_path
    )
    plan = plan_for_file(
        path,
        hw,
        ctx=ctx,
        parallel=parallel,
        kv_type=kv_type,
        backend="llama-server" if backend == "llama-server" else "llama-cpp-python",
    )
    threads = args.threads or config.server.threads or hw.physical_cores
    options = ServerOptions(
        model_path=path,
        model_name=name,
        backend=backend,
        host=host,
        port=args.port if args.port is not None else config.server.port,
        ctx=ctx,
        gpu_layers=args.gpu_layers if args.gpu_layers is not None else plan.gpu_layers,
        threads=threads,
        parallel=parallel,
        kv_type=kv_type,
        api_key=api_key,
        extra_args=tuple(config.server.extra_args) + tuple(extra),
        llama_server_path=config.server.llama_server_path,
    )
    server = ModelServer(options)

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    t0 = time.monotonic()
    try:
        print(f"starting {name} with {server.backend} ...", file=sys.stderr, flush=True)
        server.start_sync(timeout_s=args.timeout)
        ready_s = time.monotonic() - t0
        if server.port_note:
            print(server.port_note, file=sys.stderr)
        write_run_file(
            RunInfo(server.url, server.api_key, server.pid or 0, name, server.backend, time.time())
        )
        if not is_loopback(host) and not api_key:
            print("non-loopback host: a key was generated; clients need it", file=sys.stderr)
        print(f"ready in {ready_s:.1f} s", file=sys.stderr)
        record = measure_memory(server, plan, ready_s)
        print(format_memory_report(record), file=sys.stderr)
        if args.json:
            document = {
                "url": server.url,
                "api_key": server.api_key,
                "pid": server.pid,
                "backend": server.backend,
                "model": name,
                "ready_s": round(ready_s, 3),
                "port_note": server.port_note,
                "memory": record,
            }
            print(json.dumps(document), flush=True)
        else:
            print(server.url, flush=True)
            print(f"API key: {server.api_key}", flush=True)
        while not server.wait_exited(0.5):
            pass
        raise ServerError(f"{server.exit_reason}; log tail: " + " | ".join(server.log_tail(8)))
    except KeyboardInterrupt:
        print("stopping ...", file=sys.stderr)
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop_sync()
        remove_run_file(server.url)

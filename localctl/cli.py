"""The ``localctl`` command line: the scriptable twin of the TUI.

Each verb lives in ``localctl/commands/<verb>.py`` with two functions,
``register(subparsers)`` and ``run(args) -> int``. Command modules import only
the standard library at top level so ``localctl --help`` stays instant; heavy
imports happen inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from localctl import __version__
from localctl.errors import BadInputError, LocalctlError
from localctl.sanitize import guard_terminal, one_line

VERBS: tuple[str, ...] = (
    "hw",
    "models",
    "fit",
    "pull",
    "serve",
    "chat",
    "chats",
    "cost",
    "search",
    "catalog",
    "bench",
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, one sub-parser per verb."""
    parser = argparse.ArgumentParser(
        prog="localctl",
        description="Run open-weight LLMs locally: see what fits, download, serve, chat, meter.",
        epilog="Run without a verb to open the terminal UI.",
    )
    parser.add_argument("--version", action="version", version=f"localctl {__version__}")
    parser.add_argument(
        "--hw", dest="top_hw", metavar="PROFILE", help="simulate a hardware profile"
    )
    parser.add_argument(
        "--ctx", dest="top_ctx", type=int, metavar="N", help="context length for fit verdicts"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="VERB")
    for verb in VERBS:
        module = importlib.import_module(f"localctl.commands.{verb}")
        module.register(subparsers)
    return parser


def _check_ctx(args: argparse.Namespace) -> None:
    """Refuse a ``--ctx`` no plan can use (0 or negative must not fall back silently)."""
    from localctl.request import MAX_CTX as MAX_CONTEXT

    for name in ("top_ctx", "ctx"):
        value = getattr(args, name, None)
        if value is not None and not 1 <= value <= MAX_CONTEXT:
            raise BadInputError(f"--ctx {value}: must be 1 to {MAX_CONTEXT:,} tokens")


def _run_tui(args: argparse.Namespace) -> int:
    if not (sys.stdout.isatty() and sys.stdin.isatty()):
        raise BadInputError(
            "the terminal UI needs a terminal (stdin and stdout); "
            "for scripts use a verb, e.g. `localctl models --json`"
        )
    # The one import of the UI from the engine's room, deferred to this launch: the
    # import contract in pyproject.toml ([tool.importlinter]) lists it as its exception.
    from tui.app import make_app

    app = make_app(hw_profile=args.top_hw, ctx=args.top_ctx)
    app.run()
    return int(app.return_code or 0)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``localctl`` console script; returns the exit code."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    # Everything after the first ``--`` is passed through to the server unparsed, also
    # when options come before it (argparse would refuse ``serve M --ctx N -- ARGS``).
    passthrough: list[str] | None = None
    if "--" in argv:
        cut = argv.index("--")
        argv, passthrough = argv[:cut], argv[cut + 1 :]
    args = parser.parse_args(argv)
    if passthrough is not None:
        if not hasattr(args, "extra"):
            parser.error(f"'-- ARGS' does not apply to '{args.command or 'localctl'}'")
        args.extra = [*args.extra, *passthrough]
    if args.command is not None:
        # ``localctl --hw X fit …`` means the same as ``localctl fit … --hw X``.
        for name in ("hw", "ctx"):
            top = getattr(args, f"top_{name}")
            if top is None:
                continue
            if not hasattr(args, name):
                parser.error(f"--{name} does not apply to '{args.command}'")
            if getattr(args, name) is None:
                setattr(args, name, top)
    if args.command is None:
        try:
            _check_ctx(args)
            return _run_tui(args)
        except LocalctlError as error:
            print(f"localctl: {one_line(str(error))}", file=sys.stderr)
            return error.exit_code
    # A verb's failures end in one line of its own; huggingface_hub's retry chatter
    # would print before it.
    os.environ.setdefault("HF_HUB_VERBOSITY", "error")
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = guard_terminal(stdout), guard_terminal(stderr)
    # The engine's warnings (a skipped catalog entry) are one line each on stderr.
    warnings = logging.StreamHandler(sys.stderr)
    warnings.setFormatter(logging.Formatter("localctl: %(message)s"))
    warnings.setLevel(logging.WARNING)
    logging.getLogger("localctl").addHandler(warnings)
    try:
        _check_ctx(args)
        code: int = args.run(args)
        return code
    except LocalctlError as error:
        print(f"localctl: {one_line(str(error))}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("localctl: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    finally:
        logging.getLogger("localctl").removeHandler(warnings)
        sys.stdout, sys.stderr = stdout, stderr

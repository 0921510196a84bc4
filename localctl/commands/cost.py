"""`localctl cost` (not implemented yet)."""

from __future__ import annotations

import argparse

from localctl.errors import LocalctlError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``cost`` verb."""
    parser = subparsers.add_parser("cost", help="(not implemented yet)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``localctl cost``."""
    raise LocalctlError("cost: not implemented yet")

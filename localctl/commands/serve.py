"""`localctl serve` (not implemented yet)."""

from __future__ import annotations

import argparse

from localctl.errors import LocalctlError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``serve`` verb."""
    parser = subparsers.add_parser("serve", help="(not implemented yet)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``localctl serve``."""
    raise LocalctlError("serve: not implemented yet")

"""`localctl pull` (not implemented yet)."""

from __future__ import annotations

import argparse

from localctl.errors import LocalctlError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``pull`` verb."""
    parser = subparsers.add_parser("pull", help="(not implemented yet)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``localctl pull``."""
    raise LocalctlError("pull: not implemented yet")

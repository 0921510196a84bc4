"""``localctl hw``: the detected machine, or a simulated profile, as a summary or JSON."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from localctl.hardware import Hardware
    from localctl.native import BackendChoice


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``hw`` verb."""
    parser = subparsers.add_parser(
        "hw",
        help="show detected hardware (CPU, RAM, GPUs, memory bandwidth)",
        description="Show this machine's CPU, RAM, GPUs and memory bandwidth, or a "
        "simulated profile's. The CPU bandwidth is measured once and cached.",
    )
    parser.add_argument(
        "--hw",
        metavar="PROFILE",
        help="show a simulated profile (name or .toml file) instead of this machine",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON document")
    parser.add_argument(
        "--profiles", action="store_true", help="list the simulated profiles --hw accepts"
    )
    parser.add_argument(
        "--remeasure", action="store_true", help="measure the CPU memory bandwidth again"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``localctl hw``."""
    from localctl import hardware
    from localctl.output import emit_json

    if args.profiles:
        return _list_profiles(as_json=args.json)
    if args.hw:
        hw = hardware.load_profile(args.hw)
    else:
        hw = hardware.detect_hardware(remeasure=args.remeasure)
    choice = backend_choice()
    if args.json:
        emit_json({**hardware.hardware_to_dict(hw), "server_backend": backend_document(choice)})
    else:
        print(summary(hw))
        print(backend_lines(choice))
    return 0


def backend_choice() -> BackendChoice:
    """The configured backend resolved here (a missing native server is said, not raised)."""
    from localctl.config import load_config
    from localctl.errors import BadInputError
    from localctl.native import BackendChoice, choose_backend

    server = load_config().server
    try:
        return choose_backend(server.backend, server.llama_server_path)
    except BadInputError as error:
        return BackendChoice("none", str(error))


def backend_document(choice: BackendChoice) -> dict[str, object]:
    """The backend choice as JSON: backend, reason and the native build when it runs."""
    native = choice.native
    return {
        "backend": choice.backend,
        "reason": choice.reason,
        "path": str(native.path) if native else None,
        "found_by": native.found_by if native else None,
        "build_source": native.source if native else None,
        "llama_cpp_version": native.version if native else None,
        "cmake_args": list(native.cmake_args) if native else None,
    }


def backend_lines(choice: BackendChoice) -> str:
    """Two lines for humans: which server runs models here, and why."""
    lines = [f"Server     {choice.backend}: {choice.reason}"]
    if choice.native is not None:
        lines.append(f"           {choice.native.describe()}")
    return "\n".join(lines)


def _gb_s(bytes_s: float) -> str:
    return f"{bytes_s / 1e9:.0f} GB/s" if bytes_s >= 100e9 else f"{bytes_s / 1e9:.1f} GB/s"


def summary(hw: Hardware) -> str:
    """Human summary of a machine, a few aligned lines plus a GPU table."""
    from localctl.output import human_bytes, table

    machine = f"profile {hw.profile}" if hw.profile else "this machine"
    if hw.description:
        machine += f" ({hw.description})"
    threads = f", {hw.logical_cores} threads" if hw.logical_cores != hw.physical_cores else ""
    source = f" ({hw.ram_bandwidth_source})" if hw.ram_bandwidth_source else ""
    lines = [
        f"Machine    {machine}",
        f"CPU        {hw.cpu_name}: {hw.physical_cores} cores{threads}",
        f"RAM        {human_bytes(hw.ram_available_bytes)} free of "
        f"{human_bytes(hw.ram_total_bytes)}, {_gb_s(hw.ram_bandwidth_bytes_s)}{source}",
    ]
    lines += [f"Note       {note}" for note in hw.notes if "not used" in note]
    if not hw.gpus:
        lines.append("GPUs       none")
        return "\n".join(lines)
    if hw.unified_memory:
        lines.append(
            f"Unified    the GPU may use {human_bytes(hw.vram_total_bytes)} "
            f"of {human_bytes(hw.ram_total_bytes)} RAM"
        )
    rows = [
        [
            str(g.index),
            g.name,
            g.vendor,
            human_bytes(g.free_bytes),
            human_bytes(g.total_bytes),
            (_gb_s(g.bandwidth_bytes_s) if g.bandwidth_bytes_s else "unknown")
            + (f" ({g.bandwidth_source})" if g.bandwidth_source else ""),
        ]
        for g in hw.gpus
    ]
    lines += ["", table(rows, ["#", "GPU", "vendor", "free", "total", "bandwidth"])]
    return "\n".join(lines)


def _list_profiles(*, as_json: bool) -> int:
    from localctl import hardware
    from localctl.errors import HardwareError
    from localctl.output import emit_json, table

    builtin = set(hardware.builtin_profile_names())
    entries: list[dict[str, str]] = []
    for name in hardware.profile_names():
        try:
            description = hardware.load_profile(name).description
        except HardwareError as error:
            description = f"error: {error}"
        kind = "built-in" if name in builtin else "user"
        entries.append({"name": name, "kind": kind, "description": description})
    if as_json:
        emit_json(entries)
    else:
        rows = [[e["name"], e["kind"], e["description"]] for e in entries]
        print(table(rows, ["profile", "kind", "description"]))
    return 0

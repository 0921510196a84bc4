"""Simulated machines: built-in and user TOML profiles, and the JSON form of a machine."""

from __future__ import annotations

import difflib
import functools
import math
import os
import re
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from localctl import paths
from localctl.errors import HardwareError
from localctl.hardware.detect import apple_gpu_share_bytes, detect_hardware
from localctl.hardware.values import Gpu, Hardware
from localctl.hwtables import (
    DDR_CONFIGS,
    DEFAULT_DDR,
    GB,
    GIB,
    apple_bandwidth_gb_s,
    gpu_bandwidth_gb_s,
)

PROFILE_RAM_AVAILABLE_SHARE = 0.9
"""Simulated machines keep 10% of RAM for the OS unless ``ram_available_gib`` says otherwise."""

_NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]*")

_TOP_KEYS = frozenset(
    {
        "description",
        "cpu_name",
        "physical_cores",
        "logical_cores",
        "ram_gib",
        "ram_available_gib",
        "ram_bandwidth_gb_s",
        "memory",
        "unified_memory",
        "gpus",
    }
)

_GPU_KEYS = frozenset({"name", "vendor", "vram_gib", "vram_free_gib", "bandwidth_gb_s", "count"})

_VENDORS = ("nvidia", "amd", "apple", "intel")


@functools.cache
def _builtin_profiles() -> dict[str, dict[str, Any]]:
    text = resources.files("localctl").joinpath("hwprofiles.toml").read_text(encoding="utf-8")
    return dict(tomllib.loads(text))


def builtin_profile_names() -> list[str]:
    """Names of the profiles shipped with localctl."""
    return sorted(_builtin_profiles())


def _user_profile_names() -> list[str]:
    folder = paths.hardware_profiles_dir()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.toml") if _NAME_RE.fullmatch(p.stem))


def profile_names() -> list[str]:
    """Every name ``--hw`` accepts: built-in profiles and ``NAME.toml`` in the profiles folder."""
    return sorted(set(builtin_profile_names()) | set(_user_profile_names()))


def load_profile(name_or_path: str) -> Hardware:
    """A simulated machine by profile name (``rtx4090``) or TOML path.

    A name is looked up first in ``paths.hardware_profiles_dir()/NAME.toml`` (so a
    user can override a built-in), then among the built-in profiles.

    Args:
        name_or_path: Profile name, or a path to a TOML file (contains ``/`` or ends ``.toml``).

    Returns:
        The simulated :class:`Hardware` with ``profile`` set.

    Raises:
        HardwareError: Unknown name (the message lists known names), unreadable file,
            or a malformed profile (the message names file and field).
    """
    text = name_or_path.strip()
    if text.endswith(".toml") or "/" in text or os.sep in text:
        path = Path(text).expanduser()
        if not path.is_file():
            raise HardwareError(f"hardware profile file not found: {path}")
        return _load_profile_file(path, path.stem)
    name = text.lower()
    user_file = paths.hardware_profiles_dir() / f"{name}.toml"
    if _NAME_RE.fullmatch(name) and user_file.is_file():
        return _load_profile_file(user_file, name)
    builtins = _builtin_profiles()
    if name in builtins:
        return profile_from_table(name, builtins[name], f"built-in profile '{name}'")
    known = profile_names()
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise HardwareError(
        f"unknown hardware profile '{text}'{hint}; known: {', '.join(known)}, or a .toml file"
    )


def resolve_hardware(profile: str | None, *, measure: bool = True) -> Hardware:
    """The machine to plan for: ``None`` detects this one, anything else loads a profile.

    Args:
        profile: ``--hw`` value, or ``None``.
        measure: Passed to :func:`detect_hardware`.

    Returns:
        Detected or simulated :class:`Hardware`.

    Raises:
        HardwareError: For an unknown or malformed profile.
    """
    if profile is None or not profile.strip():
        return detect_hardware(measure=measure)
    return load_profile(profile)


def _load_profile_file(path: Path, name: str) -> Hardware:
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise HardwareError(f"hardware profile {path}: cannot read ({error.strerror})") from None
    except UnicodeDecodeError:
        raise HardwareError(f"hardware profile {path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise HardwareError(f"hardware profile {path}: invalid TOML ({error})") from None
    return profile_from_table(name, table, str(path))


class _Fields:
    """Typed reads from one TOML table, each failure naming the file and field."""

    def __init__(self, table: Mapping[str, Any], where: str, prefix: str = "") -> None:
        self.table = table
        self.where = where
        self.prefix = prefix

    def fail(self, key: str, problem: str) -> HardwareError:
        return HardwareError(f"hardware profile {self.where}: field '{self.prefix}{key}' {problem}")

    def check_keys(self, allowed: frozenset[str]) -> None:
        for key in self.table:
            if key not in allowed:
                raise self.fail(key, f"is not known (expected one of {', '.join(sorted(allowed))})")

    def text(self, key: str, default: str | None = None) -> str:
        value = self.table.get(key, default)
        if value is None:
            raise self.fail(key, "is missing")
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"must be a non-empty string, not {value!r}")
        return value.strip()

    def number(self, key: str, default: float | None = None, *, positive: bool = True) -> float:
        value = self.table.get(key, default)
        if value is None:
            raise self.fail(key, "is missing")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, f"must be a number, not {value!r}")
        if not math.isfinite(value) or value > 1e9:
            raise self.fail(key, f"must be a finite number, not {value!r}")
        if positive and not value > 0:
            raise self.fail(key, f"must be greater than 0, not {value!r}")
        return float(value)

    def integer(self, key: str, default: int | None = None) -> int:
        value = self.table.get(key, default)
        if value is None:
            raise self.fail(key, "is missing")
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1 << 20:
            raise self.fail(key, f"must be a whole number from 1 to {1 << 20}, not {value!r}")
        return value

    def flag(self, key: str) -> bool:
        value = self.table.get(key, False)
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, not {value!r}")
        return value


def profile_from_table(name: str, table: Mapping[str, Any], where: str) -> Hardware:
    """Build a simulated machine from one profile table (schema in the module docstring).

    Args:
        name: Profile name stored in :attr:`Hardware.profile`.
        table: The parsed TOML table.
        where: File (or built-in profile) named in error messages.

    Returns:
        The simulated :class:`Hardware`.

    Raises:
        HardwareError: Unknown key, wrong type, missing or inconsistent value.
    """
    fields = _Fields(table, where)
    fields.check_keys(_TOP_KEYS)
    description = fields.text("description", "") if "description" in table else ""
    cpu_name = fields.text("cpu_name")
    physical = fields.integer("physical_cores")
    logical = fields.integer("logical_cores", physical)
    if logical < physical:
        raise fields.fail("logical_cores", f"({logical}) is less than physical_cores ({physical})")
    ram_total = int(fields.number("ram_gib") * GIB)
    default_available = fields.number("ram_gib") * PROFILE_RAM_AVAILABLE_SHARE
    ram_available = int(fields.number("ram_available_gib", default_available) * GIB)
    if ram_available > ram_total:
        raise fields.fail("ram_available_gib", "is more than ram_gib")
    unified = fields.flag("unified_memory")

    gpus_value = table.get("gpus", [])
    if not isinstance(gpus_value, list) or not all(isinstance(g, dict) for g in gpus_value):
        raise fields.fail("gpus", "must be a list of tables ([[gpus]])")
    gpus: list[Gpu] = []
    for position, gpu_table in enumerate(gpus_value):
        gpus += _profile_gpus(
            _Fields(gpu_table, where, f"gpus[{position}]."),
            unified=unified,
            ram_total=ram_total,
            ram_available=ram_available,
            physical_cores=physical,
            first_index=len(gpus),
        )
    if unified and len(gpus) > 1:
        raise fields.fail("gpus", "may hold one GPU only with unified_memory")

    if "ram_bandwidth_gb_s" in table and "memory" in table:
        raise fields.fail("memory", "and ram_bandwidth_gb_s are both given; keep one")
    if "ram_bandwidth_gb_s" in table:
        ram_bandwidth = fields.number("ram_bandwidth_gb_s") * GB
    elif "memory" in table:
        memory = fields.text("memory")
        if memory not in DDR_CONFIGS:
            raise fields.fail("memory", f"must be one of {', '.join(DDR_CONFIGS)}, not {memory!r}")
        ram_bandwidth = DDR_CONFIGS[memory] * GB
    elif unified and gpus:
        ram_bandwidth = gpus[0].bandwidth_bytes_s
    else:
        ram_bandwidth = DDR_CONFIGS[DEFAULT_DDR] * GB
    return Hardware(
        cpu_name=cpu_name,
        physical_cores=physical,
        logical_cores=logical,
        ram_total_bytes=ram_total,
        ram_available_bytes=ram_available,
        ram_bandwidth_bytes_s=ram_bandwidth,
        gpus=tuple(gpus),
        unified_memory=unified,
        profile=name,
        ram_bandwidth_source="profile",
        description=description,
    )


def _profile_gpus(
    fields: _Fields,
    *,
    unified: bool,
    ram_total: int,
    ram_available: int,
    physical_cores: int,
    first_index: int,
) -> list[Gpu]:
    fields.check_keys(_GPU_KEYS)
    name = fields.text("name")
    lowered = name.lower()
    guessed = (
        "apple"
        if unified or lowered.startswith("apple")
        else "amd"
        if any(w in lowered for w in ("amd", "radeon", "instinct"))
        else "intel"
        if any(w in lowered for w in ("intel", " arc "))
        else "nvidia"
    )
    vendor = fields.text("vendor", guessed).lower()
    if vendor not in _VENDORS:
        raise fields.fail("vendor", f"must be one of {', '.join(_VENDORS)}, not {vendor!r}")
    if unified != (vendor == "apple"):
        raise fields.fail("vendor", "must be 'apple' exactly when unified_memory is true")
    if unified:
        share = apple_gpu_share_bytes(ram_total)
        total = int(fields.number("vram_gib", share / GIB) * GIB)
        if total > ram_total:
            raise fields.fail("vram_gib", "is more than ram_gib on a unified-memory machine")
        free = int(fields.number("vram_free_gib", min(total, ram_available) / GIB) * GIB)
    else:
        total = int(fields.number("vram_gib") * GIB)
        free = int(fields.number("vram_free_gib", total / GIB) * GIB)
    if free > total:
        raise fields.fail("vram_free_gib", "is more than vram_gib")
    if "bandwidth_gb_s" in fields.table:
        bandwidth_gb_s = fields.number("bandwidth_gb_s")
    else:
        known = (
            apple_bandwidth_gb_s(name, physical_cores)
            if vendor == "apple"
            else gpu_bandwidth_gb_s(name, total)
        )
        if known is None:
            raise fields.fail("bandwidth_gb_s", f"is missing and {name!r} is not a known device")
        bandwidth_gb_s = known
    count = fields.integer("count", 1)
    if count > 64:
        raise fields.fail("count", f"must be at most 64, not {count}")
    return [
        Gpu(first_index + i, name, vendor, total, free, bandwidth_gb_s * GB, "profile")
        for i in range(count)
    ]


def hardware_to_dict(hw: Hardware) -> dict[str, Any]:
    """The stable JSON document of ``localctl hw --json`` (bytes and bytes/s, integers)."""
    return {
        "profile": hw.profile or None,
        "description": hw.description,
        "cpu": {
            "name": hw.cpu_name,
            "physical_cores": hw.physical_cores,
            "logical_cores": hw.logical_cores,
        },
        "ram": {
            "total_bytes": hw.ram_total_bytes,
            "available_bytes": hw.ram_available_bytes,
            "bandwidth_bytes_s": round(hw.ram_bandwidth_bytes_s),
            "bandwidth_source": hw.ram_bandwidth_source,
        },
        "unified_memory": hw.unified_memory,
        "gpus": [
            {
                "index": g.index,
                "name": g.name,
                "vendor": g.vendor,
                "total_bytes": g.total_bytes,
                "free_bytes": g.free_bytes,
                "bandwidth_bytes_s": round(g.bandwidth_bytes_s),
                "bandwidth_source": g.bandwidth_source,
            }
            for g in hw.gpus
        ],
        "vram_total_bytes": hw.vram_total_bytes,
        "vram_free_bytes": hw.vram_free_bytes,
        "notes": list(hw.notes),
    }

"""Every place on disk localctl reads or writes.

All paths come from here. ``LOCALCTL_HOME`` (used by tests) puts config, data and
cache under one folder; otherwise platformdirs decides, honouring the XDG variables.
The Hugging Face cache is not ours: huggingface_hub resolves it from ``HF_HOME``.
"""

from __future__ import annotations

import os
from pathlib import Path

APP = "localctl"


def _home_override() -> Path | None:
    value = os.environ.get("LOCALCTL_HOME")
    return Path(value) if value else None


def config_dir() -> Path:
    """Folder holding ``config.toml``, the user catalog and hardware profiles."""
    home = _home_override()
    if home is not None:
        return home / "config"
    import platformdirs

    return Path(platformdirs.user_config_dir(APP))


def data_dir() -> Path:
    """Folder for conversations, server logs, run files and measurements."""
    home = _home_override()
    if home is not None:
        return home / "data"
    import platformdirs

    return Path(platformdirs.user_data_dir(APP))


def cache_dir() -> Path:
    """Folder for throwaway caches (remote GGUF headers, calibration)."""
    home = _home_override()
    if home is not None:
        return home / "cache"
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP))


def config_file() -> Path:
    """The user's ``config.toml``."""
    return config_dir() / "config.toml"


def user_catalog_file() -> Path:
    """The user's catalog file that extends or overrides the curated catalog."""
    return config_dir() / "catalog.toml"


def hardware_profiles_dir() -> Path:
    """Folder of user hardware profiles (``NAME.toml``) usable with ``--hw NAME``."""
    return config_dir() / "hardware"


def conversations_dir() -> Path:
    """Folder of saved conversations (one JSONL file each, mode 0600)."""
    return data_dir() / "conversations"


def servers_dir() -> Path:
    """Folder of run files (0600 JSON) describing servers localctl started."""
    return data_dir() / "servers"


def logs_dir() -> Path:
    """Folder of server logs."""
    return data_dir() / "logs"


def measurements_file() -> Path:
    """JSONL file of (estimate, measured) memory pairs recorded after each server load."""
    return data_dir() / "measurements.jsonl"


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) readable by the owner only; return it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path

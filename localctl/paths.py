"""Every place on disk localctl reads or writes.

All paths come from here. ``LOCALCTL_HOME`` (used by tests) puts config, data and
cache under one folder; otherwise platformdirs decides, honouring the XDG variables.
The Hugging Face cache is not ours: huggingface_hub resolves it from ``HF_HOME``.
"""

from __future__ import annotations

import contextlib
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
    """Create ``path`` readable by the owner only, and each parent it needs the same way.

    ``mkdir(parents=True, mode=0o700)`` would leave the parents it creates at the
    umask (0755); here every folder created is 0700, and ``path`` itself is made 0700
    when it already exists. Folders that existed above it are left as they are.

    Returns:
        ``path``.
    """
    missing: list[Path] = []
    for folder in (path, *path.parents):
        if folder.is_dir():
            break
        missing.append(folder)
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=0o700)
        os.chmod(folder, 0o700)
    if not missing and (path.stat().st_mode & 0o777) != 0o700:
        os.chmod(path, 0o700)
    return path


def open_private(path: Path, flags: int = os.O_WRONLY | os.O_CREAT | os.O_TRUNC) -> int:
    """Open ``path`` for writing as a file only the owner can read (0600); a file descriptor.

    An existing file is made 0600 too (``open`` keeps the old mode of a file it does
    not create). Wrap the descriptor with ``os.fdopen``.
    """
    fd = os.open(path, flags | os.O_CREAT, 0o600)
    try:
        os.fchmod(fd, 0o600)
    except OSError:
        os.close(fd)
        raise
    return fd

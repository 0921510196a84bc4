"""User configuration: ``config.toml`` read strictly, written atomically.

Unknown keys and wrong types are rejected with the file, line and key in the
message, so a typo never silently does nothing.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localctl import paths
from localctl.backends import BACKEND_CHOICES, KV_TYPES
from localctl.errors import ConfigError

DEFAULT_API_MODELS: tuple[str, ...] = (
    "anthropic:claude-haiku-5-5",
    "anthropic:claude-sonnet-4-6",
    "openai:gpt-5-mini",
    "openai:gpt-5",
    "google:gemini-2.5-flash",
)
"""Paid APIs a user can buy today (checked against genai-prices 0.2.3: all in its
providers' current price tables, none flagged deprecated or shut down;
claude-3-5-haiku was retired on 2026-02-19)."""


DEFAULT_PORT = 8080
"""Port of a server nobody chose a port for."""


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """How ``serve`` launches a model server."""

    backend: str = "auto"
    """``auto`` (native llama-server if found, else llama-cpp-python), ``llama-cpp-python``
    or ``llama-server``."""
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    """The default port moves aside when taken; any other port is an error then."""
    llama_server_path: str = ""
    """Path to a native ``llama-server`` binary; empty means look on PATH."""
    threads: int = 0
    """0 means the number of physical cores."""
    extra_args: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CostConfig:
    """Inputs of the API-equivalent and local cost meters."""

    api_models: tuple[str, ...] = DEFAULT_API_MODELS
    """``provider:model`` ids looked up in genai-prices."""
    electricity_usd_per_kwh: float = 0.15
    power_w: float = 0.0
    """Wattage to assume when power cannot be measured; 0 means estimate from the hardware."""
    hardware_usd: float = 0.0
    """Price paid for the machine, amortised over ``hardware_months``."""
    hardware_months: int = 36


@dataclass(frozen=True, slots=True)
class Config:
    """The whole user configuration."""

    default_ctx: int = 4096
    kv_type: str = "f16"
    parallel: int = 1
    model_folders: tuple[str, ...] = ()
    """Extra folders scanned for GGUF files besides the Hugging Face cache."""
    system_prompt: str = ""
    hf_token_hint: str = ""
    """Where the user keeps their token; the token itself belongs in ``HF_TOKEN``."""
    server: ServerConfig = field(default_factory=ServerConfig)
    cost: CostConfig = field(default_factory=CostConfig)
    context_overflow: str = "drop-oldest"
    """When a chat request would overflow the context: ``drop-oldest`` drops the oldest
    turns (marked in the transcript), ``stop`` refuses with both token counts."""
    drafts: dict[str, str] = field(default_factory=dict)
    """Draft model per model for speculative decoding: model (``id:QUANT`` or file
    name) → draft (``id:QUANT`` or a GGUF path), as a ``[drafts]`` table."""
    keymap: dict[str, str] = field(default_factory=dict)
    """Binding id → key, e.g. ``{"download": "ctrl+d"}``."""


_SECTIONS: dict[str, type[Any]] = {"server": ServerConfig, "cost": CostConfig}
_CONTEXT_OVERFLOW = ("drop-oldest", "stop")


def _line_of(text: str, key: str, section: str | None) -> int:
    """Best line number for ``key`` (inside ``[section]`` when given); 0 if not found."""
    current: str | None = None
    pattern = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=")
    for number, line in enumerate(text.splitlines(), start=1):
        header = re.match(r"^\s*\[([^\[\]]+)\]\s*(#.*)?$", line)
        if header:
            current = header.group(1).strip()
            if section is None and current == key:
                return number
            continue
        if current == section and pattern.match(line):
            return number
    return 0


def _where(path: Path, text: str, key: str, section: str | None) -> str:
    line = _line_of(text, key, section)
    dotted = f"{section}.{key}" if section else key
    return f"{path}:{line}: {dotted}" if line else f"{path}: {dotted}"


def _coerce(value: Any, annotation: str, where: str) -> Any:
    """Check ``value`` against a dataclass field annotation written as a string."""

    def bad(expected: str) -> ConfigError:
        return ConfigError(f"{where}: expected {expected}, got {type(value).__name__} {value!r}")

    # Every number in the config is a count, a size, a price or a power: never
    # negative, never nan or inf (cost --json would print invalid JSON).
    if annotation == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
        if value < 0:
            raise bad("a number that is not negative")
        return value
    if annotation == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad("a number")
        if not math.isfinite(value) or value < 0:
            raise bad("a finite number that is not negative")
        return float(value)
    if annotation == "str":
        if not isinstance(value, str):
            raise bad("a string")
        return value
    if annotation == "tuple[str, ...]":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad("a list of strings")
        return tuple(value)
    if annotation == "dict[str, str]":
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise bad("a table of strings")
        return dict(value)
    raise bad(annotation)


def _build(
    cls: type[Any], table: dict[str, Any], path: Path, text: str, section: str | None
) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        where = _where(path, text, key, section)
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"{where}: unknown key (known: {known})")
        if section is None and key in _SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: expected a [{key}] table")
            values[key] = _build(_SECTIONS[key], value, path, text, key)
            continue
        values[key] = _coerce(value, str(fields[key].type), where)
    return cls(**values)


def _validate(config: Config, path: Path, text: str) -> None:
    if config.kv_type not in KV_TYPES:
        where = _where(path, text, "kv_type", None)
        raise ConfigError(f"{where}: must be one of {', '.join(KV_TYPES)}")
    if config.context_overflow not in _CONTEXT_OVERFLOW:
        where = _where(path, text, "context_overflow", None)
        raise ConfigError(f"{where}: must be one of {', '.join(_CONTEXT_OVERFLOW)}")
    if config.server.backend not in BACKEND_CHOICES:
        where = _where(path, text, "backend", "server")
        raise ConfigError(f"{where}: must be one of {', '.join(BACKEND_CHOICES)}")
    if not 0 <= config.server.port <= 65535:
        where = _where(path, text, "port", "server")
        raise ConfigError(f"{where}: must be 0-65535 (0: any free port)")
    if config.default_ctx < 1:
        raise ConfigError(f"{_where(path, text, 'default_ctx', None)}: must be positive")
    if config.parallel < 1:
        raise ConfigError(f"{_where(path, text, 'parallel', None)}: must be positive")


def check_settings(config: Config) -> None:
    """Checks of what a person just typed, beyond what a config file must hold.

    A file may name a folder that is unmounted today; a value typed now must name
    things that exist.

    Raises:
        ConfigError: a model folder that is not a folder, a llama-server path that is
            not an executable file, a negative thread count, or an API model without a price.
    """
    for folder in config.model_folders:
        if not Path(folder).expanduser().is_dir():
            raise ConfigError(f"model folder {folder!r} does not exist (or is not a folder)")
    binary = config.server.llama_server_path
    if binary:
        path = Path(binary).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ConfigError(f"llama-server path {binary!r} is not an executable file")
    if config.server.threads < 0:
        raise ConfigError("threads must be 0 (physical cores) or more")
    if config.cost.api_models:
        from localctl.cost import unknown_models

        unknown = unknown_models(config.cost.api_models)
        if unknown:
            raise ConfigError(
                f"no price for API model {unknown[0]!r} (genai-prices does not list it)"
            )


def load_config(path: Path | None = None) -> Config:
    """Read the config file; a missing file gives the defaults.

    Args:
        path: File to read; defaults to ``paths.config_file()``.

    Returns:
        The parsed configuration.

    Raises:
        ConfigError: invalid TOML, an unknown key or a wrong type, naming file and line.
    """
    path = path or paths.config_file()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Config()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read config: {error}") from error
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from error
    config: Config = _build(Config, table, path, text, None)
    _validate(config, path, text)
    return config


def config_to_dict(config: Config) -> dict[str, Any]:
    """A TOML-ready dict of ``config`` (tuples become lists)."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    result: dict[str, Any] = plain(config)
    return result


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` through a temp file and ``os.replace``; never half-written.

    Folders it has to create are 0700 (an existing folder is left as it is).
    """
    if not path.parent.is_dir():
        paths.ensure_private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_config(config: Config, path: Path | None = None) -> Path:
    """Write ``config`` as TOML (tomli-w), atomically, mode 0600; return the path."""
    import tomli_w

    path = path or paths.config_file()
    atomic_write(path, tomli_w.dumps(config_to_dict(config)).encode("utf-8"))
    return path

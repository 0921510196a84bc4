"""Which backend runs a model, and how: ``auto`` resolved, the native binary found.

Also the child's argv and allow-listed environment, and the refused pass-through flags.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from localctl.errors import BadInputError
from localctl.native import choose_backend, find_native

if TYPE_CHECKING:
    from localctl.server import ServerOptions


SERVER_BACKENDS = ("llama-cpp-python", "llama-server")
"""The servers localctl can launch."""
BACKEND_CHOICES = ("auto", *SERVER_BACKENDS)
"""What a user may ask for (``auto``: the native server when one is found)."""
BACKENDS = BACKEND_CHOICES
"""Every backend a :class:`~localctl.server.ModelServer` can be asked for."""
KV_TYPES = {"f16": 1, "q8_0": 8, "q4_0": 2}
"""KV cache types a server is started with, and their ggml type ids (llama-cpp-python
takes the id)."""

_ENV_ALLOW = ("PATH", "HOME", "LANG", "TMPDIR", "CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES")

_ENV_ALLOW_PREFIX = ("LC_", "OMP_")

_REFUSED_FLAGS = (
    "--host",
    "--port",
    "--api-key",
    "--api-key-file",
    "--api_key",
    "--agent",
    "-ag",
    "--path",
    "--api-prefix",
    "--props",
    "--slot-save-path",
    "--media-path",
    "--models-dir",
    "--models-preset",
    "--log-prompts-dir",
    "--reuse-port",
    "--config_file",
    "--chat-template-file",
    "--ssl_keyfile",
    "--ssl_certfile",
    "--log-file",
    "--verbosity",
    "-lv",
    # The model is the file localctl validated and planned for, not another one.
    "--model",
    "-m",
    "--model-url",
    "-mu",
    "--hf-repo",
    "-hf",
    "-hfr",
    "--hf-file",
    "-hff",
    "--hf-token",
    "-hft",
    "--docker-repo",
    "-dr",
    "--hf_model_repo_id",
    "--hf_pretrained_model_name_or_path",
    "--clip_model_path",
    # Each request must wait its turn, never cancel the one in progress.
    "--interrupt_requests",
)

_REFUSED_PREFIXES = (
    "--cors",
    "--ui",
    "--webui",
    "--no-ui",
    "--no-webui",
    "--tools",
    "--mcp",
    "--ssl",
)
"""Flags that change where or to whom the server answers, or enable tools/UI extras."""


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The allow-listed environment for a server child plus ``extra``."""
    env = {
        k: v for k, v in os.environ.items() if k in _ENV_ALLOW or k.startswith(_ENV_ALLOW_PREFIX)
    }
    env.update(extra or {})
    return env


def check_passthrough(
    args: Sequence[str], backend: str | None = None, llama_server_path: str = ""
) -> tuple[str, ...]:
    """Refuse pass-through flags that change host, port, key, model, CORS or enable tools.

    With ``backend``, every flag must also be one of that backend's own options, spelled
    out in full: llama-cpp-python's parser would expand ``--ho`` to ``--host``.

    Args:
        args: The pass-through arguments.
        backend: ``llama-server`` or ``llama-cpp-python`` (resolved), or None to check
            only the refused flags.
        llama_server_path: The configured native binary (its ``--help`` lists its options).

    Raises:
        BadInputError: naming the refused or unknown flag.
    """
    known = backend_options(backend, llama_server_path) if backend and args else None
    for arg in args:
        if not _is_flag(arg):
            continue
        flag = arg.split("=", 1)[0]
        if flag in _REFUSED_FLAGS or flag.startswith(_REFUSED_PREFIXES) or flag in ("-h", "--help"):
            raise BadInputError(
                f"pass-through flag {flag} is not allowed "
                "(localctl sets host, port, key, model and safety flags)"
            )
        if known is not None and flag not in known:
            raise BadInputError(
                f"pass-through flag {flag} is not an option of {backend} "
                f"(options must be spelled out in full; see {backend} --help)"
            )
    return tuple(args)


def _is_flag(arg: str) -> bool:
    """True for ``-x``/``--name`` (a negative number such as ``-1`` is a value)."""
    if not arg.startswith("-") or arg == "-":
        return False
    try:
        float(arg)
    except ValueError:
        return True
    return False


_OPTION = re.compile(r"-{1,2}[A-Za-z0-9][A-Za-z0-9_.-]*")


@functools.lru_cache(maxsize=4)
def backend_options(backend: str, llama_server_path: str = "") -> frozenset[str]:
    """Every option name ``backend``'s own command line accepts, exactly as spelled.

    llama-cpp-python: the fields of its settings models (``--n_ctx``…) and
    ``--config_file``; ``llama-server``: the flags its ``--help`` lists.

    Raises:
        BadInputError: the option list cannot be read.
    """
    if backend == "llama-cpp-python":
        from llama_cpp.server.settings import Settings

        return frozenset({f"--{name}" for name in Settings.model_fields} | {"--config_file"})
    exe = find_llama_server(llama_server_path)
    if exe is None:
        raise BadInputError("llama-server not found: cannot check pass-through flags")
    try:
        result = subprocess.run(
            [exe, "--help"], capture_output=True, text=True, timeout=30, env=child_env()
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise BadInputError(f"cannot list the options of {exe}: {error}") from None
    options: set[str] = set()
    for line in (result.stdout + result.stderr).splitlines():
        for token in line.split():
            token = token.rstrip(",")
            if not _OPTION.fullmatch(token):
                break
            options.add(token)
    if not options:
        raise BadInputError(f"cannot list the options of {exe} (its --help printed none)")
    return frozenset(options)


def find_llama_server(configured: str = "") -> str | None:
    """Native ``llama-server`` (see :func:`localctl.native.find_native` for the order)."""
    native = find_native(configured)
    return str(native.path) if native else None


def resolve_backend(backend: str, llama_server_path: str = "") -> str:
    """The backend a server will run: ``auto`` becomes ``llama-server`` when one is found.

    Args:
        backend: one of :data:`BACKENDS`.
        llama_server_path: the configured native binary (see :func:`find_llama_server`).

    Raises:
        BadInputError: unknown backend, or ``llama-server`` asked for but not found.
    """
    if backend not in BACKENDS:
        raise BadInputError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    return choose_backend(backend, llama_server_path).backend


def backend_argv(backend: str, options: ServerOptions, host: str, port: int) -> list[str]:
    """The child's argv for ``backend`` (never holds the key).

    Args:
        backend: ``llama-server`` or ``llama-cpp-python`` (already resolved).
        options: What to run.
        host: Address the child binds.
        port: Port the child binds (already chosen).

    Raises:
        BadInputError: unknown KV type or a refused pass-through flag.
    """
    o = options
    assert o.model_path is not None
    threads = o.threads or os.cpu_count() or 1
    if o.kv_type not in KV_TYPES:
        raise BadInputError(f"unknown KV type {o.kv_type!r}; choose {', '.join(KV_TYPES)}")
    gl = 0 if o.gpu_layers is None else o.gpu_layers
    # A quantized KV cache needs flash attention; llama-server's own default is auto.
    flash_attn = o.flash_attn
    if flash_attn == "auto" and o.kv_type != "f16":
        flash_attn = "on"
    if o.draft_path is not None and backend != "llama-server":
        raise BadInputError(
            "speculative decoding with a draft model needs the native llama-server "
            "(--backend llama-server)"
        )
    if backend == "llama-server":
        # Shown before one is installed too (fit, the detail pane): then by its name.
        exe = find_llama_server(o.llama_server_path) or "llama-server"
        args = [
            exe, "--model", str(o.model_path), "--ctx-size", str(o.ctx * o.parallel),
            "--parallel", str(o.parallel), "--threads", str(threads),
            "--n-gpu-layers", str(gl), "--batch-size", str(o.batch),
            "--host", host, "--port", str(port), "--no-ui",
            "--verbosity", "4", *NATIVE_SERVING_FLAGS,
        ]  # fmt: skip
        if o.kv_type != "f16":
            args += ["--cache-type-k", o.kv_type, "--cache-type-v", o.kv_type]
        if o.cpu_moe_layers:
            args += ["--n-cpu-moe", str(o.cpu_moe_layers)]
        if flash_attn != "auto":
            args += ["--flash-attn", flash_attn]
        if o.draft_path is not None:
            draft_layers = o.gpu_layers if o.draft_gpu_layers is None else o.draft_gpu_layers
            args += [
                "--model-draft", str(o.draft_path),
                "--gpu-layers-draft", str(draft_layers or 0),
                "--spec-type", "draft-simple", "--spec-draft-n-max", str(DRAFT_MAX_TOKENS),
            ]  # fmt: skip
    else:
        if o.parallel > 1:
            raise BadInputError(
                f"llama-cpp-python serves one request at a time (others wait their turn), "
                f"so parallel {o.parallel} would only reserve unused KV cache: use "
                "--backend llama-server for parallel slots, or parallel 1"
            )
        args = [
            sys.executable, "-m", "llama_cpp.server", "--model", str(o.model_path),
            "--n_ctx", str(o.ctx), "--n_threads", str(threads), "--n_gpu_layers", str(gl),
            "--n_batch", str(o.batch), "--logits_all", "false",
            "--host", host, "--port", str(port),
        ]  # fmt: skip
        if o.kv_type != "f16":
            t = str(KV_TYPES[o.kv_type])
            args += ["--type_k", t, "--type_v", t]
        if flash_attn == "on":
            args += ["--flash_attn", "true"]
        # A new request waits for the one streaming instead of aborting it.
        args += ["--interrupt_requests", "false"]
    return args + list(check_passthrough(o.extra_args, backend, o.llama_server_path))


NATIVE_SERVING_FLAGS = ("--metrics", "--slots", "--jinja", "--reasoning-format", "deepseek")
"""Always given to llama-server: ``/metrics`` and ``/slots`` for the meters, the chat
template from the GGUF (``--jinja``), and thinking separated from the answer
(``reasoning_content`` deltas)."""

DRAFT_MAX_TOKENS = 16
"""Tokens a draft model proposes per step at most (llama-server's default)."""


def command_line(argv: Sequence[str]) -> str:
    """``argv`` as one shell line a user can copy (the key is not in it: it goes through
    ``LLAMA_API_KEY``/``API_KEY`` in the environment)."""
    import shlex

    return shlex.join(argv)


def backend_env(backend: str, api_key: str) -> dict[str, str]:
    """The child's environment: allow-listed, plus the key under the name ``backend`` reads."""
    if backend == "llama-server":
        return child_env({"LLAMA_API_KEY": api_key})
    return child_env({"API_KEY": api_key})

"""Pass-through flags are checked against the backend's own options, exact names only (#5).

Also ``serve M --opt -- ARGS`` (issue 16 #16) and llama-cpp-python's request queue (#8).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from localctl.backends import backend_argv, backend_options, check_passthrough
from localctl.cli import main
from localctl.errors import BadInputError
from localctl.server import ServerOptions
from tests.server_helpers import write_fake_exe

HELP = """
import sys
if "--help" in sys.argv:
    print("----- common params -----")
    print("")
    print("-h,    --help, --usage                  print usage and exit")
    print("-t,    --threads N                      number of threads (default: -1)")
    print("                                        (env: LLAMA_ARG_THREADS)")
    print("-fa,   --flash-attn [on|off|auto]       set Flash Attention use")
    print("--mlock                                 force system to keep model in RAM")
    print("--host HOST                             ip address to listen")
    print("-m,    --model FNAME                    model path to load")
    sys.exit(0)
sys.exit(3)
"""


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--ho", "0.0.0.0"),
        ("--hos", "0.0.0.0"),
        ("--api_ke", "k"),
        ("--config_fil", "/tmp/x.json"),
        ("--ssl_keyf", "/tmp/k.pem"),
        ("--model", "/tmp/other.gguf"),
        ("--interrupt_requests", "true"),
        ("--n_ct", "99999"),
    ],
)
def test_llama_cpp_python_abbreviations_and_model_are_refused(
    tiny: Path, flag: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["serve", str(tiny), "--backend", "llama-cpp-python", "--port", "0", "--ctx", "64"]
    assert main([*argv, "--", flag, value]) == 2
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith("localctl: pass-through flag ") and flag in last
    assert "not allowed" in last or "not an option of llama-cpp-python" in last


def test_exact_llama_cpp_python_options_pass(tiny: Path) -> None:
    options = backend_options("llama-cpp-python")
    assert {"--n_ctx", "--host", "--interrupt_requests", "--config_file"} <= options
    assert "--ho" not in options
    argv = backend_argv(
        "llama-cpp-python",
        ServerOptions(model_path=tiny, extra_args=("--use_mlock", "true", "--seed", "-1")),
        "127.0.0.1",
        8080,
    )
    assert argv[-4:] == ["--use_mlock", "true", "--seed", "-1"]
    assert argv[argv.index("--interrupt_requests") + 1] == "false"


def test_native_options_come_from_its_help(
    tmp_path: Path, tiny: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exe = write_fake_exe(tmp_path, HELP)
    options = backend_options("llama-server", str(exe))
    assert {"-h", "--help", "--usage", "-t", "--threads", "-fa", "--flash-attn"} <= options
    assert {"--mlock", "--host", "-m", "--model"} <= options
    assert "N" not in options and "--thr" not in options
    assert check_passthrough(["--mlock", "-t", "4"], "llama-server", str(exe))
    with pytest.raises(BadInputError, match="not an option of llama-server"):
        check_passthrough(["--thr", "4"], "llama-server", str(exe))
    with pytest.raises(BadInputError, match="not allowed"):
        check_passthrough(["-m", "/tmp/other.gguf"], "llama-server", str(exe))


def test_options_before_the_double_dash_are_parsed(
    tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from localctl.cli import build_parser

    args = build_parser().parse_args(["serve", str(tiny), "--ctx", "64"])
    assert args.extra == []
    assert main(["serve", str(tiny), "--ctx", "64", "--json", "--", "--ho", "x"]) == 2
    assert "--ho" in capsys.readouterr().err
    with pytest.raises(SystemExit) as caught:
        main(["chat", "--url", "http://127.0.0.1:9", "--", "--x"])
    assert caught.value.code == 2
    assert "does not apply to 'chat'" in capsys.readouterr().err


def test_llama_cpp_python_refuses_parallel_slots_it_does_not_have(tiny: Path) -> None:
    with pytest.raises(BadInputError, match="one request at a time"):
        backend_argv("llama-cpp-python", ServerOptions(model_path=tiny, parallel=4), "h", 1)

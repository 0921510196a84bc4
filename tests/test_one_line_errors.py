"""Bad input gets one clear line and an exit code, never a traceback (issue 16 #13, #16)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from localctl import paths
from localctl.cli import main
from localctl.config import load_config
from localctl.errors import ConfigError


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--port", "70000"], "port 70000 is out of range"),
        (["--port", "-1"], "port -1 is out of range"),
        (["--host", "no-such-host.invalid"], "cannot listen on host 'no-such-host.invalid'"),
        (["--host", "bad host\x00name"], "cannot listen on host"),
    ],
)
def test_serve_refuses_bad_addresses_in_one_line(
    tiny: Path, args: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["serve", str(tiny), "--backend", "llama-cpp-python", "--ctx", "64", *args])
    last = capsys.readouterr().err.splitlines()[-1]
    assert code == 2 and words in last and last.startswith("localctl: ")


def _config(text: str) -> Path:
    path = paths.config_file()
    paths.ensure_private_dir(path.parent)
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "line",
    [
        "[cost]\nelectricity_usd_per_kwh = nan",
        "[cost]\npower_w = inf",
        "[cost]\nhardware_usd = -5.0",
        "[cost]\nhardware_months = -1",
        "[server]\nthreads = -2",
        "[server]\nport = 70000",
    ],
)
def test_config_refuses_nan_inf_and_negative_numbers(
    line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _config(line + "\n")
    with pytest.raises(ConfigError):
        load_config()
    assert main(["cost", "--json"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "config.toml:2:" in err


def test_port_zero_means_any_free_port_in_config_as_on_the_command_line() -> None:
    _config("[server]\nport = 0\n")
    assert load_config().server.port == 0


def test_cost_json_is_valid_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cost", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)

    def finite(value: object) -> bool:
        if isinstance(value, float):
            return math.isfinite(value)
        if isinstance(value, dict):
            return all(finite(v) for v in value.values())
        if isinstance(value, list):
            return all(finite(v) for v in value)
        return True

    assert finite(doc)


@pytest.mark.parametrize(
    "field",
    ["ram_gib = inf", "ram_gib = nan", "ram_bandwidth_gb_s = 1e300", "physical_cores = 99999999"],
)
def test_hardware_profile_with_inf_is_one_line(
    tmp_path: Path, field: str, capsys: pytest.CaptureFixture[str]
) -> None:
    values = {
        "cpu_name": '"Test"',
        "physical_cores": "4",
        "ram_gib": "16",
        "ram_bandwidth_gb_s": "50",
    }
    key = field.split(" = ")[0]
    values[key] = field.split(" = ")[1]
    profile = tmp_path / "odd.toml"
    profile.write_text("".join(f"{k} = {v}\n" for k, v in values.items()))
    assert main(["fit", "llama-3.1-8b", "--hw", str(profile)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and key in err


def test_sighup_stops_serve_like_sigterm(tiny: Path, tmp_path: Path) -> None:
    from tests.server_helpers import FAKE_HTTP_SERVER, write_fake_exe

    fake = write_fake_exe(tmp_path, FAKE_HTTP_SERVER)
    proc = subprocess.Popen(
        [sys.executable, "-m", "localctl", "serve", str(tiny), "--backend", "llama-server",
         "--port", "0", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "LOCALCTL_LLAMA_SERVER": str(fake)},
    )  # fmt: skip
    assert proc.stdout is not None
    document = json.loads(proc.stdout.readline())
    proc.send_signal(signal.SIGHUP)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopping" in err
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(document["pid"], 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the server outlived serve")
    assert not list(paths.servers_dir().glob("*.json"))


def test_serve_ends_its_progress_line_before_a_download_error(smollm2_path: Path) -> None:
    from tests.fakehub import FakeHub, hub_env
    from tests.tui_flow import FLOW_MODEL_ID, FLOW_QUANT, flow_repo

    with FakeHub([flow_repo(smollm2_path)]) as hub:
        hub.faults.corrupt = True
        result = subprocess.run(
            [sys.executable, "-m", "localctl", "serve", f"{FLOW_MODEL_ID}:{FLOW_QUANT}"],
            capture_output=True, timeout=300, env=hub_env(hub),
        )  # fmt: skip
    err = result.stderr.decode()  # bytes: text mode would turn each \r into a newline
    assert result.returncode == 1, err
    assert "\rdownloading" in err
    last = err.rstrip("\n").split("\n")[-1]
    assert last.startswith("localctl: ") and "mismatch" in last, repr(err[-300:])

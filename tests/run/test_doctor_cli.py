"""`harness doctor` as a user runs it: its own emulator and bot on 127.0.0.1, or a platform URL."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.core import procs
from harness.core.contract import ExitCode
from harness.run.doctor.checks import ITEMS

pytestmark = pytest.mark.integration

SECRET = "doctor-secret-value-never-shown"


def lines_by_item(out: str) -> dict[str, str]:
    """The checklist lines of the output, by item."""
    names = {name: item for item, name in ITEMS.items()}
    found = {}
    for line in out.splitlines():
        status, _, rest = line.partition(" ")
        for name, item in names.items():
            if status in ("pass", "fail", "unknown") and rest.strip().startswith(name):
                found[item] = line
    return found


def test_default_starts_an_emulator_and_the_reference_bot_and_passes_everything(capsys):
    assert main(["doctor"]) == ExitCode.OK
    out = capsys.readouterr().out
    lines = lines_by_item(out)
    assert list(lines) == list(ITEMS), out
    assert all(line.startswith("pass") for line in lines.values()), out
    assert "reference-bot version" in lines["test_round_trip"]
    assert "8 passed, 0 failed, 0 unknown" in out


def test_a_misconfigured_emulator_names_the_item_and_exits_1(capsys, tmp_path: Path):
    config = tmp_path / "platform.toml"
    config.write_text(f'[[apps]]\napp_id = "my-app"\nsecret = "{SECRET}"\nstream_mode = false\n')
    assert main(["doctor", "--config", str(config), "--json"]) == ExitCode.CHECK_FAILED
    captured = capsys.readouterr()
    checks = {c["item"]: c for c in json.loads(captured.out)}
    assert checks["stream"]["status"] == "fail" and "Stream mode" in checks["stream"]["fix"]
    assert checks["test_round_trip"]["status"] == "unknown"
    assert {c["status"] for i, c in checks.items() if i not in ("stream", "test_round_trip")} == {"pass"}
    assert SECRET not in captured.out + captured.err


def test_a_bot_command_answers_and_one_that_exits_is_named_with_its_log(capsys):
    assert main(["doctor", "--bot-command", f"{sys.executable} -m reference_bot"]) == ExitCode.OK
    assert lines_by_item(capsys.readouterr().out)["test_round_trip"].startswith("pass")
    code = main(["doctor", "--bot-command", f"{sys.executable} -c 'raise SystemExit(3)'"])
    out = capsys.readouterr().out
    assert code == ExitCode.CHECK_FAILED
    line = lines_by_item(out)["test_round_trip"]
    assert line.startswith("fail") and "exited with code 3" in line
    kept = re.search(r"logs kept in (\S+)\)", line)
    assert kept and Path(kept.group(1)).is_dir()
    shutil.rmtree(Path(kept.group(1)).parent)


def test_a_platform_url_is_checked_with_credentials_from_the_environment_never_printed(tmp_path: Path):
    env = {**os.environ, "HARNESS_APP_SECRET": SECRET}
    argv = [sys.executable, "-m", "harness", "platform", "--app", "url-app", "--ready-file", str(tmp_path / "r")]
    platform, urls = procs.start_ready(argv, tmp_path / "r", tmp_path / "platform.log", env=env)
    try:
        doctor_env = {**os.environ, "DINGTALK_CLIENT_ID": "url-app", "DINGTALK_CLIENT_SECRET": SECRET}
        result = subprocess.run(
            [sys.executable, "-m", "harness", "doctor", "--platform", urls["http"], "--timeout", "1"],
            env=doctor_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        procs.stop(platform)
    lines = lines_by_item(result.stdout)
    assert result.returncode == ExitCode.CHECK_FAILED, result.stdout + result.stderr
    assert f"checking app url-app at {urls['http']}" in result.stdout
    assert all(lines[i].startswith("pass") for i in ITEMS if i != "test_round_trip"), result.stdout
    assert "no bot of app url-app had a stream connection open" in lines["test_round_trip"]
    assert SECRET not in result.stdout + result.stderr

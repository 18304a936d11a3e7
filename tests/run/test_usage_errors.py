"""What a user can get wrong is a usage error: one line naming the field, exit code 2, no traceback, no run
folder; and a harness bug is exit code 4 with one line, not a traceback that reads like a crash."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from harness.cli import main as cli_main
from harness.cli.main import main
from harness.core.contract import ExitCode

pytestmark = pytest.mark.unit


def _scenario(tmp_path: Path, command: list[str]) -> Path:
    path = tmp_path / "own.toml"
    argv = ", ".join(f'"{part}"' for part in command)
    path.write_text(f'[target]\nkind = "command"\ncommand = [{argv}]\n[shape]\nkind = "smoke"\nduration_s = 5\n')
    return path


@pytest.mark.parametrize("check", [True, False])
def test_a_missing_program_is_refused_before_anything_starts(tmp_path: Path, capsys, check: bool) -> None:
    scenario = _scenario(tmp_path, ["mybot-does-not-exist", "--port", "1"])
    runs = tmp_path / "runs"
    args = ["run", str(scenario), "--runs-dir", str(runs)] + (["--check"] if check else [])
    assert main(args) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err.strip() == "bad scenario: target.command: program 'mybot-does-not-exist' not found on PATH"
    assert not runs.exists()  # nothing started, no run folder left behind


def test_a_program_path_that_is_not_there_or_not_executable_and_a_missing_script(tmp_path: Path, capsys) -> None:
    assert main(["run", str(_scenario(tmp_path, [str(tmp_path / "nope")])), "--check"]) == ExitCode.USAGE
    assert "does not exist" in capsys.readouterr().err
    plain = tmp_path / "bot.sh"
    plain.write_text("#!/bin/sh\n")
    plain.chmod(plain.stat().st_mode & ~(stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH))
    assert main(["run", str(_scenario(tmp_path, [str(plain)])), "--check"]) == ExitCode.USAGE
    assert "is not executable" in capsys.readouterr().err
    missing_script = _scenario(tmp_path, [sys.executable, "mybot_typo.py"])
    assert main(["run", str(missing_script), "--check"]) == ExitCode.USAGE
    assert "script 'mybot_typo.py' does not exist" in capsys.readouterr().err


def test_a_program_that_is_there_passes_the_check(tmp_path: Path, capsys) -> None:
    script = tmp_path / "mybot.py"
    script.write_text("print('hi')\n")
    assert main(["run", str(_scenario(tmp_path, [sys.executable, str(script)])), "--check"]) == ExitCode.OK
    assert "valid" in capsys.readouterr().out


def test_a_runs_dir_that_cannot_be_made_is_a_usage_error(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert main(["run", "smoke", "--runs-dir", str(blocker / "runs")]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err.startswith("cannot create a run folder under") and "Traceback" not in err


def test_a_negative_or_infinite_tolerance_is_refused(tmp_path: Path, capsys) -> None:
    for bad in ("-0.1", "inf", "nan", "ten"):
        with pytest.raises(SystemExit) as exc:
            main(["report", str(tmp_path), "--baseline", str(tmp_path), "--tolerance", bad])
        assert exc.value.code == ExitCode.USAGE
        assert "--tolerance" in capsys.readouterr().err


def test_a_harness_bug_is_one_line_and_exit_code_4(monkeypatch, capsys) -> None:
    def broken(_args):
        raise RuntimeError("boom")

    import harness.cli.report as report_cli

    monkeypatch.setattr(report_cli, "run", broken)
    assert main(["report", "anything"]) == ExitCode.HARNESS_ERROR
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error: RuntimeError('boom')" in err and "Traceback" not in err
    assert cli_main.main(["-v", "report", "anything"]) == ExitCode.HARNESS_ERROR
    assert "Traceback" in capsys.readouterr().err  # -v: the traceback as well, still exit code 4


def test_hours_sets_a_real_time_shapes_duration_and_is_refused_for_a_week(capsys) -> None:
    assert main(["run", "soak", "--hours", "2", "--check"]) == ExitCode.OK
    assert "soak: valid; 72" in capsys.readouterr().out  # 7200 s played + the drain
    assert main(["run", "week", "--hours", "1", "--check"]) == ExitCode.USAGE
    assert capsys.readouterr().err.strip() == (
        "bad scenario: --hours: only for the real-time shapes (smoke, spike, soak); this one is a week"
    )
    assert main(["run", "soak", "--hours", "-1", "--check"]) == ExitCode.USAGE
    assert "shape.duration_s" in capsys.readouterr().err

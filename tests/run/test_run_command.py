from pathlib import Path

import pytest

from harness.cli.main import main
from harness.core.contract import ExitCode

pytestmark = pytest.mark.unit


def test_check_prints_the_plan_without_starting_anything(capsys, tmp_path: Path):
    assert main(["run", "week", "--check", "--runs-dir", str(tmp_path)]) == ExitCode.OK
    out = capsys.readouterr().out
    assert out.startswith("week: valid;") and "7 peak windows" in out
    assert not any(tmp_path.iterdir())


def test_bad_scenario_is_a_usage_error_naming_the_field(capsys, tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[shape]\npeak_users = 0\n")
    assert main(["run", str(bad), "--runs-dir", str(tmp_path / "runs")]) == ExitCode.USAGE
    assert "shape.peak_users: must be between 1 and" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()  # nothing started, no run folder

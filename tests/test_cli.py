import subprocess
import sys

import pytest

from harness.cli import COMMANDS
from harness.cli.main import main
from harness.core.contract import ExitCode

pytestmark = pytest.mark.integration


def test_help_lists_every_subcommand():
    out = subprocess.run(
        [sys.executable, "-m", "harness", "--help"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    for name in COMMANDS:
        assert name in out


def test_no_command_is_a_usage_error(capsys):
    assert main([]) == ExitCode.USAGE
    assert "COMMAND" in capsys.readouterr().out

"""scripts/install-system-deps.sh: outside CI a tool it cannot install is a note; with CI=true it fails."""

import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "install-system-deps.sh"


def run_without_tools(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The script on a machine with none of the tools and no apt-get: an empty PATH."""
    bash = shutil.which("bash")
    assert bash is not None
    return subprocess.run(
        [bash, str(SCRIPT)], env={"PATH": str(tmp_path), **env}, capture_output=True, text=True, timeout=60
    )


def test_outside_ci_it_says_so_and_carries_on(tmp_path: Path) -> None:
    done = run_without_tools(tmp_path)
    assert done.returncode == 0, done.stderr
    assert "SKIPPED prometheus prometheus-alertmanager redis-server chromium: no apt-get" in done.stdout


@pytest.mark.parametrize("ci", ["true", "1"])
def test_in_ci_a_tool_it_cannot_install_fails(tmp_path: Path, ci: str) -> None:
    done = run_without_tools(tmp_path, CI=ci)
    assert done.returncode == 1
    assert f"FAILED: CI={ci} needs prometheus prometheus-alertmanager redis-server chromium: no apt-get" in done.stderr


def test_chromium_can_be_left_out(tmp_path: Path) -> None:
    done = run_without_tools(tmp_path, CI="true", HARNESS_SKIP_CHROMIUM="1")
    assert done.returncode == 1 and "needs prometheus prometheus-alertmanager redis-server: no apt-get" in done.stderr

"""The command `harness run --remote-workers` prints for worker machines finds the locustfile in the
worker's own installation: the same file local workers run."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.run import components

pytestmark = pytest.mark.integration


def test_the_printed_command_names_the_installed_locustfile() -> None:
    command = components.remote_worker_command("10.0.0.5", 5557)
    assert command.startswith(f'python -m locust -f "{components.REMOTE_LOCUSTFILE}" --worker')
    assert command.endswith("--master-host 10.0.0.5 --master-port 5557")
    bash = shutil.which("bash")
    assert bash is not None
    # `python` on the worker machine is the one its installation runs with: here, this interpreter
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "python").exists()
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    expanded = subprocess.run(
        [bash, "-c", f'printf %s "{components.REMOTE_LOCUSTFILE}"'],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert expanded == components.locustfile() and Path(expanded).is_file()

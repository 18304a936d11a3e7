"""harness.core.procs: children log to their file, are stopped SIGTERM-then-SIGKILL, and do not outlive a
SIGKILLed parent (an Alertmanager started by harness/alertmanager.py included)."""

import os
import signal
import sys
import time
from pathlib import Path

import psutil
import pytest

from harness.core import procs
from harness.observability.alertmanager import find_binary
from tests.tools import needs

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 30.0  # generous: the machine is shared

IGNORES_SIGTERM = (
    "import signal, sys, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('up', flush=True)\ntime.sleep(60)\n"
)
# A parent that starts a child through harness.core.procs (or an Alertmanager), says so in a file, then waits.
PARENT_OF_SLEEPER = (
    "import sys, time\n"
    "from pathlib import Path\n"
    "from harness.core import procs\n"
    "procs.start([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
    "Path(sys.argv[1]).write_text('ready')\n"
    "time.sleep(120)\n"
)
PARENT_OF_ALERTMANAGER = (
    "import sys, time\n"
    "from pathlib import Path\n"
    "from harness.observability.alertmanager import AlertmanagerProcess\n"
    "AlertmanagerProcess(Path(sys.argv[1]).parent / 'run').start(timeout=60)\n"
    "Path(sys.argv[1]).write_text('ready')\n"
    "time.sleep(120)\n"
)


def poll(predicate, what: str, timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout:g} s waiting for {what}"
        time.sleep(0.05)


def gone(proc: psutil.Process) -> bool:
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_stop_kills_a_child_that_ignores_sigterm_after_the_grace(tmp_path: Path):
    log = tmp_path / "child.log"
    with procs.child([sys.executable, "-c", IGNORES_SIGTERM], log, grace=0.5) as proc:
        poll(lambda: "up" in log.read_text(), "the child's output in its log")
        assert procs.cpu_seconds(proc.pid) > 0  # the interpreter's start-up alone costs CPU
    assert proc.returncode == -signal.SIGKILL


def test_stop_ends_several_children_with_sigterm(tmp_path: Path):
    sleepers = [procs.start([sys.executable, "-c", "import time; time.sleep(60)"]) for _ in range(3)]
    procs.stop(*sleepers, grace=DEADLINE)
    assert [p.returncode for p in sleepers] == [-signal.SIGTERM] * 3


def kill_parent_and_expect_child_gone(script: str, tmp_path: Path, child_name: str) -> None:
    ready = tmp_path / "ready"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with procs.child([sys.executable, "-c", script, str(ready)], tmp_path / "parent.log", env=env, cwd=ROOT) as parent:
        poll(lambda: ready.exists() or parent.poll() is not None, "the parent to start its child", 90)
        assert ready.exists(), (tmp_path / "parent.log").read_text()
        children = [c for c in psutil.Process(parent.pid).children() if child_name in c.name()]
        assert len(children) == 1, children
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(DEADLINE)
        try:
            poll(lambda: gone(children[0]), f"{child_name} to go with its SIGKILLed parent")
        finally:
            if not gone(children[0]):
                children[0].kill()


def test_a_child_does_not_outlive_a_sigkilled_parent(tmp_path: Path):
    kill_parent_and_expect_child_gone(PARENT_OF_SLEEPER, tmp_path, "python")


@needs(find_binary() is not None, "Alertmanager")
def test_alertmanager_does_not_outlive_a_sigkilled_harness(tmp_path: Path):
    kill_parent_and_expect_child_gone(PARENT_OF_ALERTMANAGER, tmp_path, "alertmanager")

"""harness.core.procs: children log to their file, are stopped SIGTERM-then-SIGKILL (their whole group
when they lead one), do not outlive a SIGKILLed parent (an Alertmanager started by
harness/observability/alertmanager.py included); the one find_binary and free_port."""

import os
import signal
import socket
import stat
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import pytest

from harness.core import procs
from harness.core.readiness import NotReady, wait_http_ready
from harness.observability.alertmanager import BINARIES
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


@needs(procs.find_binary(*BINARIES) is not None, "Alertmanager")
def test_alertmanager_does_not_outlive_a_sigkilled_harness(tmp_path: Path):
    kill_parent_and_expect_child_gone(PARENT_OF_ALERTMANAGER, tmp_path, "alertmanager")


WAITS_FOR_SIGINT = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGINT, lambda *_: sys.exit(42))\n"
    "print('up', flush=True)\n"
    "time.sleep(60)\n"
)


def test_stop_sends_the_stop_signal_and_keeps_the_exit_status(tmp_path: Path):
    log = tmp_path / "child.log"
    proc = procs.start([sys.executable, "-c", WAITS_FOR_SIGINT], log)
    try:
        poll(lambda: "up" in log.read_text(), "the child's output in its log")
    finally:
        in_time = procs.stop(proc, grace=DEADLINE, sig=signal.SIGINT)
    assert in_time and proc.returncode == 42


def test_group_stop_ends_what_the_child_started(tmp_path: Path):
    ready = tmp_path / "ready"
    script = (
        "import subprocess, sys, time\n"
        "from pathlib import Path\n"
        "subprocess.Popen([sys.executable, '-c', 'import signal, time; "
        "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)'])\n"
        "Path(sys.argv[1]).write_text('ready')\n"
        "time.sleep(60)\n"
    )
    leader = procs.start([sys.executable, "-c", script, str(ready)], tmp_path / "leader.log", new_session=True)
    try:
        poll(lambda: ready.exists() and psutil.Process(leader.pid).children(), "the grandchild to start")
        grandchild = psutil.Process(leader.pid).children()[0]
    finally:
        procs.stop(leader, grace=DEADLINE, group=True)
    assert leader.returncode == -signal.SIGTERM
    poll(lambda: gone(grandchild), "the grandchild (it ignores SIGTERM) to be SIGKILLed with the group")


def test_stop_also_ends_a_process_that_is_not_our_child(tmp_path: Path):
    """py-spy's launched program is a grandchild: stop() takes a psutil.Process too."""
    ready = tmp_path / "ready"
    with procs.child(
        [sys.executable, "-c", PARENT_OF_SLEEPER, str(ready)], env={**os.environ, "PYTHONPATH": str(ROOT)}
    ) as parent:
        poll(lambda: ready.exists() and psutil.Process(parent.pid).children(), "the grandchild to start")
        grandchild = psutil.Process(parent.pid).children()[0]
        assert procs.stop(grandchild, grace=DEADLINE)
        assert gone(grandchild) and parent.poll() is None


def test_find_binary_configured_then_search_first_then_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def program(folder: Path, name: str) -> Path:
        folder.mkdir(exist_ok=True)
        path = folder / name
        path.write_text("#!/bin/sh\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
        return path

    on_path = program(tmp_path / "bin", "tool-b")
    first = program(tmp_path / "venv", "tool-b")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert procs.find_binary("tool-a", "tool-b") == str(on_path)  # the first name found wins
    assert procs.find_binary("tool-b", search_first=[tmp_path / "venv"]) == str(first)
    assert procs.find_binary("tool-b", configured=str(first)) == str(first)  # a configured path
    assert procs.find_binary("tool-a", configured="tool-b") == str(on_path)  # a configured name on PATH
    assert procs.find_binary("tool-b", configured="missing") is None  # configured, not there: no fallback
    assert procs.find_binary("tool-a") is None


def test_free_port_can_be_bound():
    port = procs.free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


class ReadyAfter:
    """A real HTTP server whose /-/ready answers 503 the first `refusals` times, then 200."""

    def __init__(self, refusals: int) -> None:
        owner = self
        self.refusals = refusals

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status = 503 if owner.refusals > 0 else 200
                owner.refusals -= 1
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/-/ready"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_wait_http_ready_waits_for_200_and_fails_when_the_process_exits():
    server = ReadyAfter(refusals=3)
    try:
        wait_http_ready(server.url, timeout=DEADLINE)
        assert server.refusals < 0  # it asked until it got the 200
    finally:
        server.close()
    quits = procs.start([sys.executable, "-c", "raise SystemExit(3)"])
    quits.wait(DEADLINE)
    with pytest.raises(NotReady, match="exited with 3"):
        wait_http_ready(f"http://127.0.0.1:{procs.free_port()}/-/ready", quits, timeout=DEADLINE)

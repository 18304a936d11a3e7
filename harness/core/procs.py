"""The one supervisor of child processes (the run's components, Prometheus, Alertmanager, py-spy, the
benchmarks' and tests' children): output to a log file, tied to the parent's life, ready when a ready
file or URL says so, stopped with a signal then SIGKILL after a grace period, exit status kept.

    with child([sys.executable, "-m", "harness", "platform", ...], tmp / "platform.log") as proc:
        ...                       # stopped (terminate, then kill) on the way out

Also the one `free_port()` and the one `find_binary(*names)` of the project.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil

from harness.core.contract import DEFAULT_HOST
from harness.core.readiness import wait_ready_file

log = logging.getLogger("harness.procs")

PR_SET_PDEATHSIG = 1
# Looked up once in the parent: the child should do as little as possible between fork and exec.
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None

# What stop() can end: a child started here, or a process found with psutil (a grandchild, say).
Stoppable = subprocess.Popen | psutil.Process


def find_binary(*names: str, configured: str = "", search_first: Sequence[Path] = ()) -> str | None:
    """The program to run: `configured` (a path, or a name on PATH) when given, else the first of `names`
    found in `search_first` then on PATH. None when there is none."""
    if configured:
        return configured if Path(configured).is_file() else shutil.which(configured)
    path = os.pathsep.join([*map(str, search_first), os.environ.get("PATH", os.defpath)])
    for name in names:
        found = shutil.which(name, path=path)
        if found:
            return found
    return None


def free_port(host: str = DEFAULT_HOST) -> int:
    """A TCP port free right now on `host` (another process may take it before it is bound: retry then)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _die_with(parent: int) -> None:
    """In the child before exec: SIGTERM when the parent thread that started it goes away (Linux), even if
    the parent is SIGKILLed; and if the parent is already gone, do not outlive it."""
    if _prctl is not None:
        _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)


def start(
    argv: Sequence[str],
    log: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
    stdout: Any = None,
    new_session: bool = False,
    **popen: Any,
) -> subprocess.Popen:
    """Start argv with stderr (and stdout, unless `stdout` is given) appended to `log` (this process's own
    streams when None) and stdin closed. It gets SIGTERM if this process dies. `new_session` puts it in
    its own process group, so a stop can reach what it starts in turn."""
    out = None
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        out = log.open("ab")
    try:
        parent = os.getpid()
        return subprocess.Popen(
            list(argv),
            stdout=out if stdout is None else stdout,
            stderr=subprocess.STDOUT if stdout is None and out else out,
            stdin=subprocess.DEVNULL,
            env=None if env is None else dict(env),
            cwd=cwd,
            start_new_session=new_session,
            preexec_fn=lambda: _die_with(parent),
            **popen,
        )
    finally:
        if out is not None:
            out.close()


def start_ready(
    argv: Sequence[str], ready_file: Path, log: Path | None = None, timeout: float = 60.0, **options: Any
) -> tuple[subprocess.Popen, dict[str, str]]:
    """start() a service that takes --ready-file, and wait for its URLs; stop it if it never gets ready."""
    proc = start(argv, log, **options)
    try:
        return proc, wait_ready_file(ready_file, proc, timeout)
    except BaseException:
        stop(proc)
        raise


def _running(proc: Stoppable) -> bool:
    if isinstance(proc, subprocess.Popen):
        return proc.poll() is None
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _signal(proc: Stoppable, sig: int, group: bool) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError, psutil.NoSuchProcess):
        if group:
            os.killpg(proc.pid, sig)
        elif _running(proc):
            proc.send_signal(sig)


def _name(proc: Stoppable) -> str:
    args = proc.args if isinstance(proc, subprocess.Popen) else None
    program = Path(str(args[0] if isinstance(args, list | tuple) else args or "process")).name
    return f"{program} (pid {proc.pid})"


def _ended_within(proc: Stoppable, timeout: float) -> bool:
    if isinstance(proc, subprocess.Popen):
        try:
            proc.wait(max(0.0, timeout))
        except subprocess.TimeoutExpired:
            return False
        return True
    deadline = time.monotonic() + timeout  # not our child: we cannot wait(), only look (a zombie has ended)
    while _running(proc):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def stop(*procs: Stoppable, grace: float = 15.0, sig: int = signal.SIGTERM, group: bool = False) -> bool:
    """`sig` to every one still running, wait up to `grace` seconds for all of them, then SIGKILL the rest.
    `group`: signal each one's whole process group (it was started with new_session), and SIGKILL what it
    left in its group once it is gone. True when all ended within the grace period; the exit status is
    each Popen's returncode."""
    for proc in procs:
        if _running(proc):
            _signal(proc, sig, group)
    deadline = time.monotonic() + grace
    in_time = True
    for proc in procs:
        if not _ended_within(proc, deadline - time.monotonic()):
            in_time = False
            log.warning("%s did not stop within %g s; killing it", _name(proc), grace)
            _signal(proc, signal.SIGKILL, group)
            _ended_within(proc, 5.0)
        if group:
            _signal(proc, signal.SIGKILL, group)  # whatever it left behind in its group
    return in_time


@contextlib.contextmanager
def child(
    argv: Sequence[str], log: Path | None = None, *, grace: float = 15.0, **options: Any
) -> Iterator[subprocess.Popen]:
    """start() for the body of a with-block, stop() when it is left, however it is left."""
    proc = start(argv, log, **options)
    try:
        yield proc
    finally:
        stop(proc, grace=grace)


def cpu_seconds(proc: psutil.Process | int) -> float:
    """User + system CPU time of one process so far (not its children)."""
    times = (proc if isinstance(proc, psutil.Process) else psutil.Process(proc)).cpu_times()
    return times.user + times.system

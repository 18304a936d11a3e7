"""Child processes started by the harness, its benchmarks and its tests: output to a log file, tied to
the parent's life, stopped with SIGTERM then SIGKILL after a grace period, CPU seconds read with psutil.

    with child([sys.executable, "-m", "harness", "platform", ...], tmp / "platform.log") as proc:
        ...                       # stopped (terminate, then kill) on the way out
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil

from harness.core.readiness import wait_ready_file

PR_SET_PDEATHSIG = 1
# Looked up once in the parent: the child should do as little as possible between fork and exec.
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


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


def stop(*procs: subprocess.Popen, grace: float = 15.0) -> None:
    """SIGTERM to every one still running, wait up to `grace` seconds for all of them, then SIGKILL the rest."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + grace
    for proc in procs:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


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

"""py-spy recordings of a run's Python processes: flame graph SVG, speedscope JSON, raw stacks.

Two ways in, and every recording says which one it used (in `<component>.meta.json` and the report):
- attached (`record(pid, ...)`): py-spy reads a running process's memory. Linux allows that to root or
  to a holder of CAP_SYS_PTRACE (with the Yama ptrace_scope setting permitting it); in a container run
  it with `--cap-add SYS_PTRACE` (docker) or `securityContext.capabilities.add: [SYS_PTRACE]` (k8s).
- launched (`launch(command, ...)`): py-spy starts the program as its child, which needs no privilege.
  py-spy cannot window a child it launched, so a launched recording covers the whole process life.

One py-spy sampler writes the raw collapsed stacks; the SVG and speedscope views are derived from
them (harness.analysis.report/stacks.py). Attached recordings use --nonblocking so the profiled bot is never paused.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from harness.core import procs
from harness.profiling.stacks import Stacks, hot_functions, write_views

CAP_SYS_PTRACE = 19
CONTAINER_HINT = (
    "run the harness as root, or grant CAP_SYS_PTRACE (docker: --cap-add SYS_PTRACE; "
    "kubernetes: securityContext.capabilities.add [SYS_PTRACE]), or launch the bot under py-spy "
    "(`harness profile --out DIR -- python -m reference_bot ...`)"
)


class ProfilingError(RuntimeError):
    """py-spy could not record; the message says why and what to do."""


def py_spy() -> str:
    """The py-spy next to this interpreter (the venv's), else the one on PATH."""
    found = procs.find_binary("py-spy", search_first=[Path(sys.executable).parent])
    if not found:
        raise ProfilingError("py-spy is not installed (pip install py-spy)")
    return found


def attach_verdict(euid: int, cap_eff_hex: str, ptrace_scope: int | None) -> tuple[bool, str]:
    """Whether Linux lets this process read another's memory, and why (pure, for testing)."""
    if ptrace_scope == 3:
        return False, "kernel.yama.ptrace_scope is 3: no process may attach to another; " + CONTAINER_HINT
    if euid == 0:
        return True, "running as root"
    if int(cap_eff_hex or "0", 16) >> CAP_SYS_PTRACE & 1:
        return True, "CAP_SYS_PTRACE is granted"
    if ptrace_scope == 0:
        return True, "ptrace_scope is 0: processes of the same user may be read"
    return False, (
        f"not root, no CAP_SYS_PTRACE, ptrace_scope={ptrace_scope}: attaching is not permitted; " + CONTAINER_HINT
    )


def attach_permitted() -> tuple[bool, str]:
    cap_eff = "0"
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            cap_eff = line.split()[1]
    scope_file = Path("/proc/sys/kernel/yama/ptrace_scope")
    scope = int(scope_file.read_text()) if scope_file.exists() else None
    return attach_verdict(os.geteuid(), cap_eff, scope)


@dataclass
class ProfileResult:
    component: str
    mode: str  # "attached" or "launched"
    files: dict[str, Path]
    samples: int
    hot: list[dict[str, Any]]
    meta: dict[str, Any]


@dataclass
class Recording:
    """A py-spy process at work. `wait()` for the duration to end or `stop()` it early."""

    process: subprocess.Popen[bytes]
    out_dir: Path
    component: str
    mode: str
    target_pid: int | None
    rate: int
    idle: bool = False  # idle threads sampled too (py-spy --idle): time blocked in calls shows
    started: float = field(default_factory=time.time)  # unix seconds, for the meta file
    started_monotonic: float = field(default_factory=time.monotonic)  # for the duration

    @property
    def raw_path(self) -> Path:
        return self.out_dir / f"{self.component}.txt"

    def launched_pid(self, timeout: float = 10.0) -> int | None:
        """The pid of the program py-spy launched (None for attached recordings)."""
        if self.mode != "launched":
            return None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            children = psutil.Process(self.process.pid).children()
            if children:
                return children[0].pid
            time.sleep(0.05)
        return None

    def poll(self) -> int | None:
        return self.process.poll()

    def stop(self, timeout: float = 60.0) -> ProfileResult:
        """Ask py-spy to finish now (SIGINT: it writes what it sampled so far). A launched program
        is ended too (SIGTERM, then SIGKILL): py-spy would leave it running without a parent."""
        child = self.launched_pid(timeout=1.0)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.wait(timeout)
        finally:
            if child is not None:
                with contextlib.suppress(psutil.NoSuchProcess):
                    procs.stop(psutil.Process(child), grace=timeout)

    def wait(self, timeout: float | None = None) -> ProfileResult:
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            procs.stop(self.process, grace=0.0)
            raise ProfilingError(f"py-spy did not finish within {timeout} s; killed") from None
        return self._finish()

    def _finish(self) -> ProfileResult:
        err = (self.out_dir / f"{self.component}.py-spy.log").read_text(errors="replace")
        if not self.raw_path.exists() or not self.raw_path.stat().st_size:
            hint = f" ({CONTAINER_HINT})" if "ermission" in err or "ptrace" in err.lower() else ""
            raise ProfilingError(
                f"py-spy wrote no samples for {self.component} (exit code "
                f"{self.process.returncode}): {err.strip()[-400:]}{hint}"
            )
        title = f"{self.component} ({self.mode}) {self.out_dir.name}"
        files = write_views(self.raw_path, title)
        stacks = Stacks.load(self.raw_path)
        meta = {
            "component": self.component,
            "mode": self.mode,
            "target_pid": self.target_pid,
            "rate": self.rate,
            "idle": self.idle,
            "samples": stacks.total,
            "started_unix": self.started,
            "duration_s": round(time.monotonic() - self.started_monotonic, 3),
            "py_spy_exit_code": self.process.returncode,
            "command": self.process.args if isinstance(self.process.args, list) else str(self.process.args),
        }
        files["meta"] = self.out_dir / f"{self.component}.meta.json"
        files["meta"].write_text(json.dumps(meta, indent=1, default=str))
        return ProfileResult(self.component, self.mode, files, stacks.total, hot_functions(stacks), meta)


def _start(
    args: list[str], out_dir: Path, component: str, mode: str, target_pid: int | None, rate: int, idle: bool
) -> Recording:
    out_dir.mkdir(parents=True, exist_ok=True)
    raw = out_dir / f"{component}.txt"
    cmd = [py_spy(), "record", "--format", "raw", "--output", str(raw), "--rate", str(rate), *args]
    if idle:  # threads waiting in a call (a disk flush, a lock, a socket) are sampled, not skipped
        cmd.insert(2, "--idle")
    log = out_dir / f"{component}.py-spy.log"
    log.unlink(missing_ok=True)  # this recording's output only: _finish quotes it when no samples came
    process = procs.start(cmd, log)  # tied to the harness: a SIGKILLed run leaves no py-spy behind
    return Recording(process, out_dir, component, mode, target_pid, rate, idle)


def record(
    pid: int,
    out_dir: Path,
    duration: float,
    rate: int = 100,
    *,
    component: str = "bot",
    subprocesses: bool = False,
    idle: bool = False,
) -> Recording:
    """Attach to a running process for `duration` seconds; files go to out_dir/<component>.*
    `idle`: sample idle threads as well (py-spy --idle), so that time blocked in calls shows."""
    allowed, why = attach_permitted()
    if not allowed:
        raise ProfilingError(why)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        raise ProfilingError(f"no process with pid {pid} to profile") from None
    args = ["--pid", str(pid), "--duration", str(max(1, round(duration))), "--nonblocking"]
    args += ["--subprocesses"] if subprocesses else []
    return _start(args, Path(out_dir), component, "attached", pid, rate, idle)


def launch(
    command: list[str],
    out_dir: Path,
    rate: int = 100,
    *,
    component: str = "bot",
    duration: float | None = None,
    subprocesses: bool = False,
    idle: bool = False,
) -> Recording:
    """Start `command` under py-spy (no privilege needed); records until it exits, `duration` or stop()."""
    if not command:
        raise ProfilingError("launch needs a command to run under py-spy")
    args = (["--duration", str(max(1, round(duration)))] if duration else []) + (
        ["--subprocesses"] if subprocesses else []
    )
    return _start([*args, "--", *command], Path(out_dir), component, "launched", None, rate, idle)

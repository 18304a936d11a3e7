"""Child processes of a run: started in their own session, logged to the run folder, health-checked,
stopped in order (SIGTERM, then SIGKILL after a grace period), and killed if the harness dies."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.core import procs
from harness.core.readiness import NotReady, wait_ready_file

log = logging.getLogger("harness.run")


@dataclass
class Component:
    name: str
    argv: Sequence[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    ready_file: Path | None = None
    stop_grace_s: float = 10.0
    critical: bool = True  # its death aborts the run
    process: subprocess.Popen | None = None
    urls: dict[str, str] = field(default_factory=dict)
    expected_exit: bool = False  # set when the harness asked it to stop, or when it may finish on its own
    stop_signal: int = signal.SIGTERM

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> None:
        self.process = procs.start(self.argv, self.log_path, env={**os.environ, **self.env}, new_session=True)
        log.debug("started %s pid %s: %s", self.name, self.process.pid, " ".join(self.argv))

    def wait_ready(self, timeout: float) -> dict[str, str]:
        assert self.process is not None and self.ready_file is not None
        try:
            self.urls = wait_ready_file(self.ready_file, self.process, timeout)
        except NotReady as exc:
            raise NotReady(f"{self.name}: {exc}; see {self.log_path}") from None
        return self.urls

    def exit_code(self) -> int | None:
        return self.process.poll() if self.process else None

    def died(self) -> bool:
        """Exited without being asked to."""
        return self.process is not None and not self.expected_exit and self.process.poll() is not None

    def stop(self) -> int | None:
        """stop_signal to the process group, wait up to stop_grace_s, then SIGKILL. Returns the exit code."""
        if self.process is None:
            return None
        self.expected_exit = True
        if self.process.poll() is None:
            self._signal(self.stop_signal)
            try:
                self.process.wait(self.stop_grace_s)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0f s; killing it", self.name, self.stop_grace_s)
                self._signal(signal.SIGKILL)
                self.process.wait(5)
        self._signal(signal.SIGKILL)  # whatever it left behind in its group
        return self.process.returncode

    def _signal(self, sig: int) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)


def wait_all_exit(components: Sequence[Component], timeout: float) -> bool:
    """Poll until every component exited or the deadline passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(c.exit_code() is not None for c in components):
            return True
        time.sleep(0.1)
    return False

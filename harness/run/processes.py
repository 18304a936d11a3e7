"""Child processes of a run: what each one is (name, argv, log, ready file, how it is stopped) and whether
it died unasked. Starting, readiness and stopping are harness.core.procs: each component leads its own
session, so a stop reaches what it started in turn, and it dies with the harness."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.core import procs
from harness.core.readiness import NotReady, wait_http_ready, wait_ready_file

log = logging.getLogger("harness.run")


@dataclass
class Component:
    name: str
    argv: Sequence[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    ready_file: Path | None = None
    stop_grace_s: float = 10.0
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
        """The URLs of its ready file."""
        assert self.process is not None and self.ready_file is not None
        try:
            self.urls = wait_ready_file(self.ready_file, self.process, timeout)
        except NotReady as exc:
            raise NotReady(f"{self.name}: {exc}; see {self.log_path}") from None
        return self.urls

    def wait_url(self, url: str, timeout: float) -> None:
        """For a program without a ready file: ready when `url` answers 200."""
        assert self.process is not None
        try:
            wait_http_ready(url, self.process, timeout)
        except NotReady as exc:
            raise NotReady(f"{self.name}: {exc}; see {self.log_path}") from None

    def exit_code(self) -> int | None:
        return self.process.poll() if self.process else None

    def died(self) -> bool:
        """Exited without being asked to."""
        return self.process is not None and not self.expected_exit and self.process.poll() is not None

    def stop(self) -> int | None:
        """stop_signal to its process group, SIGKILL after stop_grace_s. Returns the exit code."""
        if self.process is None:
            return None
        self.expected_exit = True
        procs.stop(self.process, grace=self.stop_grace_s, sig=self.stop_signal, group=True)
        return self.process.returncode

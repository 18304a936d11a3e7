"""How a child process tells the orchestrator that it is serving, and on which ephemeral ports.

A service started with `--ready-file PATH` binds (port 0 by default), then writes
`{"pid": .., "urls": {"http": "http://127.0.0.1:PORT", ...}}` to PATH atomically. The orchestrator
and the tests wait for that file instead of sleeping or scraping logs. A program that knows no ready
file (Prometheus, Alertmanager) is ready when its readiness URL answers 200.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path


def write_ready_file(path: str | os.PathLike[str] | None, **urls: str) -> None:
    if not path:
        return
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), "urls": urls}))
    tmp.replace(target)


class NotReady(RuntimeError):
    pass


def wait_ready_file(
    path: str | os.PathLike[str], process: subprocess.Popen | None = None, timeout: float = 30.0
) -> dict[str, str]:
    """Wait for a ready file; fail early if the process exits first. Returns the urls."""
    target = Path(path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if target.exists():
            return json.loads(target.read_text())["urls"]
        if process is not None and process.poll() is not None:
            raise NotReady(f"process {process.args!r} exited with {process.returncode} before it was ready")
        time.sleep(0.05)
    raise NotReady(f"no ready file at {target} after {timeout:.0f} s")


def wait_http_ready(url: str, process: subprocess.Popen | None = None, timeout: float = 30.0) -> None:
    """Wait until `url` answers 200; fail early if the process exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise NotReady(f"process {process.args!r} exited with {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:  # not listening yet, or 503 while it starts
            pass
        time.sleep(0.1)
    raise NotReady(f"{url} did not answer 200 within {timeout:.0f} s")

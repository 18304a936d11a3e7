"""How a child process tells the orchestrator that it is serving, and on which ephemeral ports.

A service started with `--ready-file PATH` binds (port 0 by default), then writes
`{"pid": .., "urls": {"http": "http://127.0.0.1:PORT", ...}}` to PATH atomically. The orchestrator
and the tests wait for that file instead of sleeping or scraping logs.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
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

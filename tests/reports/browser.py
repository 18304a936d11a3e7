"""Open a file in real headless chromium over the DevTools protocol and report what a user would see.

Chromium is started with a throw-away profile and remote debugging on an ephemeral port (read from
the DevToolsActivePort file it writes); the page is attached before navigation so that no console
message or exception of the load is missed. The process is always killed on exit.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
    "--remote-allow-origins=*",
    "--window-size=1200,900",
]


@dataclass
class PageResult:
    console_errors: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    screenshot_png: bytes = b""


@contextlib.contextmanager
def chromium(deadline_s: float = 60.0) -> Iterator[int]:
    """Start chromium; yield its DevTools port."""
    with tempfile.TemporaryDirectory(prefix="chromium-", ignore_cleanup_errors=True) as profile:
        # own session: chromium's helper processes are killed with it, by its process group id
        proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + deadline_s
            while not port_file.exists() or not port_file.read_text().strip():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"chromium did not open DevTools (exit code {proc.poll()})")
                time.sleep(0.1)
            yield int(port_file.read_text().split()[0])
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


class _Session:
    def __init__(self, ws: ClientConnection, result: PageResult) -> None:
        self.ws, self.result, self.ids = ws, result, itertools.count(1)

    def _note(self, event: dict[str, Any]) -> None:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.result.console_errors.append(json.dumps(params.get("args")))
        elif method == "Runtime.exceptionThrown":
            self.result.exceptions.append(json.dumps(params.get("exceptionDetails")))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            self.result.console_errors.append(params["entry"].get("text", ""))

    def call(self, method: str, timeout: float = 60.0, **params: Any) -> dict[str, Any]:
        call_id = next(self.ids)
        self.ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.ws.recv(timeout=max(deadline - time.monotonic(), 0.01)))
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._note(message)

    def wait_event(self, name: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.ws.recv(timeout=max(deadline - time.monotonic(), 0.01)))
            self._note(message)
            if message.get("method") == name:
                return


def open_page(path: Path, expressions: dict[str, str], timeout: float = 90.0) -> PageResult:
    """Load PATH, evaluate each JS expression after load, take a full-page screenshot."""
    result = PageResult()
    with chromium() as port:
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30))
        page = next(t for t in targets if t["type"] == "page")
        with connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=30) as ws:
            session = _Session(ws, result)
            for domain in ("Page", "Runtime", "Log"):
                session.call(f"{domain}.enable")
            session.call("Page.navigate", url=path.resolve().as_uri())
            session.wait_event("Page.loadEventFired", timeout)
            for name, expression in expressions.items():
                value = session.call("Runtime.evaluate", expression=expression, returnByValue=True)
                result.values[name] = value["result"].get("value")
            shot = session.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
            result.screenshot_png = base64.b64decode(shot["data"])
    return result

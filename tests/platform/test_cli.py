import json
import os
import signal
import subprocess
import sys
import urllib.request

import pytest
from websockets.sync.client import connect

from harness.core.readiness import wait_ready_file

pytestmark = pytest.mark.integration


def test_platform_command_serves_and_writes_ledger_on_sigterm(tmp_path):
    ready, ledger = tmp_path / "ready.json", tmp_path / "ledger.json"
    env = {**os.environ, "HARNESS_APP_SECRET": "cli-secret-value"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness",
            "platform",
            "--app",
            "cli-app",
            "--ready-file",
            str(ready),
            "--ledger-file",
            str(ledger),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = wait_ready_file(ready, proc, timeout=60)["http"]
        with urllib.request.urlopen(f"{url}/healthz", timeout=30) as resp:
            assert resp.status == 200
        with connect(url.replace("http", "ws") + "/user?userId=u1", open_timeout=30) as user:
            user.send(json.dumps({"clientMsgId": "m1", "conversationId": "c1", "text": "left unanswered"}))
            assert json.loads(user.recv(timeout=30))["type"] == "accepted"
            proc.send_signal(signal.SIGTERM)  # with a user still connected
            out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    assert json.loads(ledger.read_text())["messages"]["lost"] == 1
    assert "platform emulator serving on" in out
    assert "cli-secret-value" not in out


def test_platform_command_without_app_is_a_usage_error():
    env = {k: v for k, v in os.environ.items() if k != "HARNESS_APP_SECRET"}
    result = subprocess.run(
        [sys.executable, "-m", "harness", "platform", "--app", "x"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "HARNESS_APP_SECRET" in result.stderr

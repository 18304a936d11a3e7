import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from harness.core import assets
from harness.core.runfolder.writer import JsonLines
from harness.run.prometheus import AlertPoller, write_config
from tests.tools import needs_tool

pytestmark = pytest.mark.integration


TARGETS = {
    "bot": "http://127.0.0.1:9001/metrics",
    "platform": "http://127.0.0.1:9002/metrics",
    "loadgen": "http://127.0.0.1:9003/metrics",
    "host": "http://127.0.0.1:9004/metrics",
}


def test_config_scrapes_every_target_and_loads_the_project_rules(tmp_path: Path):
    path = write_config(tmp_path, TARGETS, 2.0, alertmanager_url="http://127.0.0.1:9093")
    config = yaml.safe_load(path.read_text())
    jobs = {c["job_name"]: c["static_configs"][0]["targets"][0] for c in config["scrape_configs"]}
    assert jobs == {
        "bot": "127.0.0.1:9001",
        "platform": "127.0.0.1:9002",
        "loadgen": "127.0.0.1:9003",
        "host": "127.0.0.1:9004",
    }
    assert config["global"]["scrape_interval"] == "2s"
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["127.0.0.1:9093"]
    shipped = sorted(p.name for p in assets.rules_dir().glob("*.yml"))
    assert sorted(p.name for p in (tmp_path / "rules").glob("*.yml")) == shipped


@needs_tool("promtool")
def test_promtool_accepts_the_config(tmp_path: Path):
    path = write_config(tmp_path, TARGETS, 2.0, alertmanager_url="http://127.0.0.1:9093")
    check = subprocess.run(["promtool", "check", "config", str(path)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr


class AlertsServer:
    """A real HTTP server answering /api/v1/alerts with whatever the test sets."""

    def __init__(self):
        self.alerts: list[dict] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                body = json.dumps({"status": "success", "data": {"alerts": owner.alerts}}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def alerts_server():
    server = AlertsServer()
    try:
        yield server
    finally:
        server.close()


def alert(name: str, state: str = "firing", **labels: str) -> dict:
    return {
        "labels": {"alertname": name, "severity": "warning", **labels},
        "state": state,
        "activeAt": "2026-01-01T00:00:00Z",
    }


def test_alert_poller_writes_transitions_only(tmp_path: Path, alerts_server: AlertsServer):
    out = JsonLines(tmp_path / "alerts.jsonl")
    poller = AlertPoller(alerts_server.url, out, lambda: (12.0, 36000.0))
    alerts_server.alerts = [alert("HostCpuHigh", "pending")]
    poller.poll()
    alerts_server.alerts = [alert("HostCpuHigh"), alert("QueueFull", queue="inbound")]
    poller.poll()
    poller.poll()  # no change: nothing written
    assert poller.names_firing() == ["HostCpuHigh", "QueueFull"]
    alerts_server.alerts = [alert("QueueFull", queue="inbound")]
    poller.poll()
    out.close()
    lines = [json.loads(x) for x in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert [(x["alertname"], x["state"]) for x in lines] == [
        ("HostCpuHigh", "firing"),
        ("QueueFull", "firing"),
        ("HostCpuHigh", "resolved"),
    ]
    assert lines[0]["wall"] == 12.0 and lines[0]["sim"] == 36000.0 and lines[1]["labels"]["queue"] == "inbound"


def test_alert_poller_survives_an_unreachable_prometheus(tmp_path: Path):
    poller = AlertPoller("http://127.0.0.1:9", JsonLines(tmp_path / "a.jsonl"), lambda: (0.0, 0.0))
    poller.poll()
    assert poller.errors == 1 and poller.names_firing() == []

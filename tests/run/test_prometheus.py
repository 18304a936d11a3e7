import json
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from harness.core import assets, procs
from harness.core.runfolder.jsonlines import JsonLinesWriter
from harness.run import prometheus
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
    """A real HTTP server answering /api/v1/alerts and /api/v1/rules with whatever the test sets."""

    def __init__(self):
        self.alerts: list[dict] = []
        self.rule_groups: list[dict] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                data = {"groups": owner.rule_groups} if self.path == "/api/v1/rules" else {"alerts": owner.alerts}
                body = json.dumps({"status": "success", "data": data}).encode()
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
    out = JsonLinesWriter(tmp_path / "alerts.jsonl")
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
    poller = AlertPoller("http://127.0.0.1:9", JsonLinesWriter(tmp_path / "a.jsonl"), lambda: (0.0, 0.0))
    poller.poll()
    assert poller.errors == 1 and poller.names_firing() == []


def shipped_groups() -> list[dict]:
    """The shipped rule groups as /api/v1/rules lists them (file paths as in a run's prometheus/rules/)."""
    return [
        {"name": g["name"], "file": f"/run/prometheus/rules/{path.name}", "rules": g["rules"]}
        for path in assets.asset_files(*prometheus.RULE_FILES)
        for g in yaml.safe_load(path.read_text())["groups"]
    ]


def test_every_shipped_rule_loaded_is_nothing_missing(alerts_server: AlertsServer):
    alerts_server.rule_groups = shipped_groups()
    rules = prometheus.check_rules(alerts_server.url)
    assert rules["missing"] == [] and rules["rules_loaded"] == rules["rules_shipped"] > 20
    assert rules["groups_loaded"] == rules["groups_shipped"] == len(alerts_server.rule_groups)


def test_fewer_rules_than_shipped_are_named(alerts_server: AlertsServer, tmp_path: Path):
    groups = shipped_groups()
    dropped, cut = groups[0], groups[1]
    alerts_server.rule_groups = [{**cut, "rules": cut["rules"][:-1]}, *groups[2:]]
    rules = prometheus.check_rules(alerts_server.url)
    shipped = sum(len(g["rules"]) for g in groups)
    assert rules["rules_loaded"] == shipped - len(dropped["rules"]) - 1 and rules["rules_shipped"] == shipped
    dropped_key = f"{Path(dropped['file']).name}:{dropped['name']}"
    cut_key = f"{Path(cut['file']).name}:{cut['name']}"
    assert rules["missing"] == [dropped_key, f"{cut_key} ({len(cut['rules']) - 1} of {len(cut['rules'])} rules)"]
    text = prometheus.missing_rules_text(rules, Path("logs/prometheus.log"))
    assert "\n" not in text and dropped_key in text and cut_key in text and "logs/prometheus.log" in text
    alerts_server.rule_groups = []
    assert prometheus.check_rules(alerts_server.url)["rules_loaded"] == 0


def test_an_unreadable_rules_answer_is_rules_not_loaded(tmp_path: Path):
    with pytest.raises(prometheus.RulesNotLoaded, match="could not read the rules"):
        prometheus.check_rules(f"http://127.0.0.1:{procs.free_port()}")


@needs_tool("prometheus")
def test_a_real_prometheus_loads_every_shipped_rule(tmp_path: Path):
    """The run's own config, rules copy and process: what Prometheus evaluates is what the project ships."""
    config = write_config(tmp_path, {}, 1.0)
    port = procs.free_port()
    comp = prometheus.component(procs.find_binary("prometheus"), tmp_path, config, port, tmp_path / "prometheus.log")
    comp.start()
    try:
        comp.wait_url(f"http://127.0.0.1:{port}/-/ready", 60)
        rules = prometheus.check_rules(f"http://127.0.0.1:{port}")
    finally:
        comp.stop()
    shipped = prometheus.shipped_rules()
    assert rules["missing"] == [], rules
    assert rules["rules_loaded"] == rules["rules_shipped"] == sum(shipped.values())
    assert rules["groups_loaded"] == len(shipped)


@needs_tool("prometheus")
def test_scrape_failures_are_read_from_prometheus_per_target(tmp_path: Path):
    """A live target and one nobody listens on: Prometheus' own record of `up` counts every scrape of the
    dead one as failed and none of the live one (rig health reads this from the manifest)."""
    live = ThreadingHTTPServer(("127.0.0.1", 0), _MetricsHandler)
    threading.Thread(target=live.serve_forever, daemon=True).start()
    targets = {
        "live": f"http://127.0.0.1:{live.server_port}/metrics",
        "dead": f"http://127.0.0.1:{procs.free_port()}/m",
    }
    config = write_config(tmp_path, targets, 0.5)
    assert yaml.safe_load(config.read_text())["global"]["scrape_interval"] == "500ms"  # "0.5s" is refused
    port = procs.free_port()
    comp = prometheus.component(procs.find_binary("prometheus"), tmp_path, config, port, tmp_path / "prometheus.log")
    url = f"http://127.0.0.1:{port}"
    comp.start()
    try:
        comp.wait_url(f"{url}/-/ready", 60)
        started = time.time()
        deadline = time.monotonic() + 30
        failures = None
        while time.monotonic() < deadline:
            failures = prometheus.scrape_failures(url, started - 5, time.time())
            if failures and all(failures.get(job, {}).get("scrapes", 0) >= 3 for job in targets):
                break
            time.sleep(0.5)
    finally:
        comp.stop()
        live.shutdown()
    assert failures is not None and set(failures) == {"live", "dead"}, failures
    assert failures["live"]["failed"] == 0 and failures["dead"]["failed"] == failures["dead"]["scrapes"] >= 3
    assert prometheus.scrape_failures(f"http://127.0.0.1:{procs.free_port()}", 0, 10) is None


class _MetricsHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"up_test 1\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass

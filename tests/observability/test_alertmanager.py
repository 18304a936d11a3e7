"""Alertmanager routing: amtool checks per alert, and a real Alertmanager started the way a run
starts it, with notifications recorded in the run folder."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from harness.core import assets, procs
from harness.observability import rules as rulegen
from harness.observability.alertmanager import BINARIES, AlertmanagerProcess, read_notifications, run_config
from tests.tools import needs, needs_tool

pytestmark = pytest.mark.integration

amtool = needs_tool("amtool")

# The routing policy, stated independently of the config file: severity decides page vs ticket, and
# security alerts reach the security receiver first and then follow severity.
BY_SEVERITY = {"critical": "page", "warning": "ticket"}


def expected_receivers(labels: dict[str, str]) -> str:
    receivers = [BY_SEVERITY[labels["severity"]]]
    if labels.get("category") == "security":
        receivers.insert(0, "security")
    return ",".join(receivers)


def _routes_test(config: Path, receivers: str, labels: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "amtool",
            "config",
            "routes",
            "test",
            f"--config.file={config}",
            f"--verify.receivers={receivers}",
            *(f"{k}={v}" for k, v in labels.items()),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )


@amtool
def test_config_is_valid() -> None:
    argv = ["amtool", "check-config", str(assets.alertmanager_config())]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr


def _alert_label_sets() -> list[dict[str, str]]:
    seen, out = set(), []
    for alert in rulegen.alerts():
        labels = {"alertname": alert.name, **alert.all_labels()}
        key = tuple(sorted(labels.items()))
        if key not in seen:
            seen.add(key)
            out.append(labels)
    return out


@amtool
@pytest.mark.parametrize("labels", _alert_label_sets(), ids=lambda labels: "-".join(labels.values()))
def test_each_alert_routes_to_its_receivers(labels: dict[str, str]) -> None:
    expected = expected_receivers(labels)
    result = _routes_test(assets.alertmanager_config(), expected, labels)
    assert result.returncode == 0, f"{labels} should go to {expected}: {result.stdout}{result.stderr}"


@amtool
def test_a_wrong_receiver_is_caught() -> None:
    result = _routes_test(assets.alertmanager_config(), "ticket", {"alertname": "HostCpuHigh", "severity": "critical"})
    assert result.returncode != 0


@amtool
def test_run_config_keeps_routing_and_swaps_receivers(tmp_path: Path) -> None:
    shipped = yaml.safe_load(assets.alertmanager_config().read_text())
    derived = run_config(shipped, "http://127.0.0.1:1")
    assert derived["inhibit_rules"] == shipped["inhibit_rules"]
    matchers = [[r.get("matchers") for r in c["route"]["routes"]] for c in (derived, shipped)]
    assert matchers[0] == matchers[1]
    for receiver in derived["receivers"]:
        assert receiver["webhook_configs"] == [{"url": f"http://127.0.0.1:1/{receiver['name']}", "send_resolved": True}]
    path = tmp_path / "am.yml"
    path.write_text(yaml.safe_dump(derived))
    for labels in _alert_label_sets():
        assert _routes_test(path, expected_receivers(labels), labels).returncode == 0


def _post_alerts(url: str, alerts: list[dict[str, dict[str, str]]]) -> None:
    now = datetime.now(timezone.utc)
    body = [{**a, "startsAt": now.isoformat(), "endsAt": (now + timedelta(minutes=10)).isoformat()} for a in alerts]
    request = urllib.request.Request(
        f"{url}/api/v2/alerts",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 200


def _poll(check, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    return check()


@needs(procs.find_binary(*BINARIES) is not None, "Alertmanager")
def test_real_alertmanager_routes_inhibits_and_records(tmp_path: Path) -> None:
    host = {"job": "host", "instance": "host:9100"}
    with AlertmanagerProcess(tmp_path) as am:
        assert am.url is not None
        _post_alerts(
            am.url,
            [
                {"labels": {"alertname": "HostCpuHigh", "severity": "critical", **host}},
                {"labels": {"alertname": "HostCpuAboveTarget", "severity": "warning", **host}},
                {
                    "labels": {
                        "alertname": "AdminLoginFailuresHigh",
                        "severity": "warning",
                        "category": "security",
                        "job": "bot",
                        "instance": "bot:9000",
                    }
                },
            ],
        )

        def routed() -> set[tuple[str, str]]:
            return {(n["receiver"], a["labels"]["alertname"]) for n in am.notifications() for a in n["alerts"]}

        expected = {
            ("page", "HostCpuHigh"),
            ("security", "AdminLoginFailuresHigh"),
            ("ticket", "AdminLoginFailuresHigh"),
        }
        assert _poll(lambda: expected <= routed()), routed()

        with urllib.request.urlopen(f"{am.url}/api/v2/alerts?filter=alertname%3D%22HostCpuAboveTarget%22") as resp:
            (target,) = json.load(resp)
        assert target["status"]["inhibitedBy"], "HostCpuHigh must inhibit HostCpuAboveTarget on the same instance"
    assert routed() == expected  # nothing else, in particular no HostCpuAboveTarget
    lines = read_notifications(tmp_path / "notifications.jsonl")
    assert all(n["status"] == "firing" and n["alerts"] for n in lines)
    assert (tmp_path / "alertmanager" / "alertmanager.yml").exists()

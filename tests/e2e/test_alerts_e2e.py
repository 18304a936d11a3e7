"""End-to-end proof of the alerting: the conditions injected by `faults_run` raise exactly the expected
alerts in the run's real Prometheus, and Alertmanager delivers them to the expected receivers."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.core.contract import THRESHOLDS
from harness.observability.alertmanager import read_notifications
from tests.e2e.runs_faults import EXPECTED_FIRING, EXPECTED_INHIBITED, EXPECTED_ROUTED, HOST_CPU_ALERTS
from tests.observability.replay import ReplayPrometheus
from tests.tools import needs_tool

pytestmark = [pytest.mark.e2e, pytest.mark.solo, needs_tool("prometheus")]

WINDOW_S = 60  # the rules' rate window and `for:`
MARGIN = 0.05  # host CPU this close to a threshold may go either way


@pytest.fixture(scope="module")
def fired(faults_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[dict[str, str]]]:
    """Label sets of every alert that was firing at some point, from the ALERTS series in Prometheus."""
    manifest = json.loads((faults_run / "manifest.json").read_text())
    assert manifest.get("prometheus", {}).get("available"), "the run must have had Prometheus"
    with ReplayPrometheus(faults_run, tmp_path_factory.mktemp("replay-faults")) as prom:
        series = prom.query_range('ALERTS{alertstate="firing"}', manifest["started_at"], manifest["ended_at"] + 30, 2)
    yield [s["metric"] for s in series]


def _names(alerts: list[dict[str, str]]) -> set[str]:
    return {a["alertname"] for a in alerts}


@pytest.mark.parametrize(("alertname", "labels"), EXPECTED_FIRING, ids=[a for a, _ in EXPECTED_FIRING])
def test_expected_alert_fires(fired: list[dict[str, str]], alertname: str, labels: dict[str, str]) -> None:
    matching = [a for a in fired if a["alertname"] == alertname and labels.items() <= a.items()]
    assert matching, f"{alertname} {labels} did not fire; fired: {sorted(_names(fired))}"


def test_no_other_alert_fires(fired: list[dict[str, str]]) -> None:
    allowed = {name for name, _ in EXPECTED_FIRING} | HOST_CPU_ALERTS
    assert _names(fired) <= allowed, f"unexpected: {sorted(_names(fired) - allowed)}"


def _rolling(samples: list[tuple[float, float]], width: float) -> list[tuple[float, float]]:
    """(t, mean of the values in (t - width, t]) at each sample, once a full window is covered."""
    out = []
    for i, (t, _) in enumerate(samples):
        window = [v for s, v in samples[: i + 1] if s > t - width]
        if t - samples[0][0] >= width:
            out.append((t, sum(window) / len(window)))
    return out


def _sustained(means: list[tuple[float, float]], width: float) -> float:
    """The highest level the rolling mean stayed above for `width` seconds (what `for:` asks)."""
    best = 0.0
    for t, _ in means:
        held = [m for s, m in means if t - width <= s <= t]
        if means and t - means[0][0] >= width:
            best = max(best, min(held))
    return best


def _samples(run: Path, pick: Any) -> list[tuple[float, float]]:
    rows = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines() if line.strip()]
    return sorted((row["t"], pick(row)) for row in rows if pick(row) is not None)


@pytest.mark.parametrize(
    ("alertname", "threshold"), [("HostCpuAboveTarget", THRESHOLDS.cpu_target), ("HostCpuHigh", THRESHOLDS.cpu_alert)]
)
def test_host_cpu_alerts_match_the_host_samples(
    faults_run: Path, fired: list[dict[str, str]], alertname: str, threshold: float
) -> None:
    means = _rolling(_samples(faults_run, lambda r: r["host"]["cpu"]), WINDOW_S)
    sustained, peak = _sustained(means, WINDOW_S), max(m for _, m in means)
    did_fire = alertname in _names(fired)
    if sustained > threshold + MARGIN:
        assert did_fire, f"host CPU held {sustained:.0%} for a minute but {alertname} did not fire"
    if peak < threshold - MARGIN:
        assert not did_fire, f"host CPU never above {peak:.0%} yet {alertname} fired"


def test_cpu_burn_knob_loaded_the_bot(faults_run: Path) -> None:
    bot = _rolling(_samples(faults_run, lambda r: r["procs"].get("bot", {}).get("cpu")), 20)
    assert max(m for _, m in bot) > 0.4, "the engine's CPU cost should keep the bot's core busy in the spike"


def test_alertmanager_delivers_to_the_expected_receivers(faults_run: Path, fired: list[dict[str, str]]) -> None:
    notifications = read_notifications(faults_run / "notifications.jsonl")
    routed = {(n["receiver"], a["labels"]["alertname"]) for n in notifications for a in n["alerts"]}
    assert routed >= EXPECTED_ROUTED, f"missing: {sorted(EXPECTED_ROUTED - routed)}"
    assert not {name for _, name in routed} & EXPECTED_INHIBITED, "an inhibited alert was delivered"
    assert {name for _, name in routed} <= _names(fired), "Alertmanager delivered an alert Prometheus never fired"
    for notification in notifications:
        for alert in notification["alerts"]:
            labels = alert["labels"]
            policy = {"critical": "page", "warning": "ticket"}[labels["severity"]]
            allowed = {policy, "security"} if labels.get("category") == "security" else {policy}
            assert notification["receiver"] in allowed, f"{labels} went to {notification['receiver']}"


def test_delivered_alerts_carry_values_and_runbooks(faults_run: Path) -> None:
    notifications = read_notifications(faults_run / "notifications.jsonl")
    firing = [a for n in notifications for a in n["alerts"] if a["status"] == "firing"]
    assert firing
    for alert in firing:
        annotations = alert["annotations"]
        assert "{{" not in annotations["summary"] + annotations["description"], annotations
        assert annotations["runbook_url"].endswith(f"runbooks/{alert['labels']['alertname']}.md")
        if alert["labels"]["alertname"] not in ("StreamDisconnected", "ChatbotMetricsAbsent"):
            assert re.search(r"\d", annotations["description"]), annotations["description"]

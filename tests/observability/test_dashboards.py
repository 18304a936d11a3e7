"""Grafana dashboards: generated from the contract, structurally sound, provisioned, and pushed to a
Grafana API (a local endpoint that checks requests as Grafana documents them)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from harness.core import assets
from harness.core.contract import THRESHOLDS
from harness.observability import grafana
from harness.observability.grafana.checks import promql, structure_problems
from harness.observability.grafana.model import queries
from tests.observability.grafana_stub import GrafanaStub, RunningStub

pytestmark = pytest.mark.integration

BOARDS = grafana.load_dashboards()


def test_committed_dashboards_are_what_the_generator_writes() -> None:
    for path, text in grafana.dashboard_files().items():
        assert path.exists() and path.read_text() == text, f"{path} stale: run `harness dashboards generate`"
    assert {b["uid"] for b in BOARDS} == {
        "chatbot-overview",
        "chatbot-message-flow",
        "chatbot-stream",
        "chatbot-loadgen",
    }


def test_structure() -> None:
    assert structure_problems(BOARDS) == []


def test_structure_check_catches_problems() -> None:
    broken = yaml.safe_load(yaml.safe_dump(BOARDS[0]))
    panel = next(p for p in broken["panels"] if p["type"] != "row")
    panel["targets"][0]["expr"] = "rate(x[$__unknown])"
    panel["gridPos"]["x"] = 24 - panel["gridPos"]["w"] + 1
    problems = structure_problems([broken, broken])
    assert any("uids not unique" in p for p in problems)
    assert any("unsubstituted variable" in p for p in problems)
    assert any("wider than" in p for p in problems)


def _lines(board: dict, title: str) -> list[float]:
    panel = next(p for p in board["panels"] if p["title"] == title)
    return [s["value"] for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"] if s["value"] is not None]


def test_threshold_lines_come_from_the_contract() -> None:
    overview = next(b for b in BOARDS if b["uid"] == "chatbot-overview")
    assert _lines(overview, "Host CPU") == [THRESHOLDS.cpu_target, THRESHOLDS.cpu_alert]
    assert _lines(overview, "Host memory") == [THRESHOLDS.memory_target]
    assert _lines(overview, "Processing latency percentiles") == [THRESHOLDS.p99_latency_seconds]
    assert _lines(overview, "Backlog") == [THRESHOLDS.backlog_alert]


def test_every_dashboard_has_the_simulated_time_variable_and_clock() -> None:
    for board in BOARDS:
        names = [v["name"] for v in board["templating"]["list"]]
        assert {"datasource", "job", "sim_now"} <= set(names), board["uid"]
        assert any(p["title"] == "Simulated clock" for p in board["panels"]), board["uid"]


def test_queries_become_plain_promql() -> None:
    assert promql('rate(x{job=~"$job"}[$__rate_interval])') == 'rate(x{job=~".*"}[1m])'
    assert promql("label_values(chatbot_build_info, job)") == "chatbot_build_info"
    assert promql("query_result(max(y))") == "max(y)"
    for board in BOARDS:
        for _, expr in queries(board):
            assert "$" not in promql(expr)


def test_provisioning_points_at_the_dashboards() -> None:
    datasources = yaml.safe_load((assets.grafana_dir() / "provisioning/datasources/prometheus.yml").read_text())
    assert datasources["datasources"][0]["type"] == "prometheus"
    providers = yaml.safe_load((assets.grafana_dir() / "provisioning/dashboards/chatbot.yml").read_text())
    assert providers["providers"][0]["type"] == "file"
    assert providers["providers"][0]["folder"]


def _push(url: str, *extra: str, token: str = "s3cret-token") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", "dashboards", "push", "--url", url, *extra],
        capture_output=True,
        text=True,
        timeout=60,
        env={"GRAFANA_TOKEN": token, "PATH": ""},
    )


def test_push_creates_the_folder_and_overwrites_dashboards() -> None:
    stub = GrafanaStub(token="s3cret-token")
    with RunningStub(stub) as server:
        first = _push(server.url, "--folder", "SRE / Chatbots")
        second = _push(server.url, "--folder", "SRE / Chatbots")
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert stub.problems == []
    assert [f["title"] for f in stub.folders] == ["SRE / Chatbots"]  # created once, then found
    assert stub.folders[0]["uid"] == "sre-chatbots"
    assert set(stub.dashboards) == {b["uid"] for b in BOARDS}
    for saved in stub.dashboards.values():
        assert saved["overwrite"] is True and saved["folderUid"] == "sre-chatbots"
        assert saved["version"] == 2  # the second push overwrote the first
    assert stub.requests.count(("POST", "/api/folders")) == 1
    assert "s3cret-token" not in first.stdout + first.stderr
    assert "pushed 'Chatbot / Overview' to folder 'SRE / Chatbots'" in first.stdout


def test_push_reports_a_rejected_token_without_leaking_it() -> None:
    stub = GrafanaStub(token="right")
    with RunningStub(stub) as server:
        result = _push(server.url, token="wrong-token-value")
    assert result.returncode == 4
    assert "push to" in result.stderr and "wrong-token-value" not in result.stderr + result.stdout
    assert stub.dashboards == {}


def test_push_without_a_token_is_a_usage_error() -> None:
    result = _push("http://127.0.0.1:9", token="")
    assert result.returncode == 2 and "GRAFANA_TOKEN" in result.stderr


@pytest.mark.parametrize("board", BOARDS, ids=lambda b: b["uid"])
def test_panels_have_titles_units_and_queries(board: dict) -> None:
    for panel in board["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["title"] and panel["targets"], panel
        assert panel["fieldConfig"]["defaults"]["unit"]

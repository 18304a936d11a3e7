"""report.html in real headless chromium, plus report.md and junit.xml as their consumers read them."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.analysis.report.builder import build_report
from harness.bench.synthetic import SyntheticRun, write_run
from tests.reports.browser import CHROMIUM, open_page
from tests.tools import needs_tool

pytestmark = pytest.mark.integration

FAULTY = SyntheticRun(
    slow_peak_days=(1,),
    backlog_days=(3,),
    cpu_overload_days=(3,),
    overrun_alert_days=(4,),
    lost={"not_acked": 3},
    api_errors={("card_streaming", 429, "Throttled"): 50},
    manifest_extra={
        "env": {"BOT_CLIENT_SECRET": "hunter2-secret"},
        "command": "python -m reference_bot --client-secret hunter2-secret",
    },
)


@pytest.fixture(scope="module")
def faulty_report(tmp_path_factory: pytest.TempPathFactory):
    return build_report(write_run(tmp_path_factory.mktemp("report") / "run", FAULTY))


@needs_tool(CHROMIUM)
def test_html_renders_in_chromium_without_errors_and_shows_the_verdicts(faulty_report, tmp_path: Path) -> None:
    page = open_page(
        faulty_report.html_path,
        {
            "verdict": "document.getElementById('verdict').textContent",
            "rows": "Array.from(document.querySelectorAll('tr.sla')).map(r => [r.dataset.sla, r.querySelector('.pill')"
            ".textContent])",
            "charts": "Array.from(document.images).map(i => [i.alt, i.complete && i.naturalWidth > 0])",
            "external": "Array.from(document.querySelectorAll('[src],[href]')).map(e => e.src || e.href)"
            ".filter(u => !u.startsWith('data:') && !u.startsWith('file:'))",
            "text": "document.body.innerText",
            "alert_rows": "Array.from(document.querySelectorAll('#alert-table tr')).map(r => r.innerText)",
        },
    )
    (tmp_path / "report.png").write_bytes(page.screenshot_png)
    assert page.console_errors == [] and page.exceptions == []
    assert page.values["verdict"].startswith("FAIL")
    rows = dict(page.values["rows"])
    assert rows["p99_peak_day1"] == "fail" and rows["p99_peak_day0"] == "pass" and rows["cpu"] == "fail"
    assert len(rows) == 13
    charts = dict(page.values["charts"])
    expected = {
        "Load: offered vs achieved",
        "Reply latency over the run",
        "Peak windows zoomed",
        "Errors by status code",
        "Backlog vs the alert line",
        "The bot's CPU and memory (what the SLAs judge)",
        "The host's CPU and memory",
        "Alert timeline",
        "Message fates (ledger)",
    }
    assert set(charts) == expected and all(charts.values()), charts  # every chart decoded and drawn
    assert page.values["external"] == []  # self-contained: nothing fetched from anywhere
    # Friday's HostCpuHigh resolved in the fast-forward: 5 played minutes, marked and explained
    [overrun] = [r for r in page.values["alert_rows"] if r.startswith("HostCpuHigh")]
    assert "Fri 10:25" in overrun and "Fri 15:30" in overrun and "5m00s\u2020" in overrun, overrun
    assert "\u2020 Crossed a fast-forward" in page.values["text"]
    assert "hunter2" not in page.values["text"] and "hunter2" not in faulty_report.html_path.read_text()
    assert len(page.screenshot_png) > 50_000


def test_markdown_and_junit_carry_every_sla(faulty_report) -> None:
    md = faulty_report.md_path.read_text()
    assert md.startswith("# SLA report: run - **FAIL**")
    [tuesday] = [line for line in md.splitlines() if line.startswith("| P99 reply latency, peak Tue")]
    assert tuesday.endswith("| **FAIL** |") and "| < 500 ms |" in tuesday
    assert "ChatbotCpuHigh" in md and "hunter2" not in md
    suite = ET.parse(faulty_report.junit_path).getroot().find("testsuite")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert len(cases) == int(suite.get("tests")) == 13
    failed = {name for name, c in cases.items() if c.find("failure") is not None}
    assert failed == {"p99_overall", "p99_peak_day1", "cpu", "message_loss"}
    assert suite.get("failures") == "4"
    assert "< 500 ms" in cases["p99_peak_day1"].find("failure").get("message")


def test_incomplete_run_renders_and_lists_what_is_missing(tmp_path: Path) -> None:
    spec = SyntheticRun(status="running", omit=("samples.jsonl", "alerts.jsonl", "ledger.json", "ledger.jsonl"))
    report = build_report(write_run(tmp_path / "run", spec))
    html = report.html_path.read_text()
    assert "INCOMPLETE" in html and "samples.jsonl is missing" in html and "No data in this run" in html
    suite = ET.parse(report.junit_path).getroot().find("testsuite")
    assert int(suite.get("errors")) == 4  # cpu, memory, message loss, refused calls have no data

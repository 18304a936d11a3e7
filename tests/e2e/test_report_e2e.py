"""Report, diagnosis and profiling on real runs.

- `week_run` (the compressed default week with a login-abuse window on Wednesday and injected 429s on
  card streaming on Thursday): the report renders in chromium, and each injected fault has its finding.
- A clean run of the real reference bot with its engine's CPU-cost knob up: no findings, and py-spy
  attached to the bot mid-run finds `simulate_token_compute` as the top hot function, in the report.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.analysis.report.builder import analyse
from harness.profiling import pyspy
from tests.e2e.runs_week import ROOT
from tests.reports.browser import CHROMIUM, open_page
from tests.tools import needs_pyspy_attach, needs_tool

pytestmark = [pytest.mark.e2e, pytest.mark.solo]

CLEAN_HOT = """
name = "clean-hot"
description = "A clean short run; the engine burns CPU per token so that profiling has a clear answer"

[target.engine]
cpu_ms_per_token = 4
first_token_seconds = 0.02
tokens_per_second = 1000
reply_tokens = 20

[shape]
kind = "smoke"
users = 4
duration_s = 25
start = "Mon 10:00"

[load]
messages_per_user_per_minute = 60
reply_timeout_s = 10
window_s = 2

[mix]
smoke_interval_s = 5

[sla]
p99_latency_seconds = 3.0
"""


def _wait_for(predicate, what: str, proc: subprocess.Popen, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc.poll() is not None:
            pytest.fail(f"harness run ended before {what}: {proc.stdout.read()[-3000:] if proc.stdout else ''}")
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def _bot_pid(runs: Path) -> int | None:
    for manifest in runs.glob("*/manifest.json"):
        try:
            bot = json.loads(manifest.read_text())["components"].get("bot") or {}
        except (ValueError, KeyError):
            continue  # being rewritten
        if bot.get("pid"):
            return int(bot["pid"])
    return None


@pytest.fixture(scope="module")
def clean_profiled_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, pyspy.ProfileResult]]:
    work = tmp_path_factory.mktemp("clean-run")
    (work / "scenario.toml").write_text(CLEAN_HOT)
    runs = work / "runs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", str(work / "scenario.toml"), "--runs-dir", str(runs)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        pid = _wait_for(lambda: _bot_pid(runs), "the bot's pid in manifest.json", proc)
        run_dir = next(runs.glob("*/manifest.json")).parent
        _wait_for(
            lambda: (run_dir / "windows.jsonl").exists() and (run_dir / "windows.jsonl").stat().st_size,
            "the first load window",
            proc,
        )
        result = pyspy.record(pid, run_dir / "profiles" / "mon-1000", duration=6).wait(timeout=120)
        out, _ = proc.communicate(timeout=240)
        assert proc.returncode in (0, 1), out[-3000:]
        yield run_dir, result
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(30)


@needs_pyspy_attach()
def test_clean_run_has_no_findings_and_the_engine_knob_is_the_top_hot_function(clean_profiled_run) -> None:
    run_dir, result = clean_profiled_run
    assert result.mode == "attached" and result.samples > 50
    top = result.hot[0]
    assert top["function"].startswith("simulate_token_compute (") and "engine.py" in top["function"], result.hot[:5]
    report = json.loads((run_dir / "report.json").read_text())
    assert report["findings"] == [], report["findings"]
    assert report["verdict"] == "PASS", report["summary"]
    [profile] = report["profiles"]
    assert profile["hot"][0]["function"] == top["function"] and profile["mode"] == "attached"
    assert (run_dir / profile["files"]["svg"]).exists()


@needs_tool(CHROMIUM)
def test_week_report_renders_in_chromium(week_run: Path) -> None:
    page = open_page(
        week_run / "report.html",
        {
            "verdict": "document.getElementById('verdict').textContent",
            "slas": "document.querySelectorAll('tr.sla').length",
            "broken_images": "Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).length",
        },
    )
    assert page.console_errors == [] and page.exceptions == []
    report = json.loads((week_run / "report.json").read_text())
    assert page.values["verdict"].startswith(report["verdict"])
    assert (
        page.values["slas"] == len(report["slas"]) == 13
    )  # overall, 7 peaks, availability, CPU, memory, loss, refusals
    assert page.values["broken_images"] == 0


def test_week_faults_each_produce_their_finding(week_run: Path) -> None:
    findings = {f.id: f.as_dict() for f in analyse(week_run).data.findings}
    abuse = findings["security.login_abuse"]
    assert "(Wed 09:" in abuse["evidence"][0]["text"]  # the scenario's abuse window
    throttled = findings["api.qps.card_streaming"]
    assert "injected by the run's scenario (Thu 09:40" in throttled["cause"]
    assert throttled["runbook"] == "runbooks/429.md"
    expected = ("security.", "api.qps.card_streaming", "loss.", "slowness.")  # the faults and their consequences
    assert not {k for k in findings if not k.startswith(expected)}, list(findings)


def test_every_injected_fault_has_its_finding(faults_run: Path) -> None:
    findings = {f.id: f.as_dict() for f in analyse(faults_run).data.findings}
    text = {k: json.dumps(f) for k, f in findings.items()}
    assert "injected by the run's scenario (Tue 10:00" in findings["api.401.card_streaming"]["cause"]
    forbidden = findings["api.403.card_create"]["cause"]
    assert "injected by the run's scenario" in forbidden and "Card.Instance.Write" in forbidden
    rate_limited = findings["api.qps.card_streaming"]  # from qps_limits: a real limit, not an injected error
    assert rate_limited["cause"].startswith("the bot exceeded the platform's per-app per-API QPS limit")
    # Both forms of the limit, 429 and then (qps_mode fault) DingTalk's 403, make one rate-limit finding ...
    assert "HTTP 429" in text["api.qps.card_streaming"]
    assert "HTTP 403 Forbidden.AccessDenied.QpsLimitForAppkeyAndApi" in text["api.qps.card_streaming"]
    assert "429 Throttling and 403 QpsLimit" in rate_limited["title"]
    assert "api.403.card_streaming" not in findings  # ... and never a permission finding
    lost = findings["loss.not_acked"]  # pushes dropped on the way by the push_drop_ratio fault
    assert "never ACKed" in lost["title"] and "pushes dropped on the way to the bot" in text["loss.not_acked"]
    assert lost["cause"].startswith("faults injected by the run's scenario")
    slow = findings["slowness.p99"]
    assert "the bot is CPU-bound" in slow["cause"] or "inbound buffer" in slow["cause"], slow["cause"]
    assert "(Tue 10:0" in findings["security.login_abuse"]["evidence"][0]["text"]
    report = json.loads((faults_run / "report.json").read_text())
    assert report["verdict"] == "FAIL" or (report["verdict"] == "INCONCLUSIVE" and not report["rig"]["held"])
    assert {f["id"] for f in report["findings"]} >= set(findings) - {"loss.no_reply"}


@needs_pyspy_attach()
def test_week_profiling_windows_reach_the_report(week_run: Path) -> None:
    report = json.loads((week_run / "report.json").read_text())
    windows = [(p["window"], p["component"], p["mode"]) for p in report["profiles"]]
    assert windows == [("Tue-0945", "bot", "attached"), ("Fri-0945", "bot", "attached")]
    for p in report["profiles"]:
        assert p["samples"] > 0 and p["hot"] and (week_run / p["files"]["svg"]).exists()
    [window_diff] = report["profile_diffs"]
    assert (window_diff["before"], window_diff["after"]) == ("Tue-0945", "Fri-0945")
    assert "What got hotter: bot, Tue-0945" in (week_run / "report.html").read_text()

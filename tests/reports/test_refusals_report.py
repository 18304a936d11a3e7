"""Refused open-API calls in the report: the refused-calls SLA, the "Open-API refusals" table in every
format, and the scenario's own faults not held against the bot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.analysis.report.builder import build_report
from harness.analysis.report.model import Verdict
from harness.bench.synthetic import SyntheticRun, write_run
from harness.core.contract import ExitCode

pytestmark = pytest.mark.integration

UNKNOWN_ROUTE = ("unknown", "POST", "/v1.0/robot/unheardOf", 404, "InvalidAction.NotFound", "bot")
FINISH_AFTER_FINALIZE = ("card_create", "PUT", "/v1.0/card/instances", 404, "InvalidParameter.OutTrackId", "bot")


def _sla(report, sla_id: str):
    return next(s for s in report.data.slas if s.id == sla_id)


def test_refusals_the_bot_got_fail_the_run_and_are_named_everywhere(tmp_path: Path) -> None:
    spec = SyntheticRun(
        refusals={UNKNOWN_ROUTE: 7, FINISH_AFTER_FINALIZE: 30},
        api_errors={("card_streaming", 429, "Throttling"): 50},  # injected by the scenario
    )
    report = build_report(write_run(tmp_path / "run", spec))
    assert (report.verdict, report.exit_code) == (Verdict.FAIL, ExitCode.SLA_BREACHED)
    sla = _sla(report, "refused_calls")
    assert (sla.status, sla.value, sla.threshold) == ("fail", 37.0, 0)
    assert "50 injected by the scenario's faults" in sla.detail
    rows = report.data.refusals
    assert rows is not None and [r.cause for r in rows] == ["bot", "bot", "injected"]  # the bot's first
    assert (rows[0].route, rows[0].count, rows[0].status) == ("/v1.0/card/instances", 30, 404)
    assert rows[0].first_sim is not None and rows[0].first_sim <= (rows[0].last_sim or 0)
    summary = " ".join(report.data.summary)
    assert "The platform refused 37 of the bot's calls" in summary and "InvalidParameter.OutTrackId x30" in summary

    md = report.md_path.read_text()
    table = md.split("## Open-API refusals", 1)[1].split("##", 1)[0]
    assert "| card_create | `PUT /v1.0/card/instances` | 404 | InvalidParameter.OutTrackId | **bot** | 30 |" in table
    assert "| unknown | `POST /v1.0/robot/unheardOf` | 404 | InvalidAction.NotFound | **bot** | 7 |" in table
    assert "| card_streaming | `PUT /v1.0/card/streaming` | 429 | Throttling | injected | 50 |" in table
    assert "| Open-API calls refused | 37 | ≤ 0 |" in md and "**FAIL**" in md
    html = report.html_path.read_text()
    assert html.count('class="refusal" data-cause="bot"') == 2 and "/v1.0/robot/unheardOf" in html
    on_disk = json.loads(report.json_path.read_text())
    assert {r["code"] for r in on_disk["refusals"]} == {
        "InvalidAction.NotFound",
        "InvalidParameter.OutTrackId",
        "Throttling",
    }


def test_injected_refusals_alone_keep_the_run_passing(tmp_path: Path) -> None:
    report = build_report(
        write_run(tmp_path / "run", SyntheticRun(api_errors={("card_streaming", 429, "Throttling"): 50}))
    )
    assert report.verdict is Verdict.PASS
    assert (_sla(report, "refused_calls").value, _sla(report, "refused_calls").status) == (0.0, "pass")


def test_the_scenario_may_allow_some_refusals(tmp_path: Path) -> None:
    spec = SyntheticRun(refusals={UNKNOWN_ROUTE: 7}, thresholds={"refused_calls": 10})
    report = build_report(write_run(tmp_path / "run", spec))
    assert report.verdict is Verdict.PASS and _sla(report, "refused_calls").margin == 3


def test_a_clean_run_says_nothing_was_refused(tmp_path: Path) -> None:
    report = build_report(write_run(tmp_path / "run"))
    assert report.data.refusals == [] and _sla(report, "refused_calls").status == "pass"
    assert "The platform refused no call." in report.md_path.read_text()


def test_a_ledger_without_refusal_counts_cannot_judge_them(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run")
    ledger = json.loads((run / "ledger.json").read_text())
    del ledger["refusals"]
    (run / "ledger.json").write_text(json.dumps(ledger))
    report = build_report(run)
    assert report.data.refusals is None and _sla(report, "refused_calls").status == "no_data"
    assert report.verdict is Verdict.INCOMPLETE
    assert "does not count refused calls" in report.md_path.read_text()

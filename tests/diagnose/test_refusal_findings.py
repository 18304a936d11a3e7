"""A finding for every kind of refused call, from what the platform saw; a bot log that is not in the
optional format adds nothing and is never read as evidence of what the bot did."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest

from harness.analysis.diagnose.model import Finding
from harness.analysis.report.builder import analyse, build_report
from harness.analysis.report.model import Verdict
from harness.bench.synthetic import SyntheticRun, write_run
from harness.core import assets
from tests.platform.helpers import server

pytestmark = pytest.mark.integration


def _findings(tmp_path: Path, spec: SyntheticRun) -> dict[str, Finding]:
    return {f.id: f for f in analyse(write_run(tmp_path / "run", spec)).data.findings}


def _evidence(finding: Finding) -> str:
    return " | ".join(e.text for e in finding.evidence)


@pytest.mark.parametrize(
    ("refusal", "finding_id", "runbook"),
    [
        (
            ("robot_send", "POST", "/v1.0/robot/oToMessages/batchSend", 400, "MissingParameter"),
            "refused.400.robot_send",
            "400.md",
        ),
        (
            ("session_webhook", "POST", "/robot/sendBySession", 413, "PayloadTooLarge"),
            "refused.400.session_webhook",
            "400.md",
        ),
        (("unknown", "GET", "/v1.0/im/nothing", 404, "InvalidAction.NotFound"), "refused.404-route.unknown", "404.md"),
        (
            ("card_create", "PUT", "/v1.0/card/instances", 404, "InvalidParameter.OutTrackId"),
            "refused.404.card_create",
            "404.md",
        ),
        (
            ("card_streaming", "POST", "/v1.0/card/streaming", 405, "InvalidAction.MethodNotAllowed"),
            "refused.405.card_streaming",
            "405.md",
        ),
        (
            ("card_create", "POST", "/v1.0/card/instances", 409, "Conflict.OutTrackId"),
            "refused.409.card_create",
            "409.md",
        ),
        (
            ("robot_send", "POST", "/v1.0/robot/groupMessages/send", 500, "InternalError"),
            "refused.5xx.robot_send",
            "5xx.md",
        ),
        (("access_token", "GET", "/gettoken", 200, "40089"), "refused.errcode.access_token", "errcode.md"),
        (("stream", "GET", "/connect", 401, "InvalidTicket"), "refused.401.stream", "401.md"),
    ],
)
def test_every_refusal_kind_has_a_finding_and_a_runbook(tmp_path: Path, refusal: tuple, finding_id: str, runbook: str):
    found = _findings(tmp_path, SyntheticRun(refusals={(*refusal, "bot"): 6}))
    assert list(found) == [finding_id]
    finding = found[finding_id]
    assert finding.severity == "critical" and finding.runbook == f"runbooks/{runbook}"
    assert (assets.runbooks_dir() / runbook).exists()
    method, route, status, code = refusal[1:]
    assert f"{method} {route} answered HTTP {status} {code} × 6" in _evidence(finding)


def test_what_other_findings_explain_or_the_bot_did_not_cause_is_not_repeated(tmp_path: Path):
    found = _findings(
        tmp_path,
        SyntheticRun(
            api_errors_cause="bot",
            api_errors={("robot_send", 401, "InvalidAuthentication"): 5},  # the 401 finding covers it
            refusals={
                ("unknown", "GET", "/v1.0/x", 404, "InvalidAction.NotFound", "injected"): 3,
                ("user", "GET", "/user", 400, "MissingParameter", "harness"): 2,
            },
        ),
    )
    assert list(found) == ["api.401.robot_send"]


def test_a_bot_log_outside_the_format_is_no_evidence(tmp_path: Path):
    run = write_run(
        tmp_path / "run",
        SyntheticRun(lost={"no_reply": 2}, api_errors={("card_streaming", 429, "Throttling"): 40}, bot_log=False),
    )
    (run / "logs").mkdir(exist_ok=True)
    (run / "logs" / "bot.log").write_text(
        "INFO starting\nreceived a message\nWARNING unknown message topic, topic=ping\n"
    )
    data = analyse(run).data
    found = {f.id: f for f in data.findings}
    for finding in found.values():
        text = _evidence(finding) + finding.what + finding.cause
        assert "never saw" not in text and "logged receiving" not in text and "gave up" not in text
        assert "not in the optional JSON-lines format" in _evidence(finding)
    assert any("not in the optional JSON-lines format" in w for w in data.warnings)


def test_an_unknown_route_is_counted_reported_and_diagnosed(tmp_path: Path):
    """The emulator counts a call to a route it does not serve; the run folder's ledger and refusals.jsonl
    carry it; the report fails the run and names it; the diagnosis has its finding."""
    run = write_run(tmp_path / "run")

    async def call_unknown_route() -> dict:
        srv = server()
        srv = type(srv)(srv.settings, clock=srv.clock, refusals_file=run / "refusals.jsonl")
        async with srv, aiohttp.ClientSession() as http:
            for _ in range(3):
                async with http.post(f"{srv.url}/v1.0/robot/interactiveCards/sendNowhere", json={}) as r:
                    assert r.status == 404
            return srv.summary()

    summary = asyncio.run(call_unknown_route())
    ledger = json.loads((run / "ledger.json").read_text())
    ledger["refusals"] = summary["refusals"]
    (run / "ledger.json").write_text(json.dumps(ledger))

    report = build_report(run)
    assert report.verdict is Verdict.FAIL
    assert [s.id for s in report.data.judgement.breached] == ["refused_calls"]
    md, html = report.md_path.read_text(), report.html_path.read_text()
    row = "| unknown | `POST /v1.0/robot/interactiveCards/sendNowhere` | 404 | InvalidAction.NotFound | **bot** | 3 |"
    assert row in md and "/v1.0/robot/interactiveCards/sendNowhere" in html
    [finding] = report.data.findings
    assert finding.id == "refused.404-route.unknown" and finding.runbook == "runbooks/404.md"
    assert "3 × calls to routes the platform does not serve" in finding.title
    assert "## Diagnosis" in md and finding.title in md and finding.title in html

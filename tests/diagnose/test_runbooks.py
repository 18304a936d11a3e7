"""Runbooks as code on synthetic run folders: a clean run has no findings, each fault its finding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.analysis.diagnose.model import Finding
from harness.analysis.report.builder import analyse, build_report
from harness.bench.synthetic import SyntheticRun, write_run
from harness.cli.main import main
from harness.core.contract import ExitCode

pytestmark = pytest.mark.unit


def _findings(tmp_path: Path, spec: SyntheticRun) -> dict[str, Finding]:
    return {f.id: f for f in analyse(write_run(tmp_path / "run", spec)).data.findings}


def _evidence(finding: Finding) -> str:
    return " | ".join(e.text for e in finding.evidence)


def test_clean_run_has_no_findings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = write_run(tmp_path / "run")
    assert analyse(run).data.findings == []
    assert main(["diagnose", str(run)]) == ExitCode.OK
    assert "no findings" in capsys.readouterr().out


def test_loss_by_stage_is_cross_checked_with_the_bot_log(tmp_path: Path) -> None:
    found = _findings(tmp_path, SyntheticRun(lost={"not_acked": 5, "no_reply": 3}))
    assert set(found) == {"loss.not_acked", "loss.no_reply"}
    not_acked = found["loss.not_acked"]
    assert not_acked.severity == "critical" and not_acked.runbook == "runbooks/message-loss.md"
    assert "5 messages pushed but never ACKed" in _evidence(not_acked)
    assert "refused 5 frames because its inbound buffer was full" in _evidence(not_acked)
    # queue-rejected messages never reached the handler
    assert "5 do not appear in its log as received" in _evidence(not_acked)
    no_reply = _evidence(found["loss.no_reply"])
    assert "3 replies failed in the bot" in no_reply and "the bot logged receiving 3" in no_reply


def test_late_replies_are_their_own_finding_apart_from_failed_ones(tmp_path: Path) -> None:
    """5 messages lost at no_reply: 3 the bot answered after the timeout (logged reply_sent, no failure),
    2 it failed (reply_failed). Two findings, each counting only its own messages."""
    found = _findings(tmp_path, SyntheticRun(lost={"no_reply": 5}, late={"no_reply": 3}))
    assert set(found) == {"loss.no_reply", "loss.late_reply"}
    late = found["loss.late_reply"]
    assert (
        late.title == "3 messages answered after the 60 s reply timeout" and late.runbook == "runbooks/late-replies.md"
    )
    assert "too slowly" in late.cause and "failed" not in late.title
    assert "the bot logged a reply for 3 of 5 sampled lost messages" in _evidence(late)
    no_reply = found["loss.no_reply"]
    assert no_reply.title == "2 messages lost: ACKed but never answered"
    assert "3 more lost at this stage were answered after the timeout" in _evidence(no_reply)


def test_only_late_replies_make_no_failure_finding(tmp_path: Path) -> None:
    """Every lost message was answered late: the spike-run case of the issue, once blamed on handler
    errors. Only the late finding, and it says the bot's failures do not explain it."""
    found = _findings(tmp_path, SyntheticRun(lost={"no_reply": 4}, late={"no_reply": 4}))
    assert list(found) == ["loss.late_reply"]
    assert "the bot logged 0 reply failures" in _evidence(found["loss.late_reply"])


def test_a_stage_without_any_failure_in_the_bot_log_says_so(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", SyntheticRun(lost={"no_reply": 2}))
    log = run / "logs" / "bot.log"
    log.write_text("".join(line + "\n" for line in log.read_text().splitlines() if "reply_failed" not in line))
    finding = {f.id: f for f in analyse(run).data.findings}["loss.no_reply"]
    assert finding.cause.startswith("no failure in the bot's log explains it")


def test_injected_push_drops_are_named_as_the_cause(tmp_path: Path) -> None:
    finding = _findings(tmp_path, SyntheticRun(lost={"not_acked": 4}, faults_applied={"push_dropped": 9}))[
        "loss.not_acked"
    ]
    assert finding.cause.startswith("faults injected by the run's scenario")
    assert "applied an injected fault 9 times: pushes dropped on the way to the bot" in _evidence(finding)


@pytest.mark.parametrize(
    ("error", "finding_id", "words"),
    [
        (("card_streaming", 429, "Throttling"), "api.qps.card_streaming", "giving up 2 times"),
        (
            ("card_streaming", 403, "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi"),
            "api.qps.card_streaming",
            "403 QpsLimit",
        ),
        (
            ("card_create", 403, "Forbidden.AccessDenied.AccessTokenPermissionDenied"),
            "api.403.card_create",
            "Card.Instance.Write",
        ),
        (("robot_send", 401, "InvalidAuthentication"), "api.401.robot_send", "expired access token"),
    ],
)
def test_api_errors_by_api_and_cause(tmp_path: Path, error: tuple, finding_id: str, words: str) -> None:
    found = _findings(tmp_path, SyntheticRun(api_errors={error: 40}))
    assert list(found) == [finding_id]
    finding = found[finding_id]
    assert words in json.dumps(finding.as_dict())
    assert f"HTTP {error[1]} {error[2]} × 40" in _evidence(finding)
    assert (
        finding.runbook
        == {"api.qps": "runbooks/429.md", "api.403": "runbooks/403.md", "api.401": "runbooks/401.md"}[
            finding_id.rsplit(".", 1)[0]
        ]
    )


def test_slowness_names_the_saturated_resource_and_the_trend(tmp_path: Path) -> None:
    found = _findings(tmp_path, SyntheticRun(slow_peak_days=(3,), cpu_overload_days=(3,), backlog_days=(3,)))
    slow = found["slowness.p99"]
    assert "the bot is CPU-bound (97% of a core)" in slow.cause
    assert "inbound buffer" in slow.cause
    evidence = _evidence(slow)
    assert "peak Thu 09:30-10:30" in evidence and "backlog peaked at 180 at Thu" in evidence
    assert "P99 vs offered load: r = " in evidence and "(one per simulated hour)" in evidence


def test_slowness_without_a_saturated_resource_says_so(tmp_path: Path) -> None:
    slow = _findings(tmp_path, SyntheticRun(slow_peak_days=(1,)))["slowness.p99"]
    assert slow.cause.startswith("no saturated resource")


def test_login_abuse_burst(tmp_path: Path) -> None:
    found = _findings(tmp_path, SyntheticRun(login_abuse_days=(2,)))
    assert list(found) == ["security.login_abuse"]
    assert "40 failed admin logins (Wed 09:30 to Wed 10:" in _evidence(found["security.login_abuse"])


def test_findings_are_part_of_the_report_and_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = write_run(tmp_path / "run", SyntheticRun(lost={"no_reply": 2}))
    report = build_report(run)
    assert "## Diagnosis" in report.md_path.read_text()
    assert 'id="diagnosis"' in report.html_path.read_text()
    assert any(line.startswith("Diagnosis: 1 finding(s)") for line in report.data.summary)
    assert main(["diagnose", str(run), "--json"]) == ExitCode.SLA_BREACHED
    assert [f["id"] for f in json.loads(capsys.readouterr().out)] == ["loss.no_reply"]
    assert main(["diagnose", str(tmp_path)]) == ExitCode.USAGE


def test_missing_bot_log_is_said_not_guessed(tmp_path: Path) -> None:
    found = _findings(tmp_path, SyntheticRun(lost={"not_acked": 1}, bot_log=False))
    assert "the bot log is missing" in _evidence(found["loss.not_acked"])


def test_damaged_bot_log_lines_are_counted_not_dropped(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", SyntheticRun(days=1))
    log = run / "logs" / "bot.log"
    good = sum(1 for line in log.read_text().splitlines() if line.strip())
    with log.open("a") as handle:
        handle.write('["not", "an object"]\n\n{"ts": "2026-11-25T10:00:00+00:00", "ev')  # a torn last line
    warnings = analyse(run).data.warnings
    assert f"logs/bot.log: 2 of {good + 2} lines are not JSON objects" in warnings, warnings


def test_both_qps_forms_on_one_api_make_one_rate_limit_finding(tmp_path: Path) -> None:
    found = _findings(
        tmp_path,
        SyntheticRun(
            api_errors={
                ("card_streaming", 429, "Throttling"): 30,
                ("card_streaming", 403, "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi"): 12,
            }
        ),
    )
    assert list(found) == ["api.qps.card_streaming"]  # a QpsLimit 403 is not a permission problem
    evidence = _evidence(found["api.qps.card_streaming"])
    assert "HTTP 429 Throttling × 30" in evidence
    assert "HTTP 403 Forbidden.AccessDenied.QpsLimitForAppkeyAndApi × 12" in evidence

"""build_report on synthetic run folders: verdicts, exit codes, incomplete runs, overrides, baselines."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from hdrh.histogram import HdrHistogram

from harness.analysis.report.builder import build_report
from harness.analysis.report.model import SlaVerdict, Verdict
from harness.analysis.report.result import Report
from harness.analysis.report.verdicts import judge_p99
from harness.bench.synthetic import SyntheticRun, write_run
from harness.cli.main import main
from harness.core import histograms
from harness.core.contract import AVAILABILITY, THRESHOLDS, ExitCode
from harness.core.runfolder.reader import NotARunFolder

pytestmark = pytest.mark.unit


def _slas(report: Report) -> dict[str, SlaVerdict]:
    return {s.id: s for s in report.data.slas}


def test_clean_week_passes_every_sla_and_writes_report_json(tmp_path: Path) -> None:
    report = build_report(write_run(tmp_path / "run"))
    assert report.verdict is Verdict.PASS
    assert report.exit_code == ExitCode.OK
    on_disk = json.loads(report.json_path.read_text())
    assert on_disk["verdict"] == "PASS" and on_disk["schema_version"] == 1
    slas = _slas(report)
    assert {f"p99_peak_day{d}" for d in range(7)} <= set(slas)
    assert {"p99_overall", "availability", "cpu", "memory", "message_loss"} <= set(slas)
    assert all(s.status == "pass" and s.margin is not None and s.margin >= 0 for s in slas.values()), slas
    assert slas["p99_overall"].threshold == THRESHOLDS.p99_latency_seconds
    assert on_disk["alerts"] == [] and on_disk["incomplete_reasons"] == []


def test_slow_peak_fails_only_that_day_and_its_alert_is_listed(tmp_path: Path) -> None:
    report = build_report(write_run(tmp_path / "run", SyntheticRun(slow_peak_days=(2,))))
    assert (report.verdict, report.exit_code) == ("FAIL", ExitCode.SLA_BREACHED)
    slas = _slas(report)
    failed = {k for k, s in slas.items() if s.status == "fail"}
    assert "p99_peak_day2" in failed and not {f"p99_peak_day{d}" for d in (0, 1, 3, 4, 5, 6)} & failed
    assert report.data.judgement.breached == [s for s in report.data.slas if s.status == "fail"]
    peak = slas["p99_peak_day2"]
    assert peak.value is not None and peak.margin is not None
    assert peak.value > THRESHOLDS.p99_latency_seconds > peak.margin
    [alert] = report.data.alerts
    assert alert.alertname == "ChatbotP99LatencyHigh" and not alert.still_firing
    day2 = 2 * 86_400
    assert alert.started_sim is not None and alert.ended_sim is not None
    assert day2 + 9.5 * 3600 <= alert.started_sim < alert.ended_sim <= day2 + 10.5 * 3600
    assert "Breached - P99 reply latency, peak Wed 09:30-10:30" in " ".join(report.data.summary)


def test_timeouts_count_against_p99_and_availability(tmp_path: Path) -> None:
    report = build_report(write_run(tmp_path / "run", SyntheticRun(error_ratio=0.02)))
    slas = _slas(report)
    assert slas["availability"].status == "fail"
    assert (slas["p99_overall"].value or 0) >= 60  # 2 % timeouts, counted at the 60 s reply timeout
    assert (report.data.load.error_budget_used or 0) > 30


def test_availability_is_final_replies_within_the_timeout_over_messages_sent(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", SyntheticRun(days=1))
    windows = [json.loads(line) for line in (run / "windows.jsonl").read_text().splitlines()]
    for w in windows[:10]:  # per window: 3 sends failed at the socket (never sent), 1 rejected by the platform
        w["offered"] += 3
        w["errors"] += 4
        w["replies_ok"] -= 1
        w["errors_by_kind"] = {"send failed": 3, "rejected": 1}
    (run / "windows.jsonl").write_text("".join(json.dumps(w) + "\n" for w in windows))
    sent, replied = sum(w["sent"] for w in windows), sum(w["replies_ok"] for w in windows)
    availability = _slas(build_report(run))["availability"]
    assert availability.value == pytest.approx(replied / sent) and replied / sent == 1 - 10 / sent
    assert availability.name == f"Availability ({AVAILABILITY.good} / {AVAILABILITY.total})"
    assert availability.detail.startswith(f"10 of {sent} messages sent got no final reply within the reply timeout")


def test_resource_and_loss_breaches(tmp_path: Path) -> None:
    spec = SyntheticRun(cpu_overload_days=(0,), lost={"not_acked": 4, "no_reply": 1})
    report = build_report(write_run(tmp_path / "run", spec))
    slas = _slas(report)
    assert slas["cpu"].status == "fail" and (slas["cpu"].value or 0) > THRESHOLDS.cpu_target
    assert slas["memory"].status == "pass"
    assert slas["message_loss"].value == 5 and slas["message_loss"].status == "fail"
    assert (report.data.messages.lost_by_stage or {})["not_acked"] == 4


def test_run_thresholds_override_the_contract(tmp_path: Path) -> None:
    spec = SyntheticRun(thresholds={"p99_latency_seconds": 0.05})
    report = build_report(write_run(tmp_path / "run", spec))
    assert report.data.thresholds.p99_latency_seconds == 0.05
    assert _slas(report)["p99_overall"].status == "fail"


def test_interrupted_run_is_incomplete_and_says_what_is_missing(tmp_path: Path) -> None:
    spec = SyntheticRun(
        status="aborted",
        abort_reason="bot exited with code 137",
        omit=("ledger.json", "samples.jsonl"),
        stop_after_days=3,
    )
    run = write_run(tmp_path / "run", spec)
    with (run / "windows.jsonl").open("a") as handle:
        handle.write('{"wall_start": 12.0, "wall_e')  # torn last line: killed mid-write
    report = build_report(run)
    assert (report.verdict, report.exit_code) == ("INCOMPLETE", ExitCode.ABORTED)
    reasons = " | ".join(report.data.incomplete_reasons)
    for expected in (
        "aborted",
        "bot exited with code 137",
        "samples.jsonl is missing",
        "ledger.json is missing",
        "windows.jsonl: 1 unreadable line",
    ):
        assert expected in reasons
    assert (report.data.messages.source or "").startswith("last ledger.jsonl snapshot")
    assert _slas(report)["cpu"].status == "no_data"
    assert len([s for s in report.data.slas if s.id.startswith("p99_peak")]) == 7  # days 4-6 have no data


def test_not_a_run_folder_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(NotARunFolder):
        build_report(tmp_path)
    assert main(["report", str(tmp_path)]) == ExitCode.USAGE
    assert "is this a run folder" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "nope")]) == ExitCode.USAGE


def test_cli_exit_code_is_the_verdict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = write_run(tmp_path / "run", SyntheticRun(slow_peak_days=(0,)))
    assert main(["report", str(run)]) == ExitCode.SLA_BREACHED
    assert "FAIL: 2 of 13 SLAs breached" in capsys.readouterr().out


def test_baseline_regression_gates_even_when_slas_pass(tmp_path: Path) -> None:
    base = write_run(tmp_path / "base", SyntheticRun(base_latency_s=0.03))
    worse = write_run(tmp_path / "worse", SyntheticRun(base_latency_s=0.06))
    report = build_report(worse, base)
    slas = _slas(report)
    assert all(s.status == "pass" for s in slas.values())
    comparison = report.data.baseline
    assert comparison is not None
    rows = {r.id: r for r in comparison.slas}
    assert rows["p99_overall"].regression and (rows["p99_overall"].relative_worsening or 0) > 0.5
    assert not rows["memory"].regression
    # the regression is in the verdict's structure, and the sentences are rendered from it
    assert (report.verdict, report.exit_code) == (Verdict.FAIL, ExitCode.SLA_BREACHED)
    judgement = report.data.judgement
    assert (
        judgement.breached == []
        and judgement.regressed == comparison.regressed
        and rows["p99_overall"] in judgement.regressed
    )
    summary = report.data.summary
    assert summary[0].startswith("FAIL (regression): all 13 SLAs met")
    assert summary[1].startswith(
        f"Regressed against baseline base: {len(judgement.regressed)} SLA(s) worse beyond the noise: "
        "P99 reply latency, whole run +"
    ), summary[1]
    on_disk = json.loads(report.json_path.read_text())
    assert (on_disk["verdict"], on_disk["exit_code"]) == ("FAIL", ExitCode.SLA_BREACHED)
    assert on_disk["baseline"]["regressions"] == len(judgement.regressed) and on_disk["summary"] == report.data.summary
    assert build_report(worse, base, tolerance=5.0).verdict is Verdict.PASS
    assert build_report(base, worse).data.baseline.regressions == 0


def test_latency_summary_matches_hdrh_percentiles() -> None:
    import random

    from harness.analysis.report.load import PERCENTILES, latency_summary
    from harness.core import histograms

    hist = histograms.new_histogram()
    rng = random.Random(3)
    for _ in range(20_000):
        histograms.record_seconds(hist, rng.lognormvariate(-2, 1.2))
    summary = latency_summary(hist)
    for name, pct in PERCENTILES.items():
        assert getattr(summary, name) == histograms.percentile_seconds(hist, pct)
    assert summary.count == 20_000
    assert latency_summary(histograms.new_histogram()).p99 is None


def test_chart_buckets_follow_the_run_length(tmp_path: Path) -> None:
    from harness.core.runfolder.reader import RunFolder
    from harness.core.timemap import Segment, TimeMap

    folder = RunFolder(tmp_path)
    assert folder.bucket_s() == 3600  # no timemap: hourly
    folder.run_start_unix = 1000.0
    assert folder.sim_at_unix(1000.0 + 35) is None
    folder.timemap = TimeMap([Segment(0, 135, 36_000, 36_135, 1, "fast")])  # a 135 s real-time run
    assert folder.bucket_s() == 10
    assert folder.sim_at_unix(1000.0 + 35) == 36_035
    folder.timemap = TimeMap([Segment(0, 60, 0, 7 * 86_400, 0, "fast")])  # a compressed week
    assert folder.bucket_s() == 3600


def test_a_damaged_timemap_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    from harness.core.runfolder.reader import RunFolder

    segment = {"wall_start": 5, "wall_end": 5, "sim_start": 0, "sim_end": 3600}  # plays no wall time
    (tmp_path / "timemap.json").write_text(json.dumps({"run_start_unix": 1000.0, "segments": [segment]}))
    folder = RunFolder.open(tmp_path)
    assert folder.timemap is None and folder.sim_at_unix(1010.0) is None
    assert any("timemap.json has a malformed segment" in p and "wall_end" in p for p in folder.problems)


def test_cli_baseline_flags_the_regression(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = write_run(tmp_path / "base", SyntheticRun(base_latency_s=0.03, bot_log=False))
    worse = write_run(tmp_path / "worse", SyntheticRun(base_latency_s=0.06, bot_log=False))
    assert main(["report", str(worse), "--baseline", str(base)]) == ExitCode.SLA_BREACHED
    out = capsys.readouterr().out
    assert out.startswith("FAIL (regression):") and "Regressed against baseline base" in out
    assert "regression" in (worse / "report.md").read_text()
    assert main(["report", str(worse), "--baseline", str(base), "--tolerance", "5"]) == ExitCode.OK


def test_a_ledger_of_the_wrong_shape_is_named_not_a_crash(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", SyntheticRun(days=1))
    ledger = json.loads((run / "ledger.json").read_text())
    ledger["messages"]["lost"] = "many"
    (run / "ledger.json").write_text(json.dumps(ledger))
    report = build_report(run)
    assert (report.verdict, report.exit_code) == ("INCOMPLETE", ExitCode.ABORTED)
    assert "ledger.json: messages.lost: Input should be a valid integer" in report.data.incomplete_reasons[0]
    assert report.data.messages.lost is None and _slas(report)["message_loss"].status == "no_data"


def test_an_unreadable_scenario_file_is_a_warning_in_the_report(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", SyntheticRun(days=1))
    (run / "scenario.toml").write_text("[[faults]\n")
    report = build_report(run)
    assert any(w.startswith("scenario.toml could not be read") for w in report.data.warnings), report.data.warnings
    assert report.verdict == "PASS"


def test_a_peak_too_short_for_a_p99_is_shown_not_judged_and_not_compared(tmp_path: Path) -> None:
    """Weekend peaks of 4 wall seconds hold fewer than 100 replies: their P99s are shown, not judged, not
    compared with a baseline, and the report names them. Made eight times slower, Saturday's replies are
    all over the limit: a breach however few."""
    short = SyntheticRun(weekend_peak_wall_s=4, window_wall_s=2)
    base = write_run(tmp_path / "base", short)
    report = build_report(write_run(tmp_path / "run", short), base)
    slas = _slas(report)
    assert [slas[f"p99_peak_day{d}"].status for d in range(7)] == ["pass"] * 5 + ["too_few"] * 2
    saturday = slas["p99_peak_day5"]
    assert saturday.margin is None and "too few to judge a P99 (at least 100" in saturday.detail
    assert report.verdict is Verdict.PASS and report.exit_code == ExitCode.OK
    [warning] = [w for w in report.data.warnings if w.startswith("P99 not judged")]
    assert "fewer than 100 replies were measured (peak Sat 09:30-10:30, peak Sun 09:30-10:30)" in warning
    assert report.data.summary[0].startswith("PASS: all 11 SLAs met") and report.data.summary[0].endswith(
        "messages sent; 2 P99(s) not judged: too few replies."
    )
    assert report.data.baseline is not None
    rows = {r.id: r for r in report.data.baseline.slas}
    assert rows["p99_peak_day5"].change == "too few" and not rows["p99_peak_day5"].regression
    junit = report.junit_path.read_text()
    assert '<testcase classname="sla" name="p99_peak_day5">\n      <skipped message=' in junit

    slow = build_report(write_run(tmp_path / "slow", replace(short, slow_peak_days=(5,))))
    saturday = _slas(slow)["p99_peak_day5"]
    assert saturday.status == "fail" and "over the limit: a breach even from so few" in saturday.detail
    assert slow.verdict is Verdict.FAIL


def _hist(fast: int, slow: int) -> HdrHistogram:
    hist = histograms.new_histogram()
    for seconds in [0.1] * fast + [0.9] * slow:
        histograms.record_seconds(hist, seconds)
    return hist


@pytest.mark.parametrize(
    ("fast", "slow", "status"),
    [
        (98, 1, "too_few"),  # 99 replies: their "P99" is the slowest
        (4, 1, "too_few"),  # 1 slow of 5: could be the 1 % in a hundred
        (0, 40, "fail"),  # 40 of 40 slow: a breach however few
        (35, 5, "fail"),  # 5 of 40: beyond chance for 1 %
        (98, 2, "fail"),  # 100 replies: judged as measured
        (99, 1, "pass"),
    ],
)
def test_a_p99_is_judged_from_100_replies_or_on_decisive_evidence(fast: int, slow: int, status: str) -> None:
    verdict = judge_p99("p99_overall", "P99", _hist(fast, slow), 0.5, "test", "")
    assert verdict.status == status, verdict.detail
    assert (verdict.margin is None) == (status == "too_few")


def test_a_run_too_small_for_a_p99_is_judged_on_the_rest(tmp_path: Path) -> None:
    """A run of a few dozen messages: availability and loss are exact counts and are judged; the P99 is
    shown and named as not judged."""
    report = build_report(write_run(tmp_path / "run", SyntheticRun(days=1, peak_rate=0.3, peak_wall_s=60)))
    overall = _slas(report)["p99_overall"]
    assert overall.status == "too_few" and overall.value is not None
    assert _slas(report)["availability"].status == "pass"
    assert report.verdict is Verdict.PASS
    assert any("(whole run" in w for w in report.data.warnings if w.startswith("P99 not judged")), report.data.warnings

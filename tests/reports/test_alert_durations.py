"""Alert durations in a compressed week count only played simulated time, never the fast-forward.

Hand-made run folders: a time map with two played peaks (Wed, Thu 09:30-10:30, 60 wall seconds each)
and the fast-forwards around them (10 wall seconds each), and alerts.jsonl lines as the orchestrator
writes them (simulated time taken from that map).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.analysis.report.builder import build_report
from harness.analysis.report.events import aggregate_alerts
from harness.bench.synthetic import SyntheticRun, write_run
from harness.core.runfolder.reader import RunFolder
from harness.core.simclock import DAY_S, parse_sim
from harness.core.timemap import Segment, TimeMap, week_timemap

pytestmark = pytest.mark.unit

WED_PEAK, THU_PEAK = parse_sim("Wed 09:30"), parse_sim("Thu 09:30")
COMPRESSED = TimeMap(
    [
        Segment(0, 10, 0, WED_PEAK, 2, "fast"),
        Segment(10, 70, WED_PEAK, WED_PEAK + 3600, 2, "peak"),
        Segment(70, 80, WED_PEAK + 3600, THU_PEAK, 2, "fast"),
        Segment(80, 140, THU_PEAK, THU_PEAK + 3600, 3, "peak"),
        Segment(140, 150, THU_PEAK + 3600, 4 * DAY_S, 3, "fast"),
    ]
)


def _run(tmp_path: Path, timemap: TimeMap | None, events: list[tuple[str, str, str]]) -> Path:
    """A run folder holding the time map and alerts.jsonl: (alert name, state, simulated time) per line."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "manifest.json").write_text(json.dumps({"status": "completed"}))
    if timemap is not None:
        (run / "timemap.json").write_text(json.dumps(timemap.to_json(1_000_000.0)))
    mapping = timemap or COMPRESSED
    with (run / "alerts.jsonl").open("w") as out:
        for name, state, when in events:
            sim = parse_sim(when)
            line = {
                "wall": round(mapping.wall_at(sim), 3),
                "sim": sim,
                "alertname": name,
                "severity": "warning",
                "state": state,
                "labels": {"alertname": name, "severity": "warning"},
            }
            out.write(json.dumps(line) + "\n")
    return run


def _alerts(run: Path, timemap: TimeMap) -> dict[str, dict]:
    intervals = aggregate_alerts(RunFolder.open(run), timemap.sim_end, timemap.wall_duration)
    return {a.alertname: a.model_dump() for a in intervals}


def test_an_alert_inside_one_peak_keeps_its_whole_duration(tmp_path: Path) -> None:
    run = _run(
        tmp_path,
        COMPRESSED,
        [("Inside", "firing", "Wed 09:40"), ("Inside", "firing", "Wed 09:45"), ("Inside", "resolved", "Wed 10:00")],
    )
    a = _alerts(run, COMPRESSED)["Inside"]
    assert a["duration_sim_s"] == a["duration_played_sim_s"] == 20 * 60
    assert a["fast_forwarded_sim_s"] == a["played_after_fast_forward_sim_s"] == 0
    assert a["crossed_fast_forward"] is False
    assert a["duration_wall_s"] == pytest.approx(20)  # 20 simulated minutes of a 60 s peak hour


def test_an_alert_that_crossed_a_fast_forward_counts_played_time_up_to_it(tmp_path: Path) -> None:
    run = _run(
        tmp_path,
        COMPRESSED,
        [
            ("Overnight", "firing", "Wed 09:56"),
            ("Overnight", "resolved", "Thu 10:14"),
            ("Evening", "firing", "Wed 10:20"),
            ("Evening", "resolved", "Wed 13:00"),
        ],
    )
    alerts = _alerts(run, COMPRESSED)
    overnight = alerts["Overnight"]
    assert overnight["ended_sim"] == parse_sim("Thu 10:14")  # the raw end stays
    assert overnight["duration_sim_s"] == parse_sim("Thu 10:14") - parse_sim("Wed 09:56")  # ~a day, as logged
    assert overnight["duration_played_sim_s"] == 34 * 60  # Wed 09:56-10:30
    assert overnight["fast_forwarded_sim_s"] == THU_PEAK - (WED_PEAK + 3600)  # Wed 10:30 to Thu 09:30, skipped
    assert overnight["played_after_fast_forward_sim_s"] == 44 * 60  # Thu 09:30-10:14, on Wednesday's data
    assert overnight["crossed_fast_forward"] is True
    assert overnight["duration_wall_s"] == pytest.approx(34 + 10 + 44)  # peak minutes are wall seconds here
    html = build_report(run).html_path.read_text()
    assert 'title="not counted: 23h00m fast-forwarded, 44m00s in later peaks">' in html
    evening = alerts["Evening"]
    assert evening["duration_played_sim_s"] == 10 * 60 and evening["fast_forwarded_sim_s"] == 150 * 60
    assert evening["played_after_fast_forward_sim_s"] == 0 and evening["crossed_fast_forward"] is True


def test_an_alert_fired_in_a_fast_forward_has_no_played_time_before_it(tmp_path: Path) -> None:
    run = _run(tmp_path, COMPRESSED, [("Early", "firing", "Wed 08:00"), ("Early", "resolved", "Wed 10:00")])
    a = _alerts(run, COMPRESSED)["Early"]
    assert a["duration_played_sim_s"] == 0 and a["crossed_fast_forward"] is True
    assert (a["fast_forwarded_sim_s"], a["played_after_fast_forward_sim_s"]) == (90 * 60, 30 * 60)


def test_an_alert_still_firing_at_the_end_lasts_to_the_run_end(tmp_path: Path) -> None:
    run = _run(tmp_path, COMPRESSED, [("Stuck", "firing", "Thu 10:25")])
    a = _alerts(run, COMPRESSED)["Stuck"]
    assert a["still_firing"] is True and a["ended_sim"] == 4 * DAY_S
    assert a["duration_played_sim_s"] == 5 * 60
    assert a["fast_forwarded_sim_s"] == 4 * DAY_S - (THU_PEAK + 3600) and a["crossed_fast_forward"] is True


def test_a_real_time_run_is_unchanged(tmp_path: Path) -> None:
    real_time = week_timemap(1, 9.5, 10.5, 60, 30, days=1)  # factor 1: the "fast" stretches are real time
    run = _run(tmp_path, real_time, [("Long", "firing", "Mon 09:00"), ("Long", "resolved", "Mon 11:00")])
    a = _alerts(run, real_time)["Long"]
    assert a["duration_sim_s"] == a["duration_played_sim_s"] == a["duration_wall_s"] == 7200
    assert a["fast_forwarded_sim_s"] == a["played_after_fast_forward_sim_s"] == 0
    assert a["crossed_fast_forward"] is False
    report = build_report(run)
    md, html = report.md_path.read_text(), report.html_path.read_text()
    assert "| Long |  | warning | Mon 09:00 | 2h00m | 2h00m |" in md
    assert "Crossed a fast-forward" not in md and "fast-forward-note" not in html


def test_without_a_time_map_nothing_is_known_to_be_fast_forwarded(tmp_path: Path) -> None:
    run = _run(tmp_path, None, [("Blind", "firing", "Wed 09:56"), ("Blind", "resolved", "Thu 10:14")])
    a = _alerts(run, COMPRESSED)["Blind"]
    assert a["duration_played_sim_s"] == a["duration_sim_s"]
    assert a["fast_forwarded_sim_s"] is a["played_after_fast_forward_sim_s"] is a["crossed_fast_forward"] is None


def test_report_tables_show_played_time_and_explain_the_mark(tmp_path: Path) -> None:
    # HostCpuHigh fires at Wed 10:25 and resolves at 15:30, in the fast-forward after the peak
    report = build_report(write_run(tmp_path / "run", SyntheticRun(slow_peak_days=(1,), overrun_alert_days=(2,))))
    cpu = next(a for a in report.data.alerts if a.alertname == "HostCpuHigh")
    assert (cpu.started_sim, cpu.ended_sim) == (parse_sim("Wed 10:25"), parse_sim("Wed 15:30"))
    assert cpu.crossed_fast_forward and cpu.duration_played_sim_s == 5 * 60
    assert cpu.fast_forwarded_sim_s == 5 * 3600
    on_disk = json.loads(report.json_path.read_text())
    new_fields = {
        "duration_played_sim_s",
        "fast_forwarded_sim_s",
        "played_after_fast_forward_sim_s",
        "crossed_fast_forward",
    }
    assert new_fields <= set(on_disk["alerts"][0])
    md = report.md_path.read_text()
    [row] = [line for line in md.splitlines() if line.startswith("| HostCpuHigh |")]
    assert "| Wed 10:25 | 5m00s \u2020 |" in row
    [latency_row] = [line for line in md.splitlines() if line.startswith("| ChatbotP99LatencyHigh |")]
    assert "\u2020" not in latency_row  # inside its peak: no mark
    assert "\u2020 Crossed a fast-forward" in md
    html = report.html_path.read_text()
    assert '5m00s<sup class="ff" title="not counted: 5h00m fast-forwarded">\u2020</sup>' in html
    assert 'id="fast-forward-note"' in html and "Wed 15:30" in html  # the raw resolved time stays

"""The experiment's statistics on run folders made here with known latencies: intervals, differences,
sentences, and which runs count."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from harness.analysis.experiment import (
    ArmInfo,
    ArmRuns,
    ExperimentReport,
    RunRecord,
    compare_arms,
    now_text,
    read_run,
    replicate_weights,
    run_health,
    weighted_quantile,
)
from harness.analysis.experiment_pages import write_pages
from harness.core import histograms

pytestmark = pytest.mark.unit

WINDOW_S = 5.0


def make_run(
    folder: Path,
    latency_s: float,
    *,
    windows: int = 8,
    per_window: int = 40,
    timeouts: int = 0,
    cpu: float = 0.5,
    hits: float = 0.0,
    seed: int = 1,
) -> Path:
    """A run folder whose messages took about `latency_s` (+-10 %), with a drain window after the load."""
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"reply_timeout_s": 10, "window_s": WINDOW_S}))
    lines = []
    for i in range(windows + 1):
        reply, first = histograms.new_histogram(), histograms.new_histogram()
        sent = per_window if i < windows else 0
        for _ in range(sent - (timeouts if i == 0 else 0)):
            value = latency_s * rng.uniform(0.9, 1.1)
            histograms.record_seconds(reply, value)
            histograms.record_seconds(first, value / 2)
        lines.append(
            {
                "wall_start": i * WINDOW_S,
                "wall_end": (i + 1) * WINDOW_S,
                "sim_start": i * WINDOW_S,
                "sim_end": (i + 1) * WINDOW_S,
                "sent": sent,
                "offered": sent,
                "replies_ok": sent - (timeouts if i == 0 else 0),
                "timeouts": timeouts if i == 0 else 0,
                "reply_hist": histograms.encode(reply),
                "first_chunk_hist": histograms.encode(first),
            }
        )
    (folder / "windows.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    samples = []
    for second in range(int(windows * WINDOW_S)):
        line = {"t": 1000.0 + second, "wall": second + 0.5, "procs": {"bot": {"cpu": cpu}}}
        if hits:
            line["answer_cache"] = {"hit": hits * (second + 1), "miss": (1 - hits) * (second + 1), "error": 0.0}
        samples.append(line)
    (folder / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    return folder


def arms_of(tmp_path: Path, *latencies: list[float], **run_fields) -> list[ArmRuns]:
    return [
        ArmRuns(
            ArmInfo(name=f"arm{a}", label=f"arm {a}", scenario={}, bot={}),
            [make_run(tmp_path / f"a{a}r{r}", lat, seed=10 * a + r, **run_fields) for r, lat in enumerate(runs)],
        )
        for a, runs in enumerate(latencies)
    ]


def test_a_run_s_windows_with_load_timeouts_counted_at_the_reply_timeout(tmp_path: Path):
    run = read_run(make_run(tmp_path / "r", 0.2, windows=4, timeouts=3, cpu=0.25, hits=0.6))
    assert run.size == 4 and sum(run.sent) == 160  # the drain window carries no load
    assert (
        max(run.hists["reply"][0]) == pytest.approx(10_000_000, rel=1e-3)
        and run.hists["reply"][0][max(run.hists["reply"][0])] == 3
    )
    assert sum(run.cpu_s) / sum(run.cpu_span_s) == pytest.approx(0.25)
    assert sum(run.cache_hits) / sum(run.cache_lookups) == pytest.approx(0.6)


def test_the_weighted_quantile_is_hdrhistogram_s_on_the_merged_windows():
    rng = random.Random(3)
    windows = []
    merged = histograms.new_histogram()
    for _ in range(5):
        hist = histograms.new_histogram()
        for _ in range(200):
            histograms.record_seconds(hist, rng.expovariate(5))
        merged.add(hist)
        windows.append(
            {int(i.value_iterated_to): int(i.count_at_value_iterated_to) for i in hist.get_recorded_iterator()}
        )
    for q in (0.5, 0.9, 0.99):
        ours = weighted_quantile(np.ones((1, 5)), windows, q)[0]
        assert ours == pytest.approx(merged.get_value_at_percentile(q * 100) / 1_000_000, rel=1e-3)


def test_replicates_draw_runs_then_the_windows_of_each_drawn_run():
    weights = replicate_weights([3, 5], 400, np.random.default_rng(1))
    assert weights.shape == (400, 8)
    # every replicate draws two runs' worth of windows: 3 or 5 per drawn run
    assert set(weights.sum(axis=1)) <= {6.0, 8.0, 10.0}
    assert (weights[:, :3].sum(axis=1) % 3 == 0).all() and (weights[:, 3:].sum(axis=1) % 5 == 0).all()


def test_a_twice_as_slow_arm_is_a_clear_difference_with_its_interval(tmp_path: Path):
    arms = arms_of(tmp_path, [0.2, 0.21, 0.19], [0.4, 0.42, 0.38])
    slis, sentences, problems = compare_arms(arms, 0.95, 500, seed=1)
    assert not problems
    p50 = next(s for s in slis if s.id == "reply_p50")
    control, slower = p50.arms
    assert control.runs == 3 and control.windows == 24
    assert control.estimate.low <= control.estimate.value <= control.estimate.high
    assert slower.estimate.value == pytest.approx(0.4, rel=0.1)
    diff = p50.differences[0]
    assert diff.clear and diff.relative.value == pytest.approx(1.0, rel=0.15)
    assert 0.5 < diff.relative.low <= diff.relative.value <= diff.relative.high < 1.5
    assert "Arm 1 raised reply latency P50 by " in sentences[0] and "(95 % CI " in sentences[0]
    assert all(s.id != "cache_hit_rate" for s in slis)  # no arm had a cache


def test_the_same_load_in_both_arms_is_no_clear_difference(tmp_path: Path):
    arms = arms_of(tmp_path, [0.2, 0.2, 0.2], [0.2, 0.2, 0.2])
    slis, sentences, _ = compare_arms(arms, 0.95, 500, seed=2)
    p50 = next(s for s in slis if s.id == "reply_p50").differences[0]
    assert not p50.clear and p50.relative.low < 0 < p50.relative.high
    assert sentences[0].startswith("Arm 1 made no clear difference to reply latency P50: ")


def test_a_cut_is_said_with_the_hit_rate_and_an_arm_without_runs_is_a_problem(tmp_path: Path):
    arms = arms_of(tmp_path, [0.5, 0.5], [0.2, 0.2], hits=0.62)
    arms.append(ArmRuns(ArmInfo(name="empty", label="", scenario={}, bot={}), []))
    slis, sentences, problems = compare_arms(arms, 0.9, 300, seed=3)
    assert problems == ["arm 'empty' has no healthy run with load: it cannot be compared"]
    cut = next(s for s in sentences if "reply latency P99" in s)
    assert (
        cut.startswith("Arm 1 cut reply latency P99 by 6")
        and "(90 % CI " in cut
        and cut.endswith("at a 62 % hit rate.")
    )
    assert next(s for s in slis if s.id == "cache_hit_rate").arms[1].estimate.value == pytest.approx(0.62)


@pytest.mark.parametrize(
    ("report", "reason"),
    [
        ({"verdict": "PASS", "conditions": {"generator_bound": False}}, None),
        ({"verdict": "FAIL", "conditions": {"generator_bound": False}}, None),  # the bot missed its SLA: still data
        ({"verdict": "INCONCLUSIVE", "incomplete_reasons": ["rig too busy"]}, "verdict INCONCLUSIVE: rig too busy"),
        ({"verdict": "INCOMPLETE", "incomplete_reasons": []}, "verdict INCOMPLETE"),
        ({"verdict": "PASS", "conditions": {"generator_bound": True}}, "generator-bound"),
        (
            {"verdict": "PASS", "manifest": {"answer_cache": {"available": False, "reason": "redis-server not found"}}},
            "the answer cache it asked for was not there (redis-server not found)",
        ),
    ],
)
def test_which_runs_count(tmp_path: Path, report, reason):
    (tmp_path / "report.json").write_text(json.dumps(report))
    verdict, why = run_health(tmp_path, 0)
    assert verdict == report["verdict"]
    assert why is None if reason is None else why.startswith(reason)


def test_a_run_without_a_report_does_not_count(tmp_path: Path):
    assert run_health(tmp_path, 3) == (None, "no readable report.json (exit code 3)")


def test_the_pages_show_the_sentences_each_arm_s_interval_and_the_discarded_runs(tmp_path: Path):
    arms = arms_of(tmp_path, [0.2, 0.2], [0.4, 0.4])
    slis, sentences, problems = compare_arms(arms, 0.95, 200, seed=4)
    runs = [
        RunRecord(
            arm=a.info.name,
            repetition=1,
            dir=str(d),
            exit_code=1,
            verdict="FAIL",
            healthy=True,
            discarded_because=None,
            load_average_before=[1.0, 1.0, 1.0],
            load_average_after=[1.5, 1.1, 1.0],
            wall_s=40.0,
        )
        for a in arms
        for d in a.run_dirs
    ]
    runs.append(runs[0].model_copy(update={"healthy": False, "discarded_because": "generator-bound: <busy>"}))
    report = ExperimentReport(
        generated_at=now_text(),
        name="pages",
        description="",
        claim="x is <fast>",
        experiment_file="exp.toml",
        scenario_file="exp.toml",
        repetitions=2,
        confidence=0.95,
        bootstrap_samples=200,
        seed=4,
        arms=[a.info for a in arms],
        runs=runs,
        slis=slis,
        sentences=sentences,
        problems=problems,
    )
    paths = write_pages(report, tmp_path)
    assert ExperimentReport.model_validate_json(paths["json"].read_text()) == report
    md, html = paths["md"].read_text(), paths["html"].read_text()
    for page in (md, html):
        assert sentences[0] in page and "generator-bound" in page
    assert "| reply latency P50 (lower is better) | 200 ms [" in md
    assert "x is &lt;fast&gt;" in html and "&lt;busy&gt;" in html  # escaped

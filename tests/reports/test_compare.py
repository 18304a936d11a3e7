"""The baseline comparison knows noise: identical runs compare clean, a 150 ms delay is caught, runs of
different things are refused, the wording reads well, and a regression on a busy rig is no verdict."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from harness.analysis.report.builder import analyse, build_report
from harness.analysis.report.compare import BaselineMismatch, bootstrap_worsening, compare
from harness.analysis.report.model import ComparisonRow, Verdict
from harness.analysis.report.summary import fmt_delta
from harness.bench.synthetic import SyntheticRun, write_run
from harness.cli.main import main
from harness.core.contract import NOISE, ExitCode

pytestmark = pytest.mark.unit

DAY = {"days": 1}  # one simulated day keeps each run small; still > NOISE.bootstrap_min_blocks windows


def test_identical_runs_compare_clean_ten_times_out_of_ten(tmp_path: Path) -> None:
    """Ten pairs of runs of the same scenario, differing only in their random draws: no SLA is called
    worse. (A bootstrap within each run does not see all the noise between runs, so its interval alone
    may exclude zero; the noise floor is what keeps such a pair clean.)"""
    runs = [analyse(write_run(tmp_path / f"run{seed}", SyntheticRun(seed=seed, **DAY))) for seed in range(11)]
    for base, now in itertools.pairwise(runs):
        comparison = compare(now, base)
        assert comparison.regressions == 0, [(r.id, r.change, fmt_delta(r)) for r in comparison.slas]
        assert all(r.change in ("within noise", "no data") or r.delta == 0 for r in comparison.slas)
        p99 = next(r for r in comparison.slas if r.id == "p99_overall")
        assert p99.interval is not None and p99.min_difference is not None


def test_a_150_ms_delay_is_caught(tmp_path: Path) -> None:
    base = write_run(tmp_path / "base", SyntheticRun(**DAY))
    slow = write_run(tmp_path / "slow", SyntheticRun(seed=8, latency_shift_s=0.150, **DAY))
    report = build_report(slow, base)
    rows = {r.id: r for r in report.data.baseline.slas}
    p99 = rows["p99_overall"]
    assert p99.change == "worse" and p99.regression and not p99.rig_bound
    assert p99.interval is not None and p99.interval[0] > 0  # the interval excludes no change
    assert (p99.delta or 0) > 0.12 and fmt_delta(p99).startswith("+1")
    assert report.verdict is Verdict.FAIL and report.exit_code == ExitCode.SLA_BREACHED
    assert not rows["cpu"].regression and not rows["memory"].regression


def test_the_noise_floor_holds_a_small_change_and_the_tolerance_adds_to_it(tmp_path: Path) -> None:
    base = analyse(write_run(tmp_path / "base", SyntheticRun(**DAY)))
    nudged = analyse(write_run(tmp_path / "nudged", SyntheticRun(seed=8, latency_shift_s=0.010, **DAY)))
    p99 = next(r for r in compare(nudged, base).slas if r.id == "p99_overall")
    assert p99.change == "within noise" and p99.min_difference is not None
    assert p99.min_difference >= NOISE.latency_s
    with pytest.raises(ValueError, match="tolerance"):
        compare(nudged, base, -0.1)


def test_on_a_busy_rig_the_comparison_is_made_where_the_rig_held(tmp_path: Path) -> None:
    """A run whose Monday peak was slow while a hog filled the host: worse than the baseline only there,
    so compared where the rig held (Tuesday, enough windows) it is clean, and its failed peak makes it
    INCONCLUSIVE. A 150 ms delay everywhere is still caught where the rig held: a FAIL."""
    days = {"days": 2}
    base = write_run(tmp_path / "base", SyntheticRun(**days))
    busy = write_run(tmp_path / "busy", SyntheticRun(seed=8, slow_peak_days=(0,), busy_host_days=(0,), **days))
    report = build_report(busy, base)
    rows = {r.id: r for r in report.data.baseline.slas}
    assert rows["p99_overall"].where_rig_held and rows["p99_overall"].change == "within noise", rows["p99_overall"]
    peak = rows["p99_peak_day0"]
    assert peak.regression and peak.rig_bound and peak.change == "no data"  # no healthy window in that peak
    assert report.verdict is Verdict.INCONCLUSIVE
    assert any("in a run whose rig did not hold" in line for line in report.data.summary)
    slow = write_run(tmp_path / "slow", SyntheticRun(seed=9, latency_shift_s=0.150, busy_host_days=(0,), **days))
    caught = build_report(slow, base)
    p99 = next(r for r in caught.data.baseline.slas if r.id == "p99_overall")
    assert p99.where_rig_held and p99.change == "worse" and p99.regression and not p99.rig_bound
    assert caught.verdict is Verdict.FAIL


def test_without_enough_windows_where_the_rig_held_a_worsening_is_no_verdict(tmp_path: Path) -> None:
    """One simulated day whose peak (most of its windows) was on a busy host: too few healthy windows to
    compare, so all are compared, and the 150 ms found is the rig's as much as the bot's: INCONCLUSIVE."""
    base = write_run(tmp_path / "base", SyntheticRun(**DAY))
    slow = write_run(tmp_path / "slow", SyntheticRun(seed=9, latency_shift_s=0.150, busy_host_days=(0,), **DAY))
    report = build_report(slow, base)
    p99 = next(r for r in report.data.baseline.slas if r.id == "p99_overall")
    assert not p99.where_rig_held and p99.change == "worse" and p99.rig_bound
    assert report.verdict is Verdict.INCONCLUSIVE


def test_a_baseline_of_another_scenario_is_refused_unless_allowed(tmp_path: Path, capsys) -> None:
    base = write_run(tmp_path / "base", SyntheticRun(manifest_extra={"scenario": "spike"}, **DAY))
    now = write_run(tmp_path / "now", SyntheticRun(**DAY))
    with pytest.raises(BaselineMismatch, match="scenario 'spike' in the baseline"):
        build_report(now, base)
    assert main(["report", str(now), "--baseline", str(base)]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--allow-mismatch" in err
    report = build_report(now, base, allow_mismatch=True)
    assert report.data.baseline.mismatches and any("ran something else" in w for w in report.data.warnings)
    assert report.data.summary[1].startswith("WARNING: the baseline base ran something else")


def test_a_baseline_of_another_duration_is_refused(tmp_path: Path) -> None:
    base = write_run(tmp_path / "base", SyntheticRun(manifest_extra={"planned_wall_s": 100.0}, **DAY))
    now = write_run(tmp_path / "now", SyntheticRun(manifest_extra={"planned_wall_s": 200.0}, **DAY))
    with pytest.raises(BaselineMismatch, match="planned duration 100 s in the baseline, 200 s now"):
        build_report(now, base)


def _row(row_id: str, unit: str, value: float, baseline: float, worse: float | None) -> ComparisonRow:
    return ComparisonRow(
        id=row_id,
        name=row_id,
        unit=unit,
        value=value,
        baseline=baseline,
        status="pass",
        baseline_status="pass",
        delta=value - baseline,
        relative_worsening=worse,
        regression=False,
    )


def test_changes_read_well() -> None:
    assert fmt_delta(_row("p99_overall", "s", 0.3001, 0.3, 0.0003)) == "no change"  # never "-0 %" or "+0 ms"
    assert fmt_delta(_row("p99_overall", "s", 0.335, 0.3, 0.1167)) == "+35 ms (12% worse)"
    assert fmt_delta(_row("cpu", "ratio", 0.018, 0.014, 0.2857)) == "+0.4 points (29% worse)"
    # availability on its failure rate: in percentage points, never "100 % better"
    assert fmt_delta(_row("availability", "ratio", 1.0, 0.9998, -1.0)) == "+0.020 pp"
    assert fmt_delta(_row("message_loss", "count", 3, 0, None)) == "+3"


def test_bootstrap_needs_enough_blocks(tmp_path: Path) -> None:
    run = analyse(write_run(tmp_path / "run", SyntheticRun(**DAY)))
    blocks = run.series.blocks
    assert len(blocks) >= NOISE.bootstrap_min_blocks
    assert bootstrap_worsening("p99_overall", blocks[:3], blocks) is None
    assert bootstrap_worsening("cpu", blocks, blocks) is None  # resources are not kept per block
    same = bootstrap_worsening("availability", blocks, blocks)
    assert same is not None and same[0] <= 0 <= same[1]

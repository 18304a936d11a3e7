"""Growth: the slope fit, the leak judgement against warm-up growth, snapshot diffs, the soak verdict,
and the "memory leak" finding, on synthetic samples and run folders."""

from __future__ import annotations

import dataclasses
import json
import math
import random
from pathlib import Path

import pytest

from harness.analysis.report import growth as growth_module
from harness.analysis.report.builder import analyse, build_report
from harness.analysis.report.growth import GrowthTracker, fit_line, soak_verdict
from harness.analysis.report.model import Verdict
from harness.bench.synthetic import SyntheticRun, write_run
from harness.core import assets
from harness.core.contract import GROWTH, SOAK, ExitCode

pytestmark = pytest.mark.unit
MB = 1024 * 1024


def _tracker(rss_at, seconds: float, every: float = 1.0, fds_at=lambda t: 30.0) -> GrowthTracker:
    tracker = GrowthTracker()
    for i in range(int(seconds / every) + 1):
        t = i * every
        tracker.add(t, 1000.0 + t, {"bot": {"rss": rss_at(t), "fds": fds_at(t)}})
    return tracker


def test_theil_sen_recovers_the_line_and_shrugs_off_outliers() -> None:
    points = [(float(x), 3.0 + 0.5 * x) for x in range(100)]
    fit = fit_line(points)
    assert fit.slope == pytest.approx(0.5) and fit.intercept == pytest.approx(3.0) and fit.r2 == pytest.approx(1.0)
    spiked = [(x, y + (400.0 if int(x) % 17 == 0 else 0.0)) for x, y in points]  # GC-pause-like spikes
    assert fit_line(spiked).slope == pytest.approx(0.5, rel=0.02)
    assert fit_line([(float(x), 7.0) for x in range(10)]).r2 is None  # flat: nothing to explain


def test_a_steady_leak_after_the_warm_up_is_a_leak_with_its_rates() -> None:
    leak_mb_per_s = 0.5
    tracker = _tracker(lambda t: (60 + leak_mb_per_s * t) * MB, 120)
    growth = tracker.process_growth("bot", messages_per_s=20.0)
    assert growth is not None and growth.leak
    assert growth.fit_from_wall_s >= GROWTH.warmup_share * 120  # the warm-up is left out
    assert growth.rss_mb.per_hour == pytest.approx(leak_mb_per_s * 3600, rel=0.01)
    assert growth.rss_mb.per_sim_hour == pytest.approx(leak_mb_per_s * 3600, rel=0.01)  # real time
    assert growth.rss_mb.per_10k_messages == pytest.approx(leak_mb_per_s / 20 * 10_000, rel=0.01)
    assert growth.rss_mb.r2 == pytest.approx(1.0, abs=0.01)
    assert growth.fds is not None and growth.fds.per_hour == pytest.approx(0.0)


def test_warm_up_growth_that_levels_off_is_not_a_leak() -> None:
    """Fast growth at start (imports, pools, a dedup window filling), then flat with noise: the kind of
    curve every healthy process draws. The fit starts after the warm-up and finds nothing."""
    rng = random.Random(1)

    def rss(t: float) -> float:
        return (60 + 40 * (1 - math.exp(-t / 8)) + rng.uniform(-0.5, 0.5)) * MB

    growth = _tracker(rss, 300).process_growth("bot", 20.0)
    assert growth is not None and not growth.leak
    assert abs(growth.rss_mb.growth) < GROWTH.leak_min_growth_mb


def test_small_or_noisy_growth_is_not_a_leak() -> None:
    small = _tracker(lambda t: (60 + 0.02 * t) * MB, 300).process_growth("bot", 20.0)  # 4 MB: churn
    assert small is not None and small.rss_mb.r2 is not None and small.rss_mb.r2 > 0.9 and not small.leak
    rng = random.Random(2)
    noisy = _tracker(lambda t: (80 + rng.uniform(-20, 20)) * MB, 300).process_growth("bot", 20.0)
    assert noisy is not None and not noisy.leak


def test_too_short_after_the_warm_up_gives_no_slope() -> None:
    assert _tracker(lambda t: (60 + t) * MB, GROWTH.min_fit_s).process_growth("bot", 20.0) is None


def test_soak_verdict_limits_and_too_short() -> None:
    hours = 2 * 3600.0
    flat = _tracker(lambda t: 60 * MB, hours, every=10).process_growth("bot", 50.0)
    creeping = _tracker(lambda t: (60 + 2 * t / 3600) * MB, hours, every=10).process_growth("bot", 50.0)
    fd_leak = _tracker(lambda t: 60 * MB, hours, every=10, fds_at=lambda t: 30 + t // 600).process_growth("bot", 50.0)
    assert flat and creeping and fd_leak
    assert soak_verdict([flat]).status == "pass"
    verdict = soak_verdict([creeping])
    assert verdict.status == "fail" and "bot RSS MB per hour +2.00" in verdict.detail
    assert [c.measure for c in soak_verdict([fd_leak]).checks if c.status == "fail"] == ["open fds per hour"]
    short = _tracker(lambda t: 60 * MB, SOAK.min_fit_s, every=10).process_growth("bot", 50.0)
    assert short is not None and soak_verdict([short]).status == "too_short"


def _leaking_run(tmp_path: Path, *, snapshots: bool, manifest_extra: dict | None = None) -> Path:
    """The synthetic week's samples with the bot's RSS rising 50 MB per wall minute from the start."""
    run = write_run(tmp_path / "run", SyntheticRun(days=1, manifest_extra=manifest_extra or {}))
    lines = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    for line in lines:
        line["procs"]["bot"]["rss"] = 80e6 + 50 * MB * line["wall"] / 60
    (run / "samples.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    if snapshots:
        for n, window in enumerate(("Mon-1000", "Mon-2300")):
            held = 1_000_000 + n * 40 * MB
            sites = [
                {"file": "/x/leak_demo.py", "line": 18, "function": "LeakDemo.remember_for_leak_demo",
                 "size": held, "count": 10 + n * 400},
                {"file": "/x/other.py", "line": 5, "function": "steady", "size": 2_000_000, "count": 50},
            ]  # fmt: skip
            folder = run / "profiles" / window
            folder.mkdir(parents=True)
            snapshot = {"pid": 1, "taken_at": 1000.0 + n * 60, "seq": n + 1, "traced_bytes": held + 2_000_000}
            (folder / "bot.memory.json").write_text(json.dumps({**snapshot, "sites": sites}))
    return run


def test_the_leak_finding_names_the_growing_function_with_its_evidence(tmp_path: Path) -> None:
    data = analyse(_leaking_run(tmp_path, snapshots=True)).data
    [finding] = [f for f in data.findings if f.id.startswith("memory.leak")]
    assert finding.id == "memory.leak.bot" and finding.runbook == "runbooks/memory-leak.md"
    assert (assets.runbooks_dir() / "memory-leak.md").exists()
    assert "LeakDemo.remember_for_leak_demo (/x/leak_demo.py:18)" in finding.title
    evidence = " | ".join(e.text for e in finding.evidence)
    assert "MB per hour" in evidence and "R^2 = 1.00" in evidence and "MB per 10,000 messages" in evidence
    assert "grew +40.0 MB in +400 blocks between windows Mon-1000 and Mon-2300" in evidence
    [snap] = data.growth.snapshots if data.growth else []
    assert [s.function for s in snap.sites] == ["LeakDemo.remember_for_leak_demo"]  # `steady` did not grow


def test_without_snapshots_the_finding_names_the_process_and_says_how_to_name_the_function(tmp_path: Path) -> None:
    [finding] = [f for f in analyse(_leaking_run(tmp_path, snapshots=False)).data.findings if f.id.startswith("memory")]
    assert "no memory snapshots" in finding.title and "memory = true" in finding.evidence[-1].text


def test_synthetic_week_has_no_leak_and_no_soak_verdict(tmp_path: Path) -> None:
    """The synthetic bot's RSS follows the load (80 MB + 20 MB at the peak): not a leak."""
    data = analyse(write_run(tmp_path / "run")).data
    assert data.growth is not None and data.growth.soak is None
    assert not any(p.leak for p in data.growth.processes)


def test_a_failed_soak_fails_the_run_and_the_pages_show_the_verdict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(growth_module, "SOAK", dataclasses.replace(SOAK, min_fit_s=GROWTH.min_fit_s))  # a short "soak"
    report = build_report(_leaking_run(tmp_path, snapshots=False, manifest_extra={"shape": "soak"}))
    assert report.data.growth is not None and report.data.growth.soak is not None
    assert report.data.growth.soak.status == "fail"
    assert (report.verdict, report.exit_code) == (Verdict.FAIL, ExitCode.SLA_BREACHED)
    assert report.data.summary[0].startswith("FAIL (soak)")
    markdown = (report.run_dir / "report.md").read_text()
    assert "**Soak verdict: FAIL**" in markdown and "| bot |" in markdown
    assert 'id="soak-verdict"' in (report.run_dir / "report.html").read_text()

"""Rig health and the SLAs that measure what they say, on synthetic run folders: a failure where the rig
held is FAIL, one only where it did not is INCONCLUSIVE with the limit, the process and what to change;
the bot's own CPU and memory are judged as measured; availability never exceeds the ledger's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.analysis.report.builder import analyse, build_report
from harness.analysis.report.model import SlaVerdict, Verdict
from harness.analysis.report.resources import MB, SlidingPeak, interpolated_quantile
from harness.analysis.report.rig import RigMonitor, SlidingMean, WindowHealth
from harness.bench.synthetic import SyntheticRun, write_run
from harness.core.contract import RIG, ExitCode

pytestmark = pytest.mark.unit


def _slas(run: Path) -> dict[str, SlaVerdict]:
    return {s.id: s for s in analyse(run).data.slas}


def test_a_sliding_minute_does_not_cut_a_spike_in_half() -> None:
    """A 30 s spike at 80 % of a core from 45 s to 75 s, 10 % otherwise: minutes counted from the start
    split it (27.5 % each side); a sliding minute holds all of it (45 %)."""
    peak = SlidingPeak(60.0)
    for second in range(180):
        peak.add(float(second), 36_000.0 + second, 0.8 if 45 <= second < 75 else 0.1)
    peak.close()
    assert peak.peak == pytest.approx(0.45, abs=0.012) and peak.max == 0.8
    assert 36_000 + 14 <= (peak.peak_at_sim or 0) <= 36_000 + 46  # a minute that holds the whole spike


def test_a_run_shorter_than_the_window_is_judged_on_all_of_it() -> None:
    peak = SlidingPeak(60.0)
    for second in range(20):
        peak.add(float(second), float(second), 0.2 if second < 10 else 0.4)
    peak.close()
    assert peak.peak == pytest.approx(0.3)


def _sample(wall: float, host: float, procs: dict[str, float], top: list[tuple[str, int, float]]) -> dict:
    return {
        "wall": wall,
        "sim": 36_000 + wall,
        "host": {"cpu": host, "mem": 0.3},
        "procs": {name: {"cpu": cpu} for name, cpu in procs.items()},
        "others": {"cpu": sum(c for _, _, c in top), "top": [{"name": n, "pid": p, "cpu": c} for n, p, c in top]},
    }


def test_the_monitor_names_the_process_that_filled_the_host_and_the_busy_generator() -> None:
    monitor = RigMonitor(cores=2)
    for second in range(60):
        hog = 20 <= second < 40
        monitor.add(
            _sample(
                second,
                0.99 if hog else 0.3,
                {"bot": 0.2, "loadgen-worker-1": 0.95 if second >= 45 else 0.3},
                [("stress", 4242, 1.5)] if hog else [],
            ),
            float(second),
            36_000.0 + second,
        )
    host = monitor.trouble["host_cpu"]
    # the span is the sliding windows whose mean crossed 90 %: the hog's 20 s and a sample at its edge
    [(start, end, _, _)] = host.intervals
    assert 18 <= start <= 20 and 39 <= end <= 40
    top = host.top_consumers()
    assert top[0].process == "stress (pid 4242)" and not top[0].in_run and top[0].cpu == pytest.approx(1.5, rel=0.15)
    assert {c.process for c in top} >= {"bot", "loadgen-worker-1"}
    generator = monitor.trouble["generator_cpu"]
    assert (
        generator.intervals
        and generator.intervals[0][0] >= 44
        and generator.top_consumers()[0].process == ("loadgen-worker-1")
    )
    assert monitor.unhealthy(0, 15) == [] and monitor.unhealthy(25, 27) == ["host_cpu"]
    assert monitor.unhealthy(50, 52) == ["generator_cpu"]


def test_sampler_gaps_and_late_starts_make_windows_unhealthy() -> None:
    monitor = RigMonitor(cores=2)
    for wall in [0, 1, 2, 3, 9, 10, 11]:  # six seconds without a sample
        monitor.add(_sample(wall, 0.2, {}, []), float(wall), 36_000.0 + wall)
    assert monitor.trouble["sampler_gaps"].intervals == [[3, 9, 36_003, 36_009]]
    health = WindowHealth(monitor, grace_s=0.5)

    def window(start: float, sent: int, late: int) -> dict:
        return {
            "wall_start": start,
            "wall_end": start + 2,
            "sim_start": start,
            "sim_end": start + 2,
            "sent": sent,
            "late_starts": late,
        }

    assert health.judge(window(0, 100, 1)) == []  # 1 % late: at the limit, not over it
    assert health.judge(window(10, 100, 2)) == ["late_starts"]
    assert health.judge(window(4, 10, 0)) == ["sampler_gaps"]
    assert health.judge(window(20, 0, 0)) == []  # no message sent: nothing to judge
    assert (health.windows, health.unhealthy) == (3, 2)


def test_a_slow_peak_on_a_busy_host_is_inconclusive_and_says_who_and_what_to_change(tmp_path: Path) -> None:
    report = build_report(write_run(tmp_path / "run", SyntheticRun(slow_peak_days=(2,), busy_host_days=(2,))))
    assert (report.verdict, report.exit_code) == (Verdict.INCONCLUSIVE, ExitCode.INCONCLUSIVE)
    slas = {s.id: s for s in report.data.slas}
    wednesday = slas["p99_peak_day2"]
    assert wednesday.status == "fail" and wednesday.rig_bound and wednesday.healthy_status == "no_data"
    assert report.data.judgement.breached == [] and wednesday in report.data.judgement.rig_bound
    rig = report.data.rig
    assert rig is not None and not rig.held and rig.unhealthy_windows > 0
    [host] = [c for c in rig.crossed if c.id == "host_cpu"]
    assert host.consumers[0].process == "hog (pid 999)" and "stop or move hog (pid 999)" in host.advice
    summary = " ".join(report.data.summary)
    assert summary.startswith("INCONCLUSIVE: ") and "Host CPU, all cores" in summary
    page = report.html_path.read_text()
    assert 'id="rig"' in page and "hog (pid 999)" in page and "rig did not hold" in page
    assert "Rig health: **did not hold**" in report.md_path.read_text()
    assert json.loads(report.json_path.read_text())["exit_code"] == ExitCode.INCONCLUSIVE


def test_a_slow_peak_where_the_rig_held_still_fails(tmp_path: Path) -> None:
    report = build_report(write_run(tmp_path / "run", SyntheticRun(slow_peak_days=(2,), busy_host_days=(4,))))
    assert (report.verdict, report.exit_code) == (Verdict.FAIL, ExitCode.SLA_BREACHED)
    wednesday = {s.id: s for s in report.data.slas}["p99_peak_day2"]
    assert wednesday.status == "fail" and not wednesday.rig_bound


def test_the_bots_own_cpu_breach_fails_on_any_rig(tmp_path: Path) -> None:
    """A busy rig can only lower the bot's CPU (less CPU to get, less load delivered): a breach is real."""
    report = build_report(write_run(tmp_path / "run", SyntheticRun(cpu_overload_days=(1,), busy_host_days=(1,))))
    cpu = {s.id: s for s in report.data.slas}["cpu"]
    assert cpu.status == "fail" and not cpu.rig_sensitive and not cpu.rig_bound
    assert report.verdict is Verdict.FAIL


def test_a_run_on_a_healthy_rig_says_so(tmp_path: Path) -> None:
    report = analyse(write_run(tmp_path / "run"))
    rig = report.data.rig
    assert rig is not None and rig.held and rig.unhealthy_windows == 0 and rig.windows > 100
    assert {c.id for c in rig.checks} == {"host_cpu", "generator_cpu", "late_starts", "sampler_gaps", "scrape_failures"}
    assert not any(c.crossed for c in rig.checks)


def test_prometheus_scrape_failures_are_shown_but_do_not_decide(tmp_path: Path) -> None:
    failures = {"bot": {"scrapes": 100, "failed": 30}, "platform": {"scrapes": 100, "failed": 0}}
    spec = SyntheticRun(manifest_extra={"prometheus": {"available": True, "scrape_failures": failures}})
    report = analyse(write_run(tmp_path / "run", spec))
    [scrapes] = [c for c in report.data.rig.checks if c.id == "scrape_failures"]
    assert scrapes.crossed and not scrapes.decides_verdict and scrapes.worst == pytest.approx(0.3)
    assert "worst target bot" in scrapes.detail
    assert report.data.rig.held and report.verdict is Verdict.PASS


def test_memory_is_the_bots_resident_set_against_its_limit(tmp_path: Path) -> None:
    """The synthetic bot holds 80-100 MB: against a 110 MB limit that is over 80 %, against the host's
    24 GB nothing; the host's own memory (42-47 % used) is shown apart, never judged."""
    limited = SyntheticRun(thresholds={"memory_limit_mb": 110})
    memory = _slas(write_run(tmp_path / "limited", limited))["memory"]
    assert memory.status == "fail" and 0.8 < (memory.value or 0) < 1.0 and "110 MB, the scenario's" in memory.detail
    host_run = write_run(tmp_path / "host")
    on_host = analyse(host_run).data
    memory = {s.id: s for s in on_host.slas}["memory"]
    assert memory.status == "pass" and (memory.value or 1) < 0.01 and "the host's" in memory.detail
    assert (on_host.resources.memory.sustained_peak or 0) > 0.4  # host memory, apart
    container = SyntheticRun(
        manifest_extra={"machine": {"cpus": 2, "memory_bytes": 24 * 2**30, "memory_limit_bytes": 100 * MB}}
    )
    memory = _slas(write_run(tmp_path / "container", container))["memory"]
    assert memory.status == "fail" and "the container's" in memory.detail


def test_cpu_is_the_bots_process_and_a_bot_elsewhere_has_no_resource_slas(tmp_path: Path) -> None:
    cpu = _slas(write_run(tmp_path / "run"))["cpu"]
    assert cpu.source.startswith("samples.jsonl procs.bot.cpu") and "one core" in cpu.name
    remote = analyse(write_run(tmp_path / "url", SyntheticRun(manifest_extra={"target": "url"}))).data
    assert {"cpu", "memory"}.isdisjoint(s.id for s in remote.slas)
    assert any("target.kind = url" in w for w in remote.warnings) and remote.incomplete_reasons == []


def test_availability_never_exceeds_what_the_ledger_allows(tmp_path: Path) -> None:
    """An aborted run: the load generator saw every reply, the ledger lost 13. Availability is the
    ledger's (sent - lost) / sent, not 100.000 %."""
    run = write_run(tmp_path / "run", SyntheticRun(days=1))
    ledger = json.loads((run / "ledger.json").read_text())
    ledger["messages"]["lost"], ledger["lost_by_stage"]["no_reply"] = 13, 13
    (run / "ledger.json").write_text(json.dumps(ledger))
    data = analyse(run).data
    availability = {s.id: s for s in data.slas}["availability"]
    sent = ledger["messages"]["sent"]
    assert availability.value == pytest.approx(1 - 13 / sent) and availability.value < 1
    assert "capped by the ledger" in availability.source and "the ledger counts 13 of" in availability.detail
    assert data.load.availability == availability.value
    assert not any("100.000%" in line for line in data.summary)


def test_messages_the_generator_never_recorded_are_said_and_make_the_run_incomplete(tmp_path: Path) -> None:
    """A killed worker: the ledger counts more messages than the generator's windows hold."""
    run = write_run(tmp_path / "run", SyntheticRun(days=1))
    ledger = json.loads((run / "ledger.json").read_text())
    ledger["messages"]["sent"] += 304
    (run / "ledger.json").write_text(json.dumps(ledger))
    (run / "loadgen.json").write_text(json.dumps({"workers_missing_final": ["worker-b"], "totals": {}}))
    report = build_report(run)
    accounting = report.data.accounting
    assert accounting is not None and accounting.unmeasured == 304 and accounting.workers_missing_final == ["worker-b"]
    assert report.verdict is Verdict.INCOMPLETE
    assert any("the latency of 304 messages was not measured" in r for r in report.data.incomplete_reasons)
    assert "no last windows from worker-b" in report.html_path.read_text()


def test_the_bots_own_processing_time_is_shown_next_to_the_user_side(tmp_path: Path) -> None:
    report = build_report(write_run(tmp_path / "run", SyntheticRun(days=1)))
    bot_side = report.data.latency.bot_processing
    assert bot_side is not None and bot_side.count > 0 and 0.05 < (bot_side.p99 or 0) <= 0.1
    overall = {s.id: s for s in report.data.slas}["p99_overall"]
    assert "user side" in overall.detail and "processing P99 was" in overall.detail
    assert 'id="bot-processing"' in report.html_path.read_text()


def test_interpolated_quantile_follows_histogram_quantile() -> None:
    from collections import Counter

    buckets = Counter({0.1: 50, 0.5: 40, 1.0: 10})
    assert interpolated_quantile(buckets, 0.5) == pytest.approx(0.1)
    assert interpolated_quantile(buckets, 0.9) == pytest.approx(0.5)
    assert interpolated_quantile(buckets, 0.95) == pytest.approx(0.75)
    assert interpolated_quantile(Counter({0.5: 1, float("inf"): 99}), 0.99) == 0.5  # +Inf: the highest bound
    assert interpolated_quantile(Counter(), 0.99) is None


def test_rig_limits_are_the_contracts() -> None:
    assert RIG.host_cpu == 0.90 and RIG.late_start_share == 0.01 and RIG.span_s > 0


def test_a_pair_of_close_samples_does_not_keep_the_sliding_window_from_filling() -> None:
    """Regression: a run's samples came 1 s apart except one pair 0.05 s apart (the load starting), and
    the 10 s window, sized by the shortest spacing ever seen, never counted as full: two busy loops on
    2 cores left the host CPU check unjudged."""
    window = SlidingMean(10.0)
    walls = [0.0, 0.05, *(1.05 + i for i in range(30))]
    full_at = next((wall for wall in walls if window.add(wall, wall, 1.0) is not None and window.full), None)
    assert full_at is not None and full_at <= 11.05, full_at

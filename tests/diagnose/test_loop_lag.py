"""The bot's event-loop lag on its way to the diagnosis: the bot's histogram, scraped over HTTP by the
sampler into per-sample deltas (samples.jsonl `loop_lag`), read back by the slowness runbook."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from prometheus_client import start_http_server

from harness.analysis.diagnose.model import Finding
from harness.analysis.report.builder import analyse
from harness.bench.synthetic import SyntheticRun, write_run
from harness.core.runfolder.reader import RunFolder
from harness.run.sampler import LOOP_LAG, HistogramDelta, scrape_bot
from reference_bot.metrics import BotMetrics

pytestmark = pytest.mark.integration

THURSDAY = 3


@contextmanager
def serving(metrics: BotMetrics) -> Iterator[str]:
    """The bot's registry on a real loopback /metrics endpoint; yields its URL."""
    server, thread = start_http_server(0, addr="127.0.0.1", registry=metrics.registry)
    try:
        yield f"http://127.0.0.1:{server.server_port}/metrics"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_sampler_records_the_lag_observed_since_the_previous_sample():
    metrics, deltas = BotMetrics("test", 10), HistogramDelta(LOOP_LAG)
    with serving(metrics) as url:
        assert deltas.update(scrape_bot(url)) == {"count": 0, "sum": 0.0, "buckets": {}}
        for lag in (0.0004, 0.0004, 0.3):
            metrics.event_loop_lag.observe(lag)
        first = deltas.update(scrape_bot(url))
        metrics.event_loop_lag.observe(7.0)
        second = scrape_bot(url)
    assert first == {"count": 3, "sum": 0.3008, "buckets": {"0.001": 2, "0.5": 1}}
    assert second is not None and second.backlog == 0
    assert deltas.update(second) == {"count": 1, "sum": 7.0, "buckets": {"+Inf": 1}}


def test_a_restarted_bot_starts_its_deltas_again():
    before, restarted, deltas = BotMetrics("test", 10), BotMetrics("test", 10), HistogramDelta(LOOP_LAG)
    before.event_loop_lag.observe(0.02)
    before.event_loop_lag.observe(0.02)
    restarted.event_loop_lag.observe(0.002)
    with serving(before) as url:
        deltas.update(scrape_bot(url))
    with serving(restarted) as url:
        after = deltas.update(scrape_bot(url))
    assert after == {"count": 1, "sum": 0.002, "buckets": {"0.0025": 1}}


def _with_lag(run: Path, in_slow_peak: dict[str, int], elsewhere: dict[str, int]) -> Path:
    """Give every sample a `loop_lag`: `in_slow_peak` during Thursday's peak, `elsewhere` otherwise."""
    [peak] = [s for s in RunFolder.open(run).peak_segments() if s.day == THURSDAY]
    path = run / "samples.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for line in lines:
        buckets = in_slow_peak if peak.sim_start <= line["sim"] <= peak.sim_end else elsewhere
        line["loop_lag"] = {"count": sum(buckets.values()), "sum": 0.0, "buckets": buckets}
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return run


def _slowness(run: Path) -> Finding:
    return {f.id: f for f in analyse(run).data.findings}["slowness.p99"]


def _evidence(finding: Finding) -> str:
    return " | ".join(e.text for e in finding.evidence)


def test_a_blocked_loop_in_the_slow_window_is_named_as_a_cause(tmp_path: Path):
    run = write_run(tmp_path / "run", SyntheticRun(slow_peak_days=(THURSDAY,), cpu_overload_days=(THURSDAY,)))
    slow = _slowness(_with_lag(run, {"0.25": 3, "0.5": 1}, {"0.001": 4}))
    assert "the bot's event loop was blocked" in slow.cause
    assert "move CPU-heavy work off the event loop" in slow.action
    assert "event-loop lag while slow: p99 <= 500 ms, max <= 500 ms" in _evidence(slow)
    assert any(e.source == "samples.jsonl loop_lag" for e in slow.evidence)


def test_lag_outside_the_slow_window_does_not_count(tmp_path: Path):
    run = write_run(tmp_path / "run", SyntheticRun(slow_peak_days=(THURSDAY,)))
    slow = _slowness(_with_lag(run, {"0.001": 3, "0.005": 1}, {"2.5": 4}))
    assert "event loop" not in slow.cause and slow.cause.startswith("no saturated resource")
    assert "p99 <= 5 ms, max <= 5 ms" in _evidence(slow) and "not blocked" in _evidence(slow)


def test_no_lag_in_the_samples_means_no_lag_evidence_and_says_so(tmp_path: Path):
    slow = _slowness(write_run(tmp_path / "run", SyntheticRun(slow_peak_days=(THURSDAY,))))
    assert "bot event-loop lag while slow" not in _evidence(slow) and "event loop" not in slow.cause
    assert "no event-loop lag from the bot in the slow windows: a blocked loop is not checked" in _evidence(slow)

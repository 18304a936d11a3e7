"""The reference bot's event-loop lag, end to end through the shared runs: the bot's probe, the sampler's
`loop_lag` in samples.jsonl, and the slowness diagnosis. The faults run's spike burns CPU on the bot's
loop (8 ms per token, 8 workers), so its loop is blocked; the compressed week's bot barely works."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from harness.analysis.diagnose.slowness import bucket_at, loop_lag_buckets
from harness.analysis.report.builder import analyse
from harness.core.contract import LATENCY_QUANTILE, LOOP_LAG_BLOCKED_SECONDS
from harness.core.simclock import parse_sim

pytestmark = [pytest.mark.e2e, pytest.mark.solo]

SPIKE = (parse_sim("Tue 10:00:20"), parse_sim("Tue 10:02:15"))  # runs_faults.py: spike_at_s 20 .. duration_s 135
WHOLE_RUN = (-math.inf, math.inf)


def test_the_cpu_burning_spike_blocks_the_loop_and_the_diagnosis_says_so(faults_run: Path) -> None:
    lag = loop_lag_buckets(faults_run / "samples.jsonl", [SPIKE])
    assert lag.total() > 100, f"the probe should have run about 4 times a second in the spike: {dict(lag)}"
    p99 = bucket_at(lag, LATENCY_QUANTILE)
    assert p99 > LOOP_LAG_BLOCKED_SECONDS, f"spike lag p99 {p99} s: {dict(lag)}"
    slow = {f.id: f.as_dict() for f in analyse(faults_run).data.findings}["slowness.p99"]
    assert "the bot's event loop was blocked" in slow["cause"], slow["cause"]
    assert any(
        "event-loop lag while slow" in e["text"] and "blocked by work on the loop" in e["text"]
        for e in slow["evidence"]
    ), slow["evidence"]


def test_the_clean_week_keeps_the_loop_free(week_run: Path) -> None:
    lag = loop_lag_buckets(week_run / "samples.jsonl", [WHOLE_RUN])
    assert lag.total() > 100, f"the probe should have run about 4 times a second: {dict(lag)}"
    p99 = bucket_at(lag, LATENCY_QUANTILE)
    assert p99 <= LOOP_LAG_BLOCKED_SECONDS, f"week lag p99 {p99} s: {dict(lag)}"
    slow = {f.id: f.as_dict() for f in analyse(week_run).data.findings}.get("slowness.p99")
    if slow is not None:  # a breach on a shared machine must not be blamed on the bot's loop
        assert "event loop was blocked" not in slow["cause"], slow["cause"]

"""Compare a run's SLAs with a baseline run's, knowing the noise.

"Worse" follows each SLA's direction, on the figures the SLAs judge: the bot's own CPU and memory,
never the host's. Availability is compared on its complement (the failure rate), so that 99.99 % ->
99.90 % reads as ten times worse, not 0.09 % worse. A change counts only when it exceeds both the
relative tolerance and the absolute floor of its unit (contract.NOISE: two identical runs differ by
milliseconds and points of a core from scheduling alone); where both runs have enough windows with
messages, the 95 % bootstrap interval of the worsening (windows resampled in blocks, both runs) must
also exclude zero. A pass that became a fail is always a regression. An SLA a busy rig can push
(latency, availability, loss) is compared, when either run's rig did not hold everywhere, on the
windows where it held (`healthy_value`, healthy blocks) if both runs have enough of them: a worsening
there is the bot's. Without enough of them it is compared on all windows, and a worsening found that
way is `rig_bound`, as is a pass that only turned into a rig-bound fail: it makes the verdict
INCONCLUSIVE, not FAIL.

Two runs of different scenarios, targets or durations are not comparable: `compare` refuses them
(BaselineMismatch, a usage error) unless told to compare anyway, and then lists the differences.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.analysis.report.load import Block
from harness.analysis.report.model import Change, Comparison, ComparisonRow, Op, ReportData, SlaVerdict
from harness.analysis.report.result import Report
from harness.core import histograms
from harness.core.contract import AVAILABILITY, LATENCY_QUANTILE, NOISE

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

DEFAULT_TOLERANCE = NOISE.relative
DURATION_SLACK = 0.05  # planned wall durations this close are the same duration
SCENARIO_SECTIONS = ("shape", "compression", "load", "mix", "messages", "abuse", "faults")  # what the load is


class BaselineMismatch(ValueError):
    """The baseline ran something else (scenario, target, duration): its numbers are not comparable."""


def _badness(value: float, op: Op) -> float:
    """A number that grows as the SLA gets worse."""
    return 1 - value if op == ">=" else value


def floor(sla_id: str) -> float:
    """The absolute noise floor of an SLA, in its badness units."""
    if sla_id.startswith("p99_"):
        return NOISE.latency_s
    return {
        AVAILABILITY.name: NOISE.availability,
        "cpu": NOISE.cpu_cores,
        "memory": NOISE.memory_share,
        "message_loss": NOISE.lost_messages,
    }.get(sla_id, 0.0)


# --- bootstrap ----------------------------------------------------------------------------------------
def _p99s(weights: np.ndarray, matrix: np.ndarray, values: np.ndarray) -> np.ndarray:
    """P99 of each resample (a row of weights over blocks), as LatencySummary computes it."""
    counts = weights @ matrix
    cumulative = np.cumsum(counts, axis=1)
    totals = cumulative[:, -1]
    target = np.maximum((LATENCY_QUANTILE * totals + 0.5).astype(np.int64), 1)
    index = (cumulative < target[:, None]).sum(axis=1)
    out = values[np.minimum(index, len(values) - 1)]
    return np.where(totals > 0, out, np.nan)


def _matrix(blocks: Sequence[Block], columns: dict[int, int]) -> np.ndarray:
    matrix = np.zeros((len(blocks), len(columns)), dtype=np.float64)
    for row, block in enumerate(blocks):
        for index, count in block.counts.items():
            matrix[row, columns[index]] = count
    return matrix


def bootstrap_worsening(sla_id: str, now: Sequence[Block], base: Sequence[Block]) -> list[float] | None:
    """The NOISE.confidence interval of (badness now - badness in the baseline), resampling each run's
    blocks with replacement; None when either run has too few blocks, or for SLAs not kept per block."""
    if min(len(now), len(base)) < NOISE.bootstrap_min_blocks or sla_id not in ("p99_overall", AVAILABILITY.name):
        return None
    rng = np.random.default_rng(0)  # the same runs compare the same way every time
    draws = NOISE.bootstrap_resamples

    def weights(n: int) -> np.ndarray:
        return rng.multinomial(n, np.full(n, 1.0 / n), size=draws).astype(np.float64)

    w_now, w_base = weights(len(now)), weights(len(base))
    if sla_id == AVAILABILITY.name:

        def failure(w: np.ndarray, blocks: Sequence[Block]) -> np.ndarray:
            sent = w @ np.array([b.sent for b in blocks], dtype=np.float64)
            ok = w @ np.array([b.replies_ok for b in blocks], dtype=np.float64)
            return 1 - ok / np.maximum(sent, 1)

        diff = failure(w_now, now) - failure(w_base, base)
    else:
        indices = sorted({i for b in (*now, *base) for i in b.counts})
        if not indices:
            return None
        columns = {index: col for col, index in enumerate(indices)}
        template = histograms.new_histogram()
        values = np.array(
            [template.get_highest_equivalent_value(template.get_value_from_index(i)) / 1e6 for i in indices]
        )
        diff = _p99s(w_now, _matrix(now, columns), values) - _p99s(w_base, _matrix(base, columns), values)
    diff = diff[~np.isnan(diff)]
    if not len(diff):
        return None
    tail = (1 - NOISE.confidence) / 2 * 100
    low, high = np.percentile(diff, [tail, 100 - tail])
    return [float(low), float(high)]


# --- rows ---------------------------------------------------------------------------------------------
def _change(worse: float, minimum: float, interval: list[float] | None) -> Change:
    if worse > minimum and (interval is None or interval[0] > 0):
        return "worse"
    if worse < -minimum and (interval is None or interval[1] < 0):
        return "better"
    return "within noise"


def _judged_value(sla: SlaVerdict, on_healthy: bool) -> float | None:
    """The value to compare: where the rig held, when it did not everywhere in this run (an SLA judged
    again there has a healthy_status), else the SLA's own value."""
    return sla.healthy_value if on_healthy and sla.healthy_status is not None else sla.value


def _row(sla: SlaVerdict, base: SlaVerdict, tolerance: float, now: Report, then: Report) -> ComparisonRow:
    rig_held = _rig_held(now) and _rig_held(then)
    # where the rig held, when it did not everywhere and both runs have enough of it to tell noise apart
    on_healthy = (
        sla.rig_sensitive
        and not rig_held
        and min(len(_blocks(now, True)), len(_blocks(then, True))) >= NOISE.bootstrap_min_blocks
    )
    value, baseline = _judged_value(sla, on_healthy), _judged_value(base, on_healthy)
    delta = relative_worsening = minimum = interval = None
    change: Change = "no data"
    if "too_few" in (sla.status, base.status):
        change = "too few"  # a P99 of a handful of replies is their slowest: comparing two would flap
    elif value is not None and baseline is not None:
        delta = value - baseline
        base_bad = _badness(baseline, base.op)
        worse = _badness(value, sla.op) - base_bad
        relative_worsening = worse / base_bad if base_bad else None
        minimum = max(tolerance * abs(base_bad), floor(sla.id))
        interval = bootstrap_worsening(sla.id, _blocks(now, on_healthy), _blocks(then, on_healthy))
        change = _change(worse, minimum, interval)
    flipped = base.status == "pass" and sla.status == "fail"
    regression = change == "worse" or flipped
    return ComparisonRow(
        id=sla.id,
        name=sla.name,
        unit=sla.unit,
        value=value,
        baseline=baseline,
        status=sla.status,
        baseline_status=base.status,
        delta=delta,
        relative_worsening=relative_worsening,
        regression=regression,
        change=change,
        min_difference=minimum,
        interval=interval,
        # a regression the rig can explain: measured through a rig that did not hold, or only a pass that
        # turned into a fail where the rig did not hold
        rig_bound=regression
        and sla.rig_sensitive
        and ((change == "worse" and not rig_held and not on_healthy) or (change != "worse" and sla.rig_bound)),
        where_rig_held=on_healthy,
    )


def _rig_held(report: Report) -> bool:
    rig = report.data.rig
    return rig is None or rig.unhealthy_windows == 0


def _blocks(report: Report, healthy_only: bool) -> list[Block]:
    return [b for b in report.series.blocks if b.healthy or not healthy_only]


# --- comparable runs ----------------------------------------------------------------------------------
def _scenario(run_dir: str) -> dict[str, Any]:
    try:
        return tomllib.loads((Path(run_dir) / "scenario.toml").read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def _target(scenario: dict[str, Any]) -> dict[str, Any]:
    """What the bot under test is: its kind and how it is reached; not its engine knobs or environment
    (a changed bot is what a baseline comparison is for)."""
    target = scenario.get("target") or {}
    return {k: target.get(k) for k in ("kind", "command", "platform_url")}


def mismatches(current: ReportData, baseline: ReportData) -> list[str]:
    """How the two runs differ in what they ran: scenario, its load, target, planned duration."""
    out: list[str] = []
    if current.run.scenario != baseline.run.scenario:
        out.append(f"scenario {baseline.run.scenario!r} in the baseline, {current.run.scenario!r} now")
    now, then = _scenario(current.run.dir), _scenario(baseline.run.dir)
    if now and then:
        changed = [f"[{key}]" for key in SCENARIO_SECTIONS if now.get(key) != then.get(key)]
        if changed:
            out.append(f"the scenario's {', '.join(changed)} differ")
        if _target(now) != _target(then):
            out.append(f"target {_target(then)} in the baseline, {_target(now)} now")
    planned = (current.manifest.get("planned_wall_s"), baseline.manifest.get("planned_wall_s"))
    if all(isinstance(p, (int, float)) and p > 0 for p in planned):
        now_s, then_s = (float(p) for p in planned)  # type: ignore[arg-type]
        if abs(now_s - then_s) > DURATION_SLACK * then_s:
            out.append(f"planned duration {then_s:.0f} s in the baseline, {now_s:.0f} s now")
    return out


def compare(
    current: Report, baseline: Report, tolerance: float | None = None, *, allow_mismatch: bool = False
) -> Comparison:
    """The comparison of `current` against `baseline`; BaselineMismatch when they ran different things
    (unless `allow_mismatch`: then compared, the differences listed); ValueError for a negative tolerance."""
    tol = DEFAULT_TOLERANCE if tolerance is None else tolerance
    if not math.isfinite(tol) or tol < 0:
        raise ValueError(f"tolerance must be a finite number >= 0, got {tol!r}")
    now, base = current.data, baseline.data
    different = mismatches(now, base)
    if different and not allow_mismatch:
        raise BaselineMismatch(
            f"the baseline {base.run.name} is not comparable: {'; '.join(different)} "
            "(compare anyway with --allow-mismatch)"
        )
    base_by_id = {s.id: s for s in base.slas}
    rows = [_row(sla, base_by_id[sla.id], tol, current, baseline) for sla in now.slas if sla.id in base_by_id]
    return Comparison(
        baseline_dir=base.run.dir,
        baseline_verdict=base.verdict,
        tolerance=tol,
        slas=rows,
        not_in_baseline=[sla.id for sla in now.slas if sla.id not in base_by_id],
        mismatches=different,
    )

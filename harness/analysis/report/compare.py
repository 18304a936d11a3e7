"""Compare a run's SLAs with a baseline run: deltas, and regressions beyond a tolerance.

"Worse" follows each SLA's direction. Availability is compared on its complement (the failure rate)
so that 99.99 % -> 99.90 % reads as ten times worse, not 0.09 % worse. A pass that became a fail is
always a regression, whatever the tolerance.
"""

from __future__ import annotations

from harness.analysis.report.model import Comparison, ComparisonRow, Op, ReportData, SlaVerdict

DEFAULT_TOLERANCE = 0.10  # 10 % relative worsening allowed


def _badness(value: float, op: Op) -> float:
    """A number that grows as the SLA gets worse."""
    return 1 - value if op == ">=" else value


def _row(sla: SlaVerdict, base: SlaVerdict, tolerance: float) -> ComparisonRow:
    delta = relative_worsening = None
    regression = False
    if sla.value is not None and base.value is not None:
        delta = sla.value - base.value
        base_bad = _badness(base.value, base.op)
        worse = _badness(sla.value, sla.op) - base_bad
        relative_worsening = worse / base_bad if base_bad else (0.0 if worse <= 0 else None)
        regression = worse > tolerance * abs(base_bad) and worse > 0
    return ComparisonRow(
        id=sla.id,
        name=sla.name,
        unit=sla.unit,
        value=sla.value,
        baseline=base.value,
        status=sla.status,
        baseline_status=base.status,
        delta=delta,
        relative_worsening=relative_worsening,
        regression=regression or (base.status == "pass" and sla.status == "fail"),
    )


def compare(current: ReportData, baseline: ReportData, tolerance: float | None = None) -> Comparison:
    tol = DEFAULT_TOLERANCE if tolerance is None else tolerance
    base_by_id = {s.id: s for s in baseline.slas}
    return Comparison(
        baseline_dir=baseline.run.dir,
        baseline_verdict=baseline.verdict,
        tolerance=tol,
        slas=[_row(sla, base_by_id[sla.id], tol) for sla in current.slas if sla.id in base_by_id],
        not_in_baseline=[sla.id for sla in current.slas if sla.id not in base_by_id],
    )

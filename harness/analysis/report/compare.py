"""Compare a run's SLAs with a baseline run: deltas, and regressions beyond a tolerance.

"Worse" follows each SLA's direction. Availability is compared on its complement (the failure rate)
so that 99.99 % -> 99.90 % reads as ten times worse, not 0.09 % worse. A pass that became a fail is
always a regression, whatever the tolerance.
"""

from __future__ import annotations

from typing import Any

DEFAULT_TOLERANCE = 0.10  # 10 % relative worsening allowed


def _badness(sla: dict[str, Any]) -> float | None:
    """A number that grows as the SLA gets worse."""
    value = sla["value"]
    if value is None:
        return None
    return 1 - value if sla["op"] == ">=" else value


def compare(current: dict[str, Any], baseline: dict[str, Any], tolerance: float | None = None) -> dict[str, Any]:
    tol = DEFAULT_TOLERANCE if tolerance is None else tolerance
    base_by_id = {s["id"]: s for s in baseline["slas"]}
    rows, missing = [], []
    for sla in current["slas"]:
        base = base_by_id.get(sla["id"])
        if base is None:
            missing.append(sla["id"])
            continue
        now_bad, base_bad = _badness(sla), _badness(base)
        row: dict[str, Any] = {
            "id": sla["id"],
            "name": sla["name"],
            "unit": sla["unit"],
            "value": sla["value"],
            "baseline": base["value"],
            "status": sla["status"],
            "baseline_status": base["status"],
            "delta": None,
            "relative_worsening": None,
            "regression": False,
        }
        if now_bad is not None and base_bad is not None:
            row["delta"] = sla["value"] - base["value"]
            worse = now_bad - base_bad
            row["relative_worsening"] = worse / base_bad if base_bad else (0.0 if worse <= 0 else None)
            row["regression"] = worse > tol * abs(base_bad) and worse > 0
        row["regression"] = row["regression"] or (base["status"] == "pass" and sla["status"] == "fail")
        rows.append(row)
    return {
        "baseline_dir": baseline["run"]["dir"],
        "baseline_verdict": baseline["verdict"],
        "tolerance": tol,
        "regressions": sum(r["regression"] for r in rows),
        "slas": rows,
        "not_in_baseline": missing,
    }

"""Alerts (alerts.jsonl) as intervals in simulated time, and the ledger (ledger.json / ledger.jsonl).

The orchestrator polls Prometheus, so an alert may be logged as firing many times before it resolves:
consecutive firings of one alert (same name and labels) are one interval. The final ledger is the
emulator's ledger.json; if the run died before writing it, the last ledger.jsonl snapshot stands in
(and the report says so). API responses by status over time come from the snapshots' deltas.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from reports.runfolder import RunFolder

SERIES_BUCKET_SIM_S = 3600


def _alert_key(a: dict[str, Any]) -> str:
    labels = {k: v for k, v in (a.get("labels") or {}).items() if k not in ("alertstate",)}
    return json.dumps([a.get("alertname"), labels], sort_keys=True)


def aggregate_alerts(folder: RunFolder, run_end_sim: float | None, run_end_wall: float | None) -> list[dict[str, Any]]:
    open_: dict[str, dict[str, Any]] = {}
    done: list[dict[str, Any]] = []
    for a in folder.iter_jsonl("alerts.jsonl", required=False):
        key, state = _alert_key(a), a.get("state")
        if state == "firing" and key not in open_:
            labels = a.get("labels") or {}
            open_[key] = {
                "alertname": a.get("alertname", "?"), "severity": a.get("severity", labels.get("severity")),
                "labels": labels, "started_sim": a.get("sim"), "started_wall": a.get("wall"),
                "ended_sim": None, "ended_wall": None, "still_firing": True,
            }
        elif state == "resolved" and key in open_:
            interval = open_.pop(key)
            interval.update(ended_sim=a.get("sim"), ended_wall=a.get("wall"), still_firing=False)
            done.append(interval)
        elif state not in ("firing", "resolved"):
            folder.warnings.append(f"alerts.jsonl: unknown alert state {state!r} for {a.get('alertname')}")
    for interval in open_.values():
        interval.update(ended_sim=run_end_sim, ended_wall=run_end_wall)
        done.append(interval)
    for interval in done:
        interval["duration_sim_s"] = _span(interval["started_sim"], interval["ended_sim"])
        interval["duration_wall_s"] = _span(interval["started_wall"], interval["ended_wall"])
    done.sort(key=lambda i: (i["started_sim"] is None, i["started_sim"] or 0.0))
    return done


def _span(start: Any, end: Any) -> float | None:
    return None if start is None or end is None else max(float(end) - float(start), 0.0)


def _status_counts(ledger: dict[str, Any]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for r in ledger.get("api_responses") or []:
        counts[str(r.get("status"))] += int(r.get("count", 0))
    return counts


@dataclass
class LedgerResult:
    final: dict[str, Any] | None = None
    source: str | None = None
    status_series: list[dict[str, Any]] = field(default_factory=list)  # non-2xx API responses per sim hour
    statuses: list[str] = field(default_factory=list)


def aggregate_ledger(folder: RunFolder) -> LedgerResult:
    result = LedgerResult()
    previous: Counter[str] = Counter()
    last: dict[str, Any] | None = None
    buckets: dict[float, Counter[str]] = {}
    for snap in folder.iter_jsonl("ledger.jsonl", required=False):
        ledger = snap.get("ledger")
        if not isinstance(ledger, dict):
            continue
        last = ledger
        counts = _status_counts(ledger)
        delta = counts - previous  # Counter subtraction keeps positives: a restart never goes negative
        previous = counts
        errors = Counter({s: n for s, n in delta.items() if not s.startswith("2")})
        if errors and snap.get("sim") is not None:
            key = float(snap["sim"]) // SERIES_BUCKET_SIM_S * SERIES_BUCKET_SIM_S
            buckets.setdefault(key, Counter()).update(errors)
    result.statuses = sorted({s for c in buckets.values() for s in c})
    result.status_series = [{"sim": k, **dict(c)} for k, c in sorted(buckets.items())]
    final = folder.read_json("ledger.json") if folder.exists("ledger.json") else None
    if final is not None:
        result.final, result.source = final, "ledger.json"
    elif last is not None:
        result.final, result.source = last, "last ledger.jsonl snapshot (ledger.json missing)"
        folder.problems.append("ledger.json is missing; message fates are from the last ledger.jsonl snapshot")
    else:
        folder.problems.append("ledger.json and ledger.jsonl are missing: message loss is unknown")
    return result

"""Alerts (alerts.jsonl) as intervals in simulated time, and the ledger (ledger.json / ledger.jsonl).

The orchestrator polls Prometheus, so an alert may be logged as firing many times before it resolves:
consecutive firings of one alert (same name and labels) are one interval. Prometheus evaluates in wall
time, so in a compressed week an alert that fires at a peak and resolves seconds later, in the
fast-forward after it, spans hours of simulated time it never saw: its headline duration counts only
the played simulated time up to the first fast-forward, and the rest is reported apart.

The final ledger is the emulator's ledger.json; if the run died before writing it, the last
ledger.jsonl snapshot stands in (and the report says so). API responses by status over time come from
the snapshots' deltas.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.analysis.report.model import ActivitySpan, Alert, ApiErrorSpan, RefusalRow
from harness.core.runfolder.reader import RunFolder
from harness.core.timemap import Segment


def _alert_key(a: dict[str, Any]) -> str:
    labels = {k: v for k, v in (a.get("labels") or {}).items() if k not in ("alertstate",)}
    return json.dumps([a.get("alertname"), labels], sort_keys=True)


def aggregate_alerts(folder: RunFolder, run_end_sim: float | None, run_end_wall: float | None) -> list[Alert]:
    open_: dict[str, dict[str, Any]] = {}
    done: list[dict[str, Any]] = []
    for a in folder.iter_jsonl("alerts.jsonl", required=False):
        key, state = _alert_key(a), a.get("state")
        if state == "firing" and key not in open_:
            labels = a.get("labels") or {}
            open_[key] = {
                "alertname": a.get("alertname", "?"),
                "severity": a.get("severity", labels.get("severity")),
                "labels": labels,
                "started_sim": a.get("sim"),
                "started_wall": a.get("wall"),
                "ended_sim": None,
                "ended_wall": None,
                "still_firing": True,
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
        interval.update(played_split(folder.segments, interval["started_sim"], interval["ended_sim"]))
    done.sort(key=lambda i: (i["started_sim"] is None, i["started_sim"] or 0.0))
    return [Alert(**interval) for interval in done]


def _span(start: Any, end: Any) -> float | None:
    return None if start is None or end is None else max(float(end) - float(start), 0.0)


def played_split(segments: Sequence[Segment], start_sim: Any, end_sim: Any) -> dict[str, Any]:
    """Split an alert's simulated span [start_sim, end_sim] at the first fast-forward it ran into:
    `duration_played_sim_s` (played time from firing up to it: the duration worth reading),
    `fast_forwarded_sim_s` (time skipped through) and `played_after_fast_forward_sim_s` (later peaks it stayed
    active through: a fast-forward lasts seconds of wall time, shorter than the rules' wall-time windows, so
    those still held the earlier peak's data). Without a time map nothing is known to be fast-forwarded:
    the whole span counts as played and the split is None."""
    span = _span(start_sim, end_sim)
    if span is None or not segments:
        return {
            "duration_played_sim_s": span,
            "fast_forwarded_sim_s": None,
            "played_after_fast_forward_sim_s": None,
            "crossed_fast_forward": None,
        }
    start, end = float(start_sim), float(end_sim)
    skipped = later = 0.0
    for seg in segments:
        overlap = min(end, seg.sim_end) - max(start, seg.sim_start)
        if overlap <= 0:
            continue
        if seg.fast_forwarded:
            skipped += overlap
        elif skipped:
            later += overlap
    return {
        "duration_played_sim_s": max(span - skipped - later, 0.0),
        "fast_forwarded_sim_s": skipped,
        "played_after_fast_forward_sim_s": later,
        "crossed_fast_forward": skipped > 0,
    }


def _response_counts(ledger: dict[str, Any]) -> Counter[tuple[str, str, str]]:
    counts: Counter[tuple[str, str, str]] = Counter()
    for r in ledger.get("api_responses") or []:
        counts[(str(r.get("api")), str(r.get("status")), str(r.get("code") or ""))] += int(r.get("count", 0))
    return counts


@dataclass
class Span:
    """When something was seen in the ledger snapshots: first / last simulated time, and the peak rate."""

    count: int = 0
    first_sim: float | None = None
    last_sim: float | None = None
    peak_per_minute: float = 0.0

    def add(self, n: int, since_sim: float | None, sim: float | None, wall_step: float | None) -> None:
        """n more seen in the snapshot at `sim`, so between the previous snapshot (`since_sim`) and it."""
        self.count += n
        if sim is not None:
            self.first_sim = (since_sim if since_sim is not None else sim) if self.first_sim is None else self.first_sim
            self.last_sim = sim
        if wall_step:
            self.peak_per_minute = max(self.peak_per_minute, n / wall_step * 60)

    def summary(self) -> ActivitySpan:
        return ActivitySpan(
            count=self.count,
            first_sim=self.first_sim,
            last_sim=self.last_sim,
            peak_per_minute=round(self.peak_per_minute, 2),
        )


@dataclass
class LedgerResult:
    final: dict[str, Any] | None = None
    source: str | None = None
    status_series: list[dict[str, Any]] = field(default_factory=list)  # non-2xx API responses per chart bucket
    statuses: list[str] = field(default_factory=list)
    error_spans: dict[tuple[str, str, str], Span] = field(default_factory=dict)  # (api, status, code)
    login_failure_spans: dict[str, Span] = field(default_factory=dict)  # platform credential checks, by api

    def api_errors(self) -> list[ApiErrorSpan]:
        return [
            ApiErrorSpan(
                api=api, status=int(status) if status.isdigit() else status, code=code, **span.summary().model_dump()
            )
            for (api, status, code), span in sorted(self.error_spans.items())
        ]

    def login_failures(self) -> dict[str, ActivitySpan]:
        return {api: span.summary() for api, span in self.login_failure_spans.items()}

    def refusals(self, folder: RunFolder) -> list[RefusalRow] | None:
        """The final ledger's refused calls by class, the bot's first, then by count; None when the
        ledger does not count refusals (an emulator older than the count, or no ledger)."""
        raw = (self.final or {}).get("refusals")
        if not isinstance(raw, list):
            return None
        rows = []
        for i, r in enumerate(raw):
            try:
                rows.append(
                    RefusalRow(
                        api=str(r["api"]),
                        method=str(r["method"]),
                        route=str(r["route"]),
                        status=int(r["status"]),
                        code=str(r.get("code") or ""),
                        cause=str(r["cause"]),
                        count=int(r["count"]),
                        first_sim=_sim(folder, r.get("first_wall")),
                        last_sim=_sim(folder, r.get("last_wall")),
                        reason=str(r.get("reason") or ""),
                    )
                )
            except (KeyError, TypeError, ValueError) as exc:
                folder.warnings.append(f"{self.source}: refusals[{i}] is malformed ({exc!r}); left out")
        return sorted(rows, key=lambda r: (r.cause != "bot", -r.count, r.api, r.status, r.code))


def _sim(folder: RunFolder, unix: Any) -> float | None:
    return folder.sim_at_unix(float(unix)) if isinstance(unix, (int, float)) and unix else None


def aggregate_ledger(folder: RunFolder) -> LedgerResult:
    result = LedgerResult()
    bucket_s = folder.bucket_s()
    previous: Counter[tuple[str, str, str]] = Counter()
    previous_logins: Counter[str] = Counter()
    previous_wall: float | None = None
    previous_sim: float | None = None
    last: dict[str, Any] | None = None
    buckets: dict[float, Counter[str]] = {}
    for snap in folder.iter_jsonl("ledger.jsonl", required=False):
        ledger = snap.get("ledger")
        if not isinstance(ledger, dict):
            continue
        last = ledger
        sim, wall = snap.get("sim"), snap.get("wall")
        step = float(wall) - previous_wall if wall is not None and previous_wall is not None else None
        previous_wall = float(wall) if wall is not None else previous_wall
        since, previous_sim = previous_sim, sim if sim is not None else previous_sim
        counts = _response_counts(ledger)
        delta = counts - previous  # Counter subtraction keeps positives: a restart never goes negative
        previous = counts
        errors: Counter[str] = Counter()
        for key, n in delta.items():
            if not key[1].startswith("2"):
                errors[key[1]] += n
                result.error_spans.setdefault(key, Span()).add(n, since, sim, step)
        logins = Counter({k: int(v) for k, v in (ledger.get("login_failures") or {}).items()})
        for api, n in (logins - previous_logins).items():
            result.login_failure_spans.setdefault(api, Span()).add(n, since, sim, step)
        previous_logins = logins
        if errors and sim is not None:
            bucket = float(sim) // bucket_s * bucket_s
            buckets.setdefault(bucket, Counter()).update(errors)
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

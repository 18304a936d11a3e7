"""Synthetic run folders that follow docs/run-folder.md, for tests and for harness.bench.report.

A week of weekday / weekend load (peak at 10:00, lunch dip, afternoon shoulder), compressed (each
day's peak hour played for `peak_wall_s`, the rest fast-forwarded) or real time (wall = sim, a true
7-day soak). Faults make the numbers breach on purpose. Latency histograms come from a small pool of
pre-built ones so that generating a real-time week takes seconds, while the report still has to
decode and merge every window's histogram.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from harness.core import histograms
from harness.core.simclock import DAY_S
from harness.core.version import __version__

PEAK_START_H, PEAK_END_H = 9.5, 10.5
RUN_START = 1_764_000_000.0
SCOPE_OF = {
    "card_streaming": "Card.Streaming.Write",
    "card_create": "Card.Instance.Write",
    "robot_send": "qyapi_robot_sendmsg",
}


@dataclass
class SyntheticRun:
    days: int = 7
    real_time: bool = False
    peak_wall_s: float = 120.0  # wall seconds each peak hour is played (compressed runs)
    fast_wall_s: float = 30.0  # wall seconds for each off-peak stretch (compressed runs)
    window_wall_s: float = 10.0
    sample_every_wall_s: float = 5.0
    ledger_every_wall_s: float = 30.0
    peak_rate: float = 80.0  # messages per wall second at the 10:00 peak
    peak_users: int = 400
    base_latency_s: float = 0.08
    seed: int = 7
    status: str = "completed"
    abort_reason: str | None = None
    # faults
    slow_peak_days: tuple[int, ...] = ()  # latency x8 in these days' peak windows
    cpu_overload_days: tuple[int, ...] = ()  # bot CPU near one core in these days' peaks
    backlog_days: tuple[int, ...] = ()  # bot backlog above the alert line in these days' peaks
    overrun_alert_days: tuple[int, ...] = ()  # an alert fires near these days' peak ends, resolves 5 h later
    error_ratio: float = 0.0  # share of messages that time out
    lost: dict[str, int] = field(default_factory=dict)  # lost_by_stage
    api_errors: dict[tuple[str, int, str], int] = field(default_factory=dict)  # (api, status, code) -> count
    faults_applied: dict[str, int] = field(default_factory=dict)  # the emulator's fault hits (ledger)
    login_abuse_days: tuple[int, ...] = ()  # failed admin logins at 20 per minute in these days' peaks
    bot_log: bool = True  # logs/bot.log with a sample of message events plus each fault's events
    thresholds: dict[str, float] = field(default_factory=dict)
    manifest_extra: dict[str, Any] = field(default_factory=dict)
    omit: tuple[str, ...] = ()  # files not to write (an interrupted run)
    stop_after_days: float | None = None  # stop writing windows / samples early (a killed run)


def load_factor(sim: float) -> float:
    """Offered load as a share of the weekly peak at simulated time `sim`."""
    day, hour = int(sim // DAY_S) % 7, (sim % DAY_S) / 3600

    def bump(centre: float, width: float) -> float:
        return math.exp(-(((hour - centre) / width) ** 2))

    f = 0.03 + 0.97 * bump(10, 0.9) + 0.55 * bump(15, 1.8) - 0.25 * bump(12.5, 0.5)
    return max(f * (0.3 if day >= 5 else 1.0), 0.02)


def segments(spec: SyntheticRun) -> list[dict[str, Any]]:
    out, wall = [], 0.0
    for day in range(spec.days):
        base = day * DAY_S
        for start_h, end_h, kind in (
            (0, PEAK_START_H, "fast"),
            (PEAK_START_H, PEAK_END_H, "peak"),
            (PEAK_END_H, 24, "fast"),
        ):
            sim_start, sim_end = base + start_h * 3600, base + end_h * 3600
            span = sim_end - sim_start if spec.real_time else (spec.peak_wall_s if kind == "peak" else spec.fast_wall_s)
            out.append(
                {
                    "wall_start": wall,
                    "wall_end": wall + span,
                    "sim_start": sim_start,
                    "sim_end": sim_end,
                    "day": day,
                    "kind": kind,
                }
            )
            wall += span
    return out


def wall_to_sim(segs: list[dict[str, Any]], wall: float) -> float:
    for s in segs:
        if s["wall_start"] <= wall < s["wall_end"] or s is segs[-1]:
            share = (wall - s["wall_start"]) / (s["wall_end"] - s["wall_start"])
            return s["sim_start"] + min(max(share, 0.0), 1.0) * (s["sim_end"] - s["sim_start"])
    return 0.0


def sim_to_wall(segs: list[dict[str, Any]], sim: float) -> float:
    s = next((s for s in segs if s["sim_start"] <= sim < s["sim_end"]), segs[-1])
    share = (sim - s["sim_start"]) / (s["sim_end"] - s["sim_start"])
    return s["wall_start"] + min(max(share, 0.0), 1.0) * (s["wall_end"] - s["wall_start"])


def _in_days_peak(sim: float, days: tuple[int, ...]) -> bool:
    hour = (sim % DAY_S) / 3600
    return int(sim // DAY_S) in days and PEAK_START_H <= hour < PEAK_END_H


class HistogramPool:
    """Encoded histograms keyed by (reply count level, slowness), a few variants each."""

    LEVELS, VARIANTS = 24, 4

    def __init__(self, spec: SyntheticRun, rng: random.Random) -> None:
        self.spec, self.rng, self.cache = spec, rng, {}

    def get(self, count: int, slow: bool) -> tuple[str, int]:
        level = min(self.LEVELS, max(1, round(count / self.top() * self.LEVELS)))
        key = (level, slow, self.rng.randrange(self.VARIANTS))
        if key not in self.cache:
            n = max(1, round(level / self.LEVELS * self.top()))
            hist = histograms.new_histogram()
            scale = self.spec.base_latency_s * (8 if slow else 1)
            for _ in range(n):
                histograms.record_seconds(hist, self.rng.lognormvariate(math.log(scale), 0.5))
            self.cache[key] = (histograms.encode(hist), n)
        return self.cache[key]

    def top(self) -> int:
        return max(1, round(self.spec.peak_rate * self.spec.window_wall_s))


def _windows(
    spec: SyntheticRun, segs: list[dict[str, Any]], rng: random.Random, end_wall: float
) -> Iterator[dict[str, Any]]:
    pool, wall = HistogramPool(spec, rng), 0.0
    while wall < end_wall - 1e-9:
        wall_end = min(wall + spec.window_wall_s, end_wall)
        sim, sim_end = wall_to_sim(segs, wall), wall_to_sim(segs, wall_end)
        f = load_factor(sim)
        offered = max(1, round(spec.peak_rate * f * (wall_end - wall)))
        timeouts = sum(1 for _ in range(offered) if rng.random() < spec.error_ratio) if spec.error_ratio else 0
        reply_hist, replies = pool.get(offered - timeouts, _in_days_peak(sim, spec.slow_peak_days))
        chunk_hist, _ = pool.get(offered - timeouts, False)
        yield {
            "wall_start": wall,
            "wall_end": wall_end,
            "sim_start": sim,
            "sim_end": sim_end,
            "users": round(spec.peak_users * f),
            "offered": replies + timeouts,
            "sent": replies + timeouts,
            "replies_ok": replies,
            "timeouts": timeouts,
            "errors": 0,
            "late_starts": 0,
            "errors_by_kind": {"no reply": timeouts} if timeouts else {},
            "reply_hist": reply_hist,
            "first_chunk_hist": chunk_hist,
        }
        wall = wall_end


def _samples(
    spec: SyntheticRun, segs: list[dict[str, Any]], rng: random.Random, end_wall: float
) -> Iterator[dict[str, Any]]:
    steps = int(end_wall / spec.sample_every_wall_s)
    for i in range(steps + 1):
        wall = i * spec.sample_every_wall_s
        sim = wall_to_sim(segs, wall)
        f = load_factor(sim)
        bot_cpu = 0.97 if _in_days_peak(sim, spec.cpu_overload_days) else 0.05 + 0.45 * f
        backlog = 180 if _in_days_peak(sim, spec.backlog_days) else round(8 * f)
        yield {
            "t": 1_764_000_000 + wall,
            "wall": wall,
            "sim": sim,
            "host": {"cpu": round(0.1 + 0.4 * f + rng.random() * 0.02, 4), "mem": round(0.42 + 0.05 * f, 4)},
            "procs": {
                "bot": {"cpu": round(bot_cpu, 4), "rss": 80e6 + 20e6 * f, "threads": 4, "fds": 40},
                "platform": {"cpu": round(0.1 + 0.3 * f, 4), "rss": 60e6, "threads": 2, "fds": 30},
            },
            "backlog": backlog,
        }


def _ledger(spec: SyntheticRun, sent: int, replied: int, share: float) -> dict[str, Any]:
    lost = {stage: round(n * share) for stage, n in spec.lost.items()}
    api = [{"api": "card_streaming", "status": 200, "code": "", "count": round(replied * 3 * share)}]
    api += [{"api": a, "status": st, "code": c, "count": round(n * share)} for (a, st, c), n in spec.api_errors.items()]
    return {
        "generated_at": 1_764_000_000.0,
        "reply_timeout_s": 60,
        "messages": {
            "sent": sent,
            "pushed": sent - lost.get("not_pushed", 0),
            "acked": sent,
            "redelivered": 0,
            "first_chunk": replied,
            "replied": replied,
            "lost": sum(lost.values()),
            "pending": 0,
            "duplicate_replies": 0,
        },
        "lost_by_stage": {k: lost.get(k, 0) for k in ("not_pushed", "not_acked", "no_reply", "reply_rejected")},
        "api_responses": api,
        "login_failures": {"gateway_open": 0, "access_token": 0},
        "connections": {"opened": 1, "closed": 0, "current": 1},
        "faults_applied": dict(spec.faults_applied),
        "lost_sample": [
            {
                "msgId": f"lost-{stage}-{k}",
                "clientMsgId": f"c-{stage}-{k}",
                "conversationId": "dm-1",
                "stage": stage,
                "sent_at": RUN_START + 100.0 + k,
                "pushed_at": None,
                "connectionId": "conn-1",
                "reason": f"synthetic {stage}",
            }
            for stage, n in spec.lost.items()
            for k in range(min(n, 20))
        ],
    }


def _jsonl(handle: IO[str], item: dict[str, Any]) -> None:
    handle.write(json.dumps(item, separators=(",", ":")) + "\n")


def write_run(run_dir: Path, spec: SyntheticRun | None = None) -> Path:
    """Write a synthetic run folder; returns its path."""
    spec = spec or SyntheticRun()
    rng = random.Random(spec.seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    segs = segments(spec)
    total_wall = segs[-1]["wall_end"]
    end_wall = total_wall
    if spec.stop_after_days is not None:
        end_wall = next(s["wall_start"] for s in segs if s["sim_start"] >= spec.stop_after_days * DAY_S)

    def want(name: str) -> bool:
        return name not in spec.omit

    if want("manifest.json"):
        manifest = {
            "scenario": "synthetic-week",
            "scenario_file": "scenarios/week.toml",
            "harness_version": __version__,
            "started_at": "2026-11-23T00:00:00+00:00",
            "ended_at": "2026-11-23T00:30:00+00:00",
            "status": spec.status,
            "abort_reason": spec.abort_reason,
            "machine": {"cpus": 2, "memory_bytes": 24 * 2**30, "python": "3.11"},
            "components": {"bot": {"pid": 4242, "command": "python -m reference_bot", "exit_code": 0}},
            "thresholds": spec.thresholds,
            "warnings": [],
            "generator_bound": False,
            "prometheus": {
                "available": True,
                "url": "http://127.0.0.1:9090",
                "targets": {"bot": "http://127.0.0.1:8081/metrics"},
            },
            "alertmanager": {"available": False, "reason": "alertmanager not found"},
            **spec.manifest_extra,
        }
        (run_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))
    if want("timemap.json"):
        (run_dir / "timemap.json").write_text(json.dumps({"run_start_unix": RUN_START, "segments": segs}))
    sent = replied = 0
    next_ledger = 0.0
    ledger_lines = []
    if want("windows.jsonl"):
        with (run_dir / "windows.jsonl").open("w") as out:
            for w in _windows(spec, segs, rng, end_wall):
                _jsonl(out, w)
                sent, replied = sent + w["sent"], replied + w["replies_ok"]
                if w["wall_end"] >= next_ledger:
                    ledger_lines.append((w["wall_end"], w["sim_end"], sent, replied))
                    next_ledger += spec.ledger_every_wall_s
    if want("samples.jsonl"):
        with (run_dir / "samples.jsonl").open("w") as out:
            for s in _samples(spec, segs, rng, end_wall):
                _jsonl(out, s)
    if want("ledger.jsonl"):
        with (run_dir / "ledger.jsonl").open("w") as out:
            for wall, sim, s_sent, s_replied in ledger_lines:
                _jsonl(out, {"wall": wall, "sim": sim, "ledger": _ledger(spec, s_sent, s_replied, wall / total_wall)})
    if want("ledger.json"):
        (run_dir / "ledger.json").write_text(json.dumps(_ledger(spec, sent, replied, end_wall / total_wall)))
    if spec.bot_log and want("logs/bot.log"):
        (run_dir / "logs").mkdir(exist_ok=True)
        with (run_dir / "logs" / "bot.log").open("w") as out:
            for event in sorted(_bot_events(spec, segs), key=lambda e: e["ts"]):
                _jsonl(out, event)
    if want("alerts.jsonl"):
        with (run_dir / "alerts.jsonl").open("w") as out:
            for alert in _alerts(spec, segs):
                _jsonl(out, alert)
    return run_dir


def _alerts(spec: SyntheticRun, segs: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    faults = (
        ("ChatbotP99LatencyHigh", "critical", spec.slow_peak_days),
        ("ChatbotCpuHigh", "warning", spec.cpu_overload_days),
        ("ChatbotBacklogHigh", "critical", spec.backlog_days),
    )
    for name, severity, days in faults:
        for s in segs:
            if s["kind"] == "peak" and s["day"] in days:
                span = s["wall_end"] - s["wall_start"]
                for state, share in (("firing", 0.2), ("resolved", 0.8)):
                    wall = s["wall_start"] + span * share
                    yield {
                        "wall": wall,
                        "sim": wall_to_sim(segs, wall),
                        "alertname": name,
                        "severity": severity,
                        "state": state,
                        "labels": {"alertname": name, "severity": severity},
                    }
    for day in spec.overrun_alert_days:  # a compressed week resolves it in the fast-forward after the peak
        base = day * DAY_S
        fired, resolved = base + (PEAK_END_H - 1 / 12) * 3600, base + (PEAK_END_H + 5) * 3600
        for state, sim in (("firing", fired), ("resolved", resolved)):
            yield {
                "wall": sim_to_wall(segs, sim),
                "sim": sim,
                "alertname": "HostCpuHigh",
                "severity": "warning",
                "state": state,
                "labels": {"alertname": "HostCpuHigh", "severity": "warning"},
            }


def _bot_events(spec: SyntheticRun, segs: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """A sample of ordinary message events, and the events each configured fault leaves in a bot log."""
    import datetime as dt

    def ev(wall: float, name: str, **fields: Any) -> dict[str, Any]:
        ts = dt.datetime.fromtimestamp(RUN_START + wall, dt.timezone.utc).isoformat(timespec="milliseconds")
        return {"ts": ts, "level": "info", "event": name, **fields}

    yield ev(0.0, "bot_started", version=__version__)
    for i in range(100):
        wall = 1.0 + i
        yield ev(wall, "message_received", msgId=f"m{i}", conversationId=f"dm-{i % 10}")
        yield ev(wall + 0.1, "reply_sent", msgId=f"m{i}", conversationId=f"dm-{i % 10}", seq=i // 10 + 1)
    for stage, n in spec.lost.items():
        for k in range(n):
            wall, msg_id = 100.0 + k, f"lost-{stage}-{k}"
            if stage == "not_acked":
                yield ev(wall, "queue_rejected", msgId=msg_id, conversationId="dm-1", capacity=1000)
            elif stage == "not_pushed":
                yield ev(wall, "reconnect", reason="error", attempt=k + 1, delay_s=1.0)
            else:
                yield ev(wall, "message_received", msgId=msg_id, conversationId="dm-1")
                if stage == "reply_rejected":
                    yield ev(
                        wall + 1, "retries_exhausted", api="card_streaming", status=429, code="Throttling", attempts=3
                    )
                yield ev(
                    wall + 2,
                    "reply_failed",
                    msgId=msg_id,
                    conversationId="dm-1",
                    api="card_streaming",
                    status=429 if stage == "reply_rejected" else None,
                    error="engine timed out",
                )
    for (api, status, code), n in spec.api_errors.items():
        if status == 403 and "QpsLimit" not in code:
            yield ev(50.0, "permission_denied", api=api, status=403, code=code, requiredScopes=[SCOPE_OF.get(api, "?")])
        elif status == 401:
            yield ev(
                50.0,
                "reply_failed",
                msgId="m401",
                api=api,
                status=401,
                error=f"{api} failed: HTTP 401 InvalidAuthentication access token expired",
            )
        else:
            for k in range(max(1, n // 20)):
                yield ev(60.0 + k, "retries_exhausted", api=api, status=status, code=code, attempts=3)
    for s in segs:
        if s["kind"] == "peak" and s["day"] in spec.login_abuse_days:
            wall = s["wall_start"]
            while wall < s["wall_end"]:
                yield ev(wall, "login_failed", username="admin", remote="127.0.0.1", reason="bad password")
                wall += 3.0

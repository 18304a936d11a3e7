"""Synthetic run folders that follow docs/run-folder.md, for tests and for harness.bench.report.

The load is the real week plan (harness.loadgen.shapes.build_plan) of a scenario built from the spec:
the week's time map (each day's peak window played for `peak_wall_s`, the rest fast-forwarded at
`factor`, or everything in real time: a true 7-day soak) and the users WeekProfile's curves put online.
Faults make the numbers breach on purpose. Latency histograms come from a small pool of pre-built ones
so that generating a real-time week takes seconds, while the report still has to decode and merge
every window's histogram.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core import histograms
from harness.core.contract import REQUIRED_SCOPE, BotEvent
from harness.core.runfolder.jsonlines import JsonLinesWriter
from harness.core.scenario.schema import Compression, Load, Scenario, Shape
from harness.core.simclock import DAY_S
from harness.core.timemap import Segment, TimeMap
from harness.core.version import __version__
from harness.loadgen.shapes import Plan, build_plan

RUN_START = 1_764_000_000.0  # unix time of wall 0


@dataclass
class SyntheticRun:
    days: int = 7
    real_time: bool = False  # factor 1: wall = sim, a true soak
    factor: float = 1380.0  # compressed runs: off-peak simulated seconds per wall second (a day's off-peak: 60 s)
    peak_wall_s: float = 120.0  # wall seconds each weekday's peak window is played (compressed runs)
    weekend_peak_wall_s: float = 60.0
    window_wall_s: float = 10.0
    sample_every_wall_s: float = 5.0
    ledger_every_wall_s: float = 30.0
    peak_rate: float = 80.0  # messages per wall second at the 10:00 weekday peak
    peak_users: int = 400
    reply_timeout_s: float = 60.0
    base_latency_s: float = 0.08
    latency_shift_s: float = 0.0  # added to every reply's latency (an injected delay)
    seed: int = 7
    status: str = "completed"
    abort_reason: str | None = None
    # faults
    slow_peak_days: tuple[int, ...] = ()  # latency x8 in these days' peak windows
    cpu_overload_days: tuple[int, ...] = ()  # bot CPU near one core in these days' peaks
    backlog_days: tuple[int, ...] = ()  # bot backlog above the alert line in these days' peaks
    busy_host_days: tuple[int, ...] = ()  # a process outside the run fills the host in these days' peaks
    overrun_alert_days: tuple[int, ...] = ()  # an alert fires near these days' peak ends, resolves 5 h later
    error_ratio: float = 0.0  # share of messages that time out
    lost: dict[str, int] = field(default_factory=dict)  # lost_by_stage
    late: dict[str, int] = field(default_factory=dict)  # of those, answered after the timeout (late_replies_by_stage)
    api_errors: dict[tuple[str, int, str], int] = field(default_factory=dict)  # (api, status, code) -> count
    api_errors_cause: str = "injected"  # whom the ledger's refusals hold to the api_errors: injected or bot
    # further refused calls (unknown routes, ...): (api, method, route, status, code, cause) -> count
    refusals: dict[tuple[str, str, str, int, str, str], int] = field(default_factory=dict)
    faults_applied: dict[str, int] = field(default_factory=dict)  # the emulator's fault hits (ledger)
    login_abuse_days: tuple[int, ...] = ()  # failed admin logins at 20 per minute in these days' peaks
    bot_log: bool = True  # logs/bot.log with a sample of message events plus each fault's events
    thresholds: dict[str, float] = field(default_factory=dict)
    manifest_extra: dict[str, Any] = field(default_factory=dict)
    omit: tuple[str, ...] = ()  # files not to write (an interrupted run)
    stop_after_days: float | None = None  # stop writing windows / samples early (a killed run)

    def scenario(self) -> Scenario:
        """The week scenario this run plays: default peak window and curves, the spec's sizes and speeds."""
        return Scenario(
            name="synthetic-week",
            shape=Shape(kind="week", peak_users=self.peak_users, days=self.days),
            compression=Compression(
                factor=1.0 if self.real_time else self.factor,
                peak_wall_s=self.peak_wall_s,
                weekend_peak_wall_s=self.weekend_peak_wall_s,
            ),
            load=Load(
                messages_per_user_per_minute=60.0 * self.peak_rate / self.peak_users,
                reply_timeout_s=self.reply_timeout_s,
                window_s=self.window_wall_s,
            ),
        )


class Week:
    """The spec's plan, and the questions the fake data asks of it."""

    def __init__(self, spec: SyntheticRun) -> None:
        self.spec = spec
        self.plan: Plan = build_plan(spec.scenario())
        self.timemap: TimeMap = self.plan.timemap

    def load_share(self, wall: float) -> float:
        """Users online at wall time `wall` as a share of the weekday peak's."""
        return (self.plan.users_at(wall) or 0) / self.spec.peak_users

    def in_peak_of(self, wall: float, days: tuple[int, ...]) -> bool:
        seg = self.timemap.segment_at(wall)
        return seg.kind == "peak" and seg.day in days

    def peaks_of(self, days: tuple[int, ...]) -> list[Segment]:
        return [s for s in self.timemap.peaks if s.day in days]


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
                latency = self.rng.lognormvariate(math.log(scale), 0.5) + self.spec.latency_shift_s
                histograms.record_seconds(hist, latency)
            self.cache[key] = (histograms.encode(hist), n)
        return self.cache[key]

    def top(self) -> int:
        return max(1, round(self.spec.peak_rate * self.spec.window_wall_s))


def _windows(week: Week, rng: random.Random, end_wall: float) -> Iterator[dict[str, Any]]:
    spec = week.spec
    pool, wall = HistogramPool(spec, rng), 0.0
    while wall < end_wall - 1e-9:
        wall_end = min(wall + spec.window_wall_s, end_wall)
        offered = max(1, round(week.plan.offered_rate_at(wall) * (wall_end - wall)))
        timeouts = sum(1 for _ in range(offered) if rng.random() < spec.error_ratio) if spec.error_ratio else 0
        reply_hist, replies = pool.get(offered - timeouts, week.in_peak_of(wall, spec.slow_peak_days))
        chunk_hist, _ = pool.get(offered - timeouts, False)
        yield {
            "wall_start": wall,
            "wall_end": wall_end,
            "sim_start": week.timemap.sim_at(wall),
            "sim_end": week.timemap.sim_at(wall_end),
            "users": week.plan.users_at(wall),
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


def _samples(week: Week, rng: random.Random, end_wall: float) -> Iterator[dict[str, Any]]:
    spec = week.spec
    steps = int(end_wall / spec.sample_every_wall_s)
    for i in range(steps + 1):
        wall = i * spec.sample_every_wall_s
        f = week.load_share(wall)
        bot_cpu = 0.97 if week.in_peak_of(wall, spec.cpu_overload_days) else 0.05 + 0.45 * f
        backlog = 180 if week.in_peak_of(wall, spec.backlog_days) else round(8 * f)
        busy = week.in_peak_of(wall, spec.busy_host_days)
        host_cpu = 0.98 if busy else 0.1 + 0.4 * f + rng.random() * 0.02
        messages = max(1, round(week.plan.offered_rate_at(wall) * spec.sample_every_wall_s))
        yield {
            "t": RUN_START + wall,
            "wall": wall,
            "sim": week.timemap.sim_at(wall),
            "host": {"cpu": round(host_cpu, 4), "mem": round(0.42 + 0.05 * f, 4)},
            "procs": {
                "bot": {"cpu": round(bot_cpu, 4), "rss": 80e6 + 20e6 * f, "threads": 4, "fds": 40},
                "platform": {"cpu": round(0.1 + 0.3 * f, 4), "rss": 60e6, "threads": 2, "fds": 30},
            },
            "others": {
                "cpu": 1.4 if busy else 0.05,
                "top": [{"name": "hog", "pid": 999, "cpu": 1.3}] if busy else [],
            },
            "processing": {  # the bot's own time: a tenth of a second per message, as it reports it
                "count": messages,
                "sum": round(messages * spec.base_latency_s, 6),
                "buckets": {"0.05": messages // 2, "0.1": messages - messages // 2},
            },
            "backlog": backlog,
        }


ROUTES = {  # where the synthetic API errors were refused (method, route)
    "card_streaming": ("PUT", "/v1.0/card/streaming"),
    "card_create": ("POST", "/v1.0/card/instances/createAndDeliver"),
    "robot_send": ("POST", "/v1.0/robot/oToMessages/batchSend"),
    "session_webhook": ("POST", "/robot/sendBySession"),
    "access_token": ("POST", "/v1.0/oauth2/accessToken"),
    "gateway_open": ("POST", "/v1.0/gateway/connections/open"),
}


def _refusals(spec: SyntheticRun, share: float) -> list[dict[str, Any]]:
    classes = {
        (a, *ROUTES.get(a, ("POST", f"/{a}")), st, c, spec.api_errors_cause): n
        for (a, st, c), n in spec.api_errors.items()
    }
    classes.update(spec.refusals)
    return [
        {
            "api": api,
            "method": method,
            "route": route,
            "status": status,
            "code": code,
            "cause": cause,
            "count": round(n * share),
            "first_wall": RUN_START + 60.0,
            "last_wall": RUN_START + 60.0 + share * 100,
            "reason": f"synthetic {status} {code}",
        }
        for (api, method, route, status, code, cause), n in classes.items()
        if round(n * share)
    ]


def _ledger(spec: SyntheticRun, sent: int, replied: int, share: float) -> dict[str, Any]:
    lost = {stage: round(n * share) for stage, n in spec.lost.items()}
    api = [{"api": "card_streaming", "status": 200, "code": "", "count": round(replied * 3 * share)}]
    api += [{"api": a, "status": st, "code": c, "count": round(n * share)} for (a, st, c), n in spec.api_errors.items()]
    return {
        "generated_at": RUN_START,
        "reply_timeout_s": spec.reply_timeout_s,
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
            "late_replies": sum(round(n * share) for n in spec.late.values()),
        },
        "lost_by_stage": {k: lost.get(k, 0) for k in ("not_pushed", "not_acked", "no_reply", "reply_rejected")},
        "late_replies_by_stage": {
            k: round(spec.late.get(k, 0) * share) for k in ("not_pushed", "not_acked", "no_reply", "reply_rejected")
        },
        "api_responses": api,
        "login_failures": {"gateway_open": 0, "access_token": 0},
        "connections": {"opened": 1, "closed": 0, "current": 1},
        "faults_applied": dict(spec.faults_applied),
        "refusals": _refusals(spec, share),
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


def _manifest(spec: SyntheticRun, scenario: Scenario, end_wall: float) -> dict[str, Any]:
    return {
        "scenario": scenario.name,
        "scenario_file": "scenarios/week.toml",
        "harness_version": __version__,
        "started_at": RUN_START,
        "ended_at": RUN_START + end_wall,
        "run_start_unix": RUN_START,
        "status": spec.status,
        "abort_reason": spec.abort_reason,
        "machine": {"cpus": 2, "memory_bytes": 24 * 2**30, "python": "3.11"},
        "components": {"bot": {"pid": 4242, "command": "python -m reference_bot", "exit_code": 0}},
        "thresholds": spec.thresholds,
        "reply_timeout_s": scenario.load.reply_timeout_s,
        "window_s": scenario.load.window_s,
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


def _fresh_lines(path: Path) -> JsonLinesWriter:
    path.unlink(missing_ok=True)  # the writer appends: start the file afresh
    return JsonLinesWriter(path)


def _write_lines(path: Path, items: Iterable[dict[str, Any]]) -> None:
    with _fresh_lines(path) as out:
        for item in items:
            out.write(item)


def write_run(run_dir: Path, spec: SyntheticRun | None = None) -> Path:
    """Write a synthetic run folder; returns its path."""
    spec = spec or SyntheticRun()
    week = Week(spec)
    rng = random.Random(spec.seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    total_wall = week.timemap.wall_duration
    end_wall = total_wall
    if spec.stop_after_days is not None:
        end_wall = week.timemap.wall_at(spec.stop_after_days * DAY_S)

    def want(name: str) -> bool:
        return name not in spec.omit

    if want("manifest.json"):
        (run_dir / "manifest.json").write_text(json.dumps(_manifest(spec, week.plan.scenario, end_wall), indent=2))
    if want("timemap.json"):
        (run_dir / "timemap.json").write_text(json.dumps(week.timemap.to_json(RUN_START)))
    sent = replied = 0
    next_ledger = 0.0
    ledger_lines = []
    if want("windows.jsonl"):
        with _fresh_lines(run_dir / "windows.jsonl") as out:
            for w in _windows(week, rng, end_wall):
                out.write(w)
                sent, replied = sent + w["sent"], replied + w["replies_ok"]
                if w["wall_end"] >= next_ledger:
                    ledger_lines.append((w["wall_end"], w["sim_end"], sent, replied))
                    next_ledger += spec.ledger_every_wall_s
    if want("samples.jsonl"):
        _write_lines(run_dir / "samples.jsonl", _samples(week, rng, end_wall))
    if want("ledger.jsonl"):
        _write_lines(
            run_dir / "ledger.jsonl",
            [
                {"wall": wall, "sim": sim, "ledger": _ledger(spec, s_sent, s_replied, wall / total_wall)}
                for wall, sim, s_sent, s_replied in ledger_lines
            ],
        )
    if want("ledger.json"):
        (run_dir / "ledger.json").write_text(json.dumps(_ledger(spec, sent, replied, end_wall / total_wall)))
    if spec.bot_log and want("logs/bot.log"):
        (run_dir / "logs").mkdir(exist_ok=True)
        _write_lines(run_dir / "logs" / "bot.log", sorted(_bot_events(week), key=lambda e: e["ts"]))
    if want("alerts.jsonl"):
        _write_lines(run_dir / "alerts.jsonl", _alerts(week))
    return run_dir


def _alerts(week: Week) -> Iterator[dict[str, Any]]:
    spec, timemap = week.spec, week.timemap
    faults = (
        ("ChatbotP99LatencyHigh", "critical", spec.slow_peak_days),
        ("ChatbotCpuHigh", "warning", spec.cpu_overload_days),
        ("ChatbotBacklogHigh", "critical", spec.backlog_days),
    )
    for name, severity, days in faults:
        for peak in week.peaks_of(days):
            span = peak.wall_end - peak.wall_start
            for state, share in (("firing", 0.2), ("resolved", 0.8)):
                wall = peak.wall_start + span * share
                yield {
                    "wall": wall,
                    "sim": timemap.sim_at(wall),
                    "alertname": name,
                    "severity": severity,
                    "state": state,
                    "labels": {"alertname": name, "severity": severity},
                }
    # fires 5 simulated minutes before the peak ends; a compressed week resolves it in the fast-forward after
    for peak in week.peaks_of(spec.overrun_alert_days):
        for state, sim in (("firing", peak.sim_end - 300), ("resolved", peak.sim_end + 5 * 3600)):
            yield {
                "wall": timemap.wall_at(sim),
                "sim": sim,
                "alertname": "HostCpuHigh",
                "severity": "warning",
                "state": state,
                "labels": {"alertname": "HostCpuHigh", "severity": "warning"},
            }


def _bot_events(week: Week) -> Iterator[dict[str, Any]]:
    """A sample of ordinary message events, and the events each configured fault leaves in a bot log."""
    spec = week.spec

    def ev(wall: float, name: str, **fields: Any) -> dict[str, Any]:  # a line as reference_bot/logs.py writes it
        ts = dt.datetime.fromtimestamp(RUN_START + wall, dt.timezone.utc).isoformat(timespec="milliseconds")
        return {"ts": ts, "level": "info", "event": name, **fields}

    yield ev(0.0, BotEvent.BOT_STARTED, version=__version__)
    for i in range(100):
        wall = 1.0 + i
        yield ev(wall, BotEvent.MESSAGE_RECEIVED, msgId=f"m{i}", conversationId=f"dm-{i % 10}")
        yield ev(wall + 0.1, BotEvent.REPLY_SENT, msgId=f"m{i}", conversationId=f"dm-{i % 10}", seq=i // 10 + 1)
    for stage, n in spec.lost.items():
        for k in range(n):
            wall, msg_id = 100.0 + k, f"lost-{stage}-{k}"
            if stage == "not_acked":
                yield ev(wall, BotEvent.QUEUE_REJECTED, msgId=msg_id, conversationId="dm-1", capacity=1000)
            elif stage == "not_pushed":
                yield ev(wall, BotEvent.RECONNECT, reason="error", attempt=k + 1, delay_s=1.0)
            elif k < spec.late.get(stage, 0):  # answered, after the timeout: no failure logged
                yield ev(wall, BotEvent.MESSAGE_RECEIVED, msgId=msg_id, conversationId="dm-1")
                yield ev(wall + 25, BotEvent.REPLY_SENT, msgId=msg_id, conversationId="dm-late", seq=k + 1)
            else:
                yield ev(wall, BotEvent.MESSAGE_RECEIVED, msgId=msg_id, conversationId="dm-1")
                if stage == "reply_rejected":
                    yield ev(
                        wall + 1,
                        BotEvent.RETRIES_EXHAUSTED,
                        api="card_streaming",
                        status=429,
                        code="Throttling",
                        attempts=3,
                    )
                yield ev(
                    wall + 2,
                    BotEvent.REPLY_FAILED,
                    msgId=msg_id,
                    conversationId="dm-1",
                    api="card_streaming",
                    status=429 if stage == "reply_rejected" else None,
                    error="engine timed out",
                )
    for (api, status, code), n in spec.api_errors.items():
        if status == 403 and "QpsLimit" not in code:
            scopes = [REQUIRED_SCOPE.get(api, "?")]
            yield ev(50.0, BotEvent.PERMISSION_DENIED, api=api, status=403, code=code, requiredScopes=scopes)
        elif status == 401:
            yield ev(
                50.0,
                BotEvent.REPLY_FAILED,
                msgId="m401",
                api=api,
                status=401,
                error=f"{api} failed: HTTP 401 InvalidAuthentication access token expired",
            )
        else:
            for k in range(max(1, n // 20)):
                yield ev(60.0 + k, BotEvent.RETRIES_EXHAUSTED, api=api, status=status, code=code, attempts=3)
    for peak in week.peaks_of(spec.login_abuse_days):
        wall = math.ceil(peak.wall_start)  # whole seconds: a log's millisecond stamp never falls before the peak
        while wall < peak.wall_end:
            yield ev(wall, BotEvent.LOGIN_FAILED, username="admin", remote="127.0.0.1", reason="bad password")
            wall += 3.0

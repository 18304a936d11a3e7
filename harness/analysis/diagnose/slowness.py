"""Runbook as code: P99 latency over the SLA (runbooks/MessageLatencyP99High.md).

Looks for the saturated resource first (the bot's CPU, the host and the processes that filled it, the
load generator itself), judged over the slow windows themselves: sliding one-minute means of the
samples inside them (the whole window when shorter), never minutes counted from the run's start, which
cut a short spike in half. Then for what else adds latency in the breached windows: timeouts, late
replies, rate limiting with retries, queueing in the inbound buffer. The bot's event-loop lag
(samples.jsonl `loop_lag`) in the slow windows tells "the loop was blocked by CPU work" from "the loop
waited on the platform or the engine". Adds the hot functions from the py-spy profiles and how latency
moved with load and backlog over the run (Pearson correlation of the P99 per chart bucket with each).
Evidence that is missing (no samples in the slow windows, no lag probe, no profile) is said, not
skipped.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np

from harness.analysis.diagnose.context import Context
from harness.analysis.diagnose.model import Evidence, Finding
from harness.analysis.report.model import PeakWindow
from harness.analysis.report.resources import BOT_COMPONENT, SUSTAINED_WALL_S, SlidingPeak
from harness.analysis.report.rig import GENERATOR_PREFIX, Trouble, sample_consumers
from harness.analysis.report.summary import bucket_label
from harness.core.contract import LATENCY_QUANTILE, LOOP_LAG_BLOCKED_SECONDS, LOOP_LAG_BUCKETS, RIG
from harness.core.runfolder.jsonlines import JsonLinesReader

RUNBOOK = "runbooks/MessageLatencyP99High.md"
SATURATED_CORE = 0.9  # a single-threaded process at 90 % of a core has no headroom left
MORE_WORKERS = "add Locust workers (one per core, or machines) so that the measurement is not the bottleneck"


def _correlation(xs: list[float], ys: list[float]) -> float | None:
    if len(xs) < 4 or np.std(xs) == 0 or np.std(ys) == 0:
        return None
    return float(np.corrcoef(xs, ys)[0, 1])


def _trend_evidence(ctx: Context) -> list[Evidence]:
    series = [p for p in ctx.series.load if p.get("p99") is not None]
    backlog = {p["sim"]: p["backlog_max"] for p in ctx.series.resources if "backlog_max" in p}
    out = []
    load_r = _correlation([p["offered_rate"] for p in series], [p["p99"] for p in series])
    if load_r is not None:
        per = bucket_label(ctx.report.chart_bucket_s)
        out.append(
            Evidence(
                f"P99 vs offered load: r = {load_r:+.2f} over {len(series)} points (one per {per})", "windows.jsonl"
            )
        )
    joined = [(backlog[p["sim"]], p["p99"]) for p in series if p["sim"] in backlog]
    backlog_r = _correlation([b for b, _ in joined], [p for _, p in joined])
    if backlog_r is not None:
        out.append(Evidence(f"P99 vs bot backlog: r = {backlog_r:+.2f}", "windows.jsonl x samples.jsonl"))
    return out


def _slow_spans(ctx: Context, peaks: list[PeakWindow], limit: float) -> list[tuple[float, float]]:
    """Simulated spans of the breach: the failed peak windows, else the chart points over the limit."""
    if peaks:
        return [(p.sim_start, p.sim_end) for p in peaks]
    return [(p["sim"], p["sim_end"]) for p in ctx.series.load if (p.get("p99") or 0) > limit]


def loop_lag_buckets(samples: Path, spans: list[tuple[float, float]]) -> Counter[float]:
    """samples.jsonl `loop_lag` merged over simulated spans: probe count per bucket upper bound."""
    merged: Counter[float] = Counter()
    for line in JsonLinesReader(samples):
        sim, lag = line.get("sim"), line.get("loop_lag")
        if lag and sim is not None and any(a <= sim <= b for a, b in spans):
            merged.update({float(le): n for le, n in lag["buckets"].items()})
    return merged


def bucket_at(buckets: Counter[float], share: float) -> float:
    """Upper bound of the bucket holding the `share` quantile of the merged observations."""
    rank, seen = math.ceil(share * buckets.total()), 0
    for bound in sorted(buckets):
        seen += buckets[bound]
        if seen >= rank:
            return bound
    return math.inf


def _ms(bound: float) -> str:
    if math.isinf(bound):
        return f"over {LOOP_LAG_BUCKETS[-1]:g} s"
    return f"<= {bound:g} s" if bound >= 1 else f"<= {bound * 1000:g} ms"


def _loop_lag(ctx: Context, spans: list[tuple[float, float]]) -> tuple[Evidence, bool] | None:
    """The bot's event-loop lag in the slow spans and whether it says the loop was blocked."""
    samples = ctx.folder.path / "samples.jsonl"
    if not samples.exists():
        return None  # the report already says it is missing, and reads (and counts damage in) it
    merged = loop_lag_buckets(samples, spans)
    if not merged:
        return None
    p99, worst = bucket_at(merged, LATENCY_QUANTILE), bucket_at(merged, 1.0)
    blocked = p99 > LOOP_LAG_BLOCKED_SECONDS
    verdict = "blocked by work on the loop" if blocked else "not blocked: the time went to awaited calls"
    return Evidence(
        f"bot event-loop lag while slow: p99 {_ms(p99)}, max {_ms(worst)} over {merged.total()} probes "
        f"(blocked above {LOOP_LAG_BLOCKED_SECONDS * 1000:g} ms): {verdict}",
        "samples.jsonl loop_lag",
    ), blocked


class SpanResources:
    """CPU over the slow spans only: per span, sliding one-minute means (the whole span when shorter) of
    the bot, the host and each generator worker; the highest of each over the spans, and who used the
    CPU in the samples where the host was saturated."""

    def __init__(self) -> None:
        self.samples = 0
        self.peaks: dict[str, tuple[float, float | None]] = {}  # series -> (highest mean, from sim)
        self.saturated = Trouble()

    def read(self, samples: Path, spans: list[tuple[float, float]], cores: int | None) -> SpanResources:
        per_span: dict[tuple[int, str], SlidingPeak] = {}
        for line in JsonLinesReader(samples):
            sim, wall = line.get("sim"), line.get("wall")
            if sim is None or wall is None:
                continue
            index = next((i for i, (a, b) in enumerate(spans) if a <= sim <= b), None)
            if index is None:
                continue
            self.samples += 1
            values = {f"proc:{k}": v.get("cpu") for k, v in (line.get("procs") or {}).items() if isinstance(v, dict)}
            values["host"] = (line.get("host") or {}).get("cpu")
            for key, value in values.items():
                if value is not None:
                    per_span.setdefault((index, key), SlidingPeak(SUSTAINED_WALL_S)).add(wall, sim, float(value))
            host = values["host"]
            if host is not None and host >= RIG.host_cpu:
                self.saturated.blame(sample_consumers(line, cores))
        for (_, key), peak in per_span.items():
            peak.close()
            if peak.peak is not None and (key not in self.peaks or peak.peak > self.peaks[key][0]):
                self.peaks[key] = (peak.peak, peak.peak_at_sim)
        return self

    def peak(self, key: str) -> tuple[float, float | None] | None:
        return self.peaks.get(key)


def _resources(ctx: Context, spans: list[tuple[float, float]]) -> tuple[list[Evidence], list[str], list[str]]:
    """Evidence, causes and actions from the resources inside the slow spans."""
    samples = ctx.folder.path / "samples.jsonl"
    if not samples.exists():
        return [Evidence("no resource samples: CPU during the slow windows is unknown", "samples.jsonl")], [], []
    cores = (ctx.folder.manifest.get("machine") or {}).get("cpus")
    res = SpanResources().read(samples, spans, int(cores) if cores else None)
    if not res.samples:
        return [Evidence("no resource samples inside the slow windows: their CPU is unknown", "samples.jsonl")], [], []
    evidence, causes, actions = [], [], []
    where = f"{SUSTAINED_WALL_S:g} s sliding mean over the {res.samples} samples in the slow windows"
    bot = res.peak(f"proc:{BOT_COMPONENT}")
    if bot is None:
        evidence.append(Evidence("the bot's processes were not sampled: its CPU is unknown", "samples.jsonl procs.bot"))
    else:
        evidence.append(
            Evidence(
                f"bot CPU peaked at {bot[0]:.0%} of one core from {ctx.sim(bot[1])} ({where})",
                "samples.jsonl procs.bot",
            )
        )
        if bot[0] >= min(ctx.thresholds.cpu_target, SATURATED_CORE):
            causes.append(f"the bot is CPU-bound ({bot[0]:.0%} of a core)")
            actions.append("cut the CPU per message (see the hot functions) or run more bot processes")
    host = res.peak("host")
    if host is not None:
        evidence.append(Evidence(f"host CPU peaked at {host[0]:.0%} of all cores ({where})", "samples.jsonl host.cpu"))
        if host[0] >= RIG.host_cpu:
            consumers = ", ".join(f"{c.process} {c.cpu:.2f}" for c in res.saturated.top_consumers()[:4])
            evidence.append(
                Evidence(
                    f"while the host was at {RIG.host_cpu:.0%} or more, CPU in cores went to: {consumers or 'unknown'}",
                    "samples.jsonl procs, others",
                )
            )
            outside = [c.process for c in res.saturated.top_consumers() if not c.in_run]
            causes.append(
                f"the host was saturated ({host[0]:.0%} of all cores"
                + (f"; outside the run: {', '.join(outside[:2])}" if outside else "")
                + "): every process, the bot, the emulator and the load generator, waited for a core"
            )
            actions.append("give the bot its own cores: a quieter machine, or the load generator on another one")
    for key, (peak, at) in sorted(res.peaks.items()):
        name = key.removeprefix("proc:")
        if name.startswith(GENERATOR_PREFIX) and peak >= SATURATED_CORE:
            causes.append(f"the load generator itself is saturated ({name} at {peak:.0%} of a core from {ctx.sim(at)})")
            actions.append(MORE_WORKERS)
    return evidence, causes, actions


def _overlaps(windows: list[PeakWindow], first: float | None, last: float | None) -> bool:
    if first is None or last is None:
        return False
    return any(w.sim_start <= last and first <= w.sim_end for w in windows)


def findings(ctx: Context) -> list[Finding]:
    breached = [s for s in ctx.report.slas if s.id.startswith("p99_") and s.status == "fail"]
    if not breached:
        return []
    limit = ctx.thresholds.p99_latency_seconds
    peaks = {f"p99_peak_day{p.day}": p for p in ctx.report.latency.peaks}
    windows = [peaks[s.id] for s in breached if s.id in peaks]
    evidence = [
        Evidence(f"{s.name}: {(s.value or 0.0) * 1000:.0f} ms against {limit * 1000:.0f} ms", s.source)
        for s in breached
    ]
    spans = _slow_spans(ctx, windows, limit)
    found, causes, actions = _resources(ctx, spans)
    evidence += found
    res = ctx.report.resources
    if ctx.report.conditions.generator_bound and not any("load generator itself" in c for c in causes):
        evidence.append(
            Evidence("the run flagged a Locust worker as CPU-bound during the run", "manifest.json generator_bound")
        )
        causes.append("the load generator itself was saturated: measured latency includes its own queueing")
        actions.append(MORE_WORKERS)
    load = ctx.report.load
    if load.sent and load.late_starts / load.sent > RIG.late_start_share:
        evidence.append(Evidence(f"{load.late_starts} of {load.sent} sends started late", "windows.jsonl"))
        causes.append("the load generator fell behind its schedule (late starts)")
    timeouts = sum(w.totals.timeouts for w in windows)
    if timeouts:
        evidence.append(
            Evidence(
                f"{timeouts} messages in the breached peak windows got no reply within the reply "
                f"timeout; each counts at the timeout",
                "windows.jsonl timeouts",
            )
        )
        causes.append("messages that were never answered (timeouts) push P99 to the reply timeout")
        actions.append("see the message-loss and late-reply findings for why they got no reply in time")
    for span in ctx.report.api_errors:
        rate_limited = span.status == 429 or (span.status == 403 and "QpsLimit" in span.code)
        if rate_limited and _overlaps(windows, span.first_sim, span.last_sim):
            evidence.append(
                Evidence(
                    f"{span.api} was rate limited {span.count} times during the breach "
                    f"({ctx.sim(span.first_sim)} to {ctx.sim(span.last_sim)})",
                    "ledger.jsonl api_responses",
                )
            )
            causes.append(f"rate limiting on {span.api}: retries with backoff add seconds to replies")
            actions.append("stay under the QPS limit instead of retrying through it (see the 429 finding)")
    lag = _loop_lag(ctx, spans)
    if lag is None:
        evidence.append(
            Evidence(
                "no event-loop lag from the bot in the slow windows: a blocked loop is not checked", "samples.jsonl"
            )
        )
    else:
        evidence.append(lag[0])
        if lag[1]:
            causes.append(
                "the bot's event loop was blocked (see its lag): every reply, ACK and heartbeat "
                "waited for CPU work running on the loop"
            )
            actions.append("move CPU-heavy work off the event loop (a process pool) or cut it")
    backlog = res.backlog_max
    if backlog is not None and backlog > ctx.thresholds.backlog_alert:
        at = ctx.sim(res.backlog_max_at_sim)
        evidence.append(Evidence(f"the bot's backlog peaked at {backlog:.0f} at {at}", "samples.jsonl backlog"))
        causes.append("messages queued in the bot's inbound buffer faster than it drained")
        actions.append("raise the bot's concurrency or cut per-message work")
    late = sum((ctx.ledger.late_replies_by_stage or {}).values())
    if late:
        evidence.append(
            Evidence(f"{late} lost messages were answered after the reply timeout", "ledger late_replies_by_stage")
        )
    if not ctx.report.profiles:
        evidence.append(Evidence("no py-spy profile in this run: hot functions unknown", "profiles/"))
    for profile in ctx.report.profiles:
        top = [h for h in profile.hot if h.self_share > 0][:3]
        if top:
            evidence.append(
                Evidence(
                    f"hot functions in {profile.window} ({profile.component}): "
                    + ", ".join(f"{h.function} {h.self_share:.0%} self" for h in top),
                    profile.files.raw,
                )
            )
    evidence += _trend_evidence(ctx)
    cause = "; ".join(causes) or (
        "no saturated resource in the samples: the time is spent waiting (engine "
        "first-token latency, downstream calls); look at the first-chunk latency"
    )
    action = "; ".join(dict.fromkeys(actions)) or "profile the bot in the peak window and trace one slow message"
    return [
        Finding(
            "slowness.p99",
            f"P99 latency over {limit * 1000:.0f} ms in {len(breached)} SLA(s)",
            "critical",
            "Reply latency broke the P99 SLA in: " + ", ".join(s.name for s in breached) + ".",
            cause,
            action,
            RUNBOOK,
            evidence,
        )
    ]

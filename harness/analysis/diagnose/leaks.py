"""Runbook as code: a memory leak in the bot (runbooks/memory-leak.md).

Judged on the report's growth section (harness.analysis.report.growth): a bot process whose RSS kept
rising in a straight line after its warm-up, by more than allocator and cache churn (contract.
GrowthLimits). With memory snapshots of that process (a profiling window with `memory = true`), the
allocation sites that grew most between the first and the last name the function. Only the bot is
judged here: the rig's own growth (emulator, load generator) is the soak verdict's business.
"""

from __future__ import annotations

from harness.analysis.diagnose.context import Context
from harness.analysis.diagnose.model import Evidence, Finding
from harness.analysis.report.growth import BOT_PREFIX
from harness.analysis.report.model import ProcessGrowth, SnapshotGrowth

RUNBOOK = "runbooks/memory-leak.md"
SITES_SHOWN = 3
MB = 1024 * 1024


def _slope_evidence(p: ProcessGrowth) -> Evidence:
    rss = p.rss_mb
    per_sim = f", {rss.per_sim_hour:+.1f} MB per simulated hour" if rss.per_sim_hour is not None else ""
    per_msgs = f", {rss.per_10k_messages:+.2f} MB per 10,000 messages" if rss.per_10k_messages is not None else ""
    return Evidence(
        f"{p.component} RSS grew {rss.growth:+.1f} MB from {rss.start:.1f} MB over wall {p.fit_from_wall_s:.0f} s to "
        f"{p.fit_to_wall_s:.0f} s (after the warm-up): {rss.per_hour:+.1f} MB per hour{per_sim}{per_msgs}; "
        f"straight-line fit R^2 = {rss.r2:.2f} over {p.points} points",
        "samples.jsonl procs.<component>.rss",
    )


def _site_evidence(snap: SnapshotGrowth) -> list[Evidence]:
    source = f"profiles/{snap.first_window}/ -> profiles/{snap.last_window}/{snap.component}.memory.json"
    out = [
        Evidence(
            f"{site.function} ({site.file}:{site.line}) grew {site.growth_bytes / MB:+.1f} MB in "
            f"{site.growth_blocks:+,} blocks between windows {snap.first_window} and {snap.last_window} "
            f"({snap.seconds_between:.0f} s apart); {site.size_bytes / MB:.1f} MB held at the last",
            source,
        )
        for site in snap.sites[:SITES_SHOWN]
    ]
    out.append(
        Evidence(f"all traced memory grew {snap.traced_growth_bytes / MB:+.1f} MB between the two snapshots", source)
    )
    return out


def findings(ctx: Context) -> list[Finding]:
    growth = ctx.report.growth
    if growth is None:
        return []
    snapshots = {s.component: s for s in growth.snapshots}
    out = []
    for p in growth.processes:
        if not (p.leak and p.component.startswith(BOT_PREFIX)):
            continue
        evidence = [_slope_evidence(p)]
        snap = snapshots.get(p.component)
        if snap is not None and snap.sites:
            top = snap.sites[0]
            where = f"growing most in {top.function} ({top.file}:{top.line})"
            cause = (
                f"memory allocated in {top.function} is kept and never freed: a cache or list without a bound, "
                "objects held by a long-lived reference"
            )
            evidence += _site_evidence(snap)
        else:
            where = "no memory snapshots to name the function"
            cause = "memory kept per message or per connection and never freed (the snapshots would name where)"
            evidence.append(
                Evidence(
                    "no two memory snapshots of this process: add profiling windows with `memory = true` "
                    "(docs/scenarios.md) to name the growing allocation sites",
                    "profiles/*/<component>.memory.json",
                )
            )
        out.append(
            Finding(
                f"memory.leak.{p.component}",
                f"Memory leak in {p.component}: {p.rss_mb.per_hour:+.0f} MB per hour, {where}",
                "warning",
                f"The resident memory of {p.component} kept growing in a straight line after its warm-up "
                f"({p.rss_mb.growth:+.1f} MB, R^2 {p.rss_mb.r2:.2f}); at this rate it runs out of memory in a long run.",
                cause,
                "find what holds the growing allocations (the sites below, or tracemalloc/memray in a test), bound "
                "or release it, and run the soak scenario again to check the slope is flat",
                RUNBOOK,
                evidence,
            )
        )
    return out

"""Runbook as code: the target waiting on I/O (runbooks/io-waits.md).

Judges the target's processes (the bot and its replicas) from the report's I/O section. Where the
kernel counts blocked-on-I/O time (delay accounting) that share of wall time decides; elsewhere the
sign is storage writes at a steady rate that are larger than what the process wrote at all, which only
small writes forced to disk one by one produce (contract.IoWaitLimits explains both). The evidence adds
the host's iowait and busiest disk, and the functions on top of the component's py-spy profiles: with
idle threads sampled (`[[profiling]] idle = true`) a blocking call shows there, and names the code.
"""

from __future__ import annotations

from harness.analysis.diagnose.context import Context
from harness.analysis.diagnose.model import Evidence, Finding
from harness.analysis.report.model import ComponentIo, IoSummary
from harness.analysis.report.resources import BOT_COMPONENT
from harness.core.contract import IO_WAIT

RUNBOOK = "runbooks/io-waits.md"
PROFILE_ROWS = 6  # functions named per profile: with idle threads sampled the waits take the first rows
KIB = 1024


def is_target(component: str) -> bool:
    """The bot's processes: `bot`, or its replicas `bot-1`, `bot-2`, ..."""
    return component == BOT_COMPONENT or component.startswith(BOT_COMPONENT + "-")


def waiting(io: ComponentIo) -> bool:
    """Whether a component's I/O figures say it waited on I/O (contract.IO_WAIT)."""
    if io.blocked is not None:
        return (io.blocked.sustained_peak or 0.0) >= IO_WAIT.blocked_share
    rate = io.write_bps.sustained_peak or 0.0
    amplification = io.write_amplification_at_peak or 0.0
    return rate >= IO_WAIT.write_bytes_per_s and amplification >= IO_WAIT.write_amplification


def _component_evidence(ctx: Context, name: str, io: ComponentIo, summary: IoSummary) -> list[Evidence]:
    span = f"{summary.sustained_window_wall_s:g} s sliding mean"
    source = f"samples.jsonl procs.{name}"
    out = []
    if io.blocked is not None:
        out.append(
            Evidence(
                f"{name} was blocked on block I/O for {(io.blocked.sustained_peak or 0):.1%} of wall time "
                f"(highest {span}, from {ctx.sim(io.blocked.sustained_peak_at_sim)}; limit "
                f"{IO_WAIT.blocked_share:.0%})",
                f"{source}.io_blocked",
            )
        )
    else:
        out.append(Evidence(f"time blocked on I/O: {summary.blocked_source}", "manifest.json sampler.io_blocked"))
    write = io.write_bps
    amplification = io.write_amplification_at_peak
    out.append(
        Evidence(
            f"{name} wrote {(write.sustained_peak or 0) / KIB:.1f} KiB/s to storage (highest {span}, from "
            f"{ctx.sim(write.sustained_peak_at_sim)}), "
            + (
                f"{amplification:.2f} bytes to storage per byte it passed to write calls (files and sockets)"
                if amplification is not None
                else "with no write calls to compare it with"
            )
            + f"; the limits without delay accounting: {IO_WAIT.write_bytes_per_s / KIB:g} KiB/s and "
            f"{IO_WAIT.write_amplification:g}",
            f"{source}.io_write_bps, io_wchar_bps",
        )
    )
    return out


def _host_evidence(ctx: Context, summary: IoSummary) -> list[Evidence]:
    out = []
    if summary.host_iowait is not None:
        out.append(
            Evidence(
                f"host iowait peaked at {(summary.host_iowait.sustained_peak or 0):.1%} of all CPU time "
                f"(from {ctx.sim(summary.host_iowait.sustained_peak_at_sim)}); it counts idle CPUs only, so a "
                "busy host shows little of it",
                "samples.jsonl host.iowait",
            )
        )
    if summary.disk_busy is not None:
        out.append(
            Evidence(
                f"disk {summary.busiest_disk} was busy {(summary.disk_busy.sustained_peak or 0):.1%} of the time "
                f"at most (from {ctx.sim(summary.disk_busy.sustained_peak_at_sim)})",
                "samples.jsonl host.disk_busy",
            )
        )
    return out


def _profile_evidence(ctx: Context, name: str) -> list[Evidence]:
    profiles = [p for p in ctx.report.profiles if p.component == name]
    if not profiles:
        return [Evidence(f"no py-spy profile of {name}: the code that waited is not named", "profiles/")]
    out = []
    for profile in profiles:
        top = [h for h in profile.hot if h.self_share > 0][:PROFILE_ROWS]
        view = "idle threads included: blocked calls count" if profile.idle else "on-CPU only: blocked calls hidden"
        out.append(
            Evidence(
                f"on top of {name}'s stacks in {profile.window} ({view}): "
                + ", ".join(f"{h.function} {h.self_share:.1%}" for h in top),
                profile.files.raw,
            )
        )
    return out


def findings(ctx: Context) -> list[Finding]:
    summary = ctx.report.io
    if summary is None:
        return []
    found = []
    for name, io in summary.components.items():
        if not (is_target(name) and waiting(io)):
            continue
        evidence = _component_evidence(ctx, name, io, summary) + _host_evidence(ctx, summary)
        evidence += _profile_evidence(ctx, name)
        found.append(
            Finding(
                f"io.waiting.{name}",
                f"{name} waiting on I/O",
                "warning",
                f"{name} spent its time waiting for the disk: "
                + (
                    "its threads were blocked on block I/O"
                    if io.blocked is not None
                    else "it made storage write more than it wrote, in small pieces forced to disk one by one"
                )
                + ". Whatever waits with it (an event loop, a lock) waits as long.",
                "synchronous writes on the message path: a log or a store flushed (fsync, O_SYNC) per write, "
                "on a thread the replies depend on",
                "write asynchronously (a queue and a writer thread; the reference bot's logging.queue), flush "
                "in batches rather than per line, or put the file on a faster disk; profile with idle threads "
                "sampled to find the call",
                RUNBOOK,
                evidence,
            )
        )
    return found

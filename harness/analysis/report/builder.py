"""run folder -> verdicts -> report.json / .html / .md / junit.xml.

`build_report` is the one entry point (the orchestrator calls it at the end of every run, and
`harness report` on demand). It reads only the run folder, so it works on finished, interrupted and
copied runs; what it could not see makes the verdict INCOMPLETE and is listed in the report.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

from pydantic import ValidationError

from harness.analysis.diagnose.runbooks import Diagnosis, diagnose
from harness.analysis.report.compare import compare
from harness.analysis.report.conditions import run_conditions
from harness.analysis.report.events import LedgerResult, aggregate_alerts, aggregate_ledger
from harness.analysis.report.failover import failover_section
from harness.analysis.report.growth import growth_section
from harness.analysis.report.io_waits import aggregate_io
from harness.analysis.report.load import LoadResult, aggregate_load, latency_summary
from harness.analysis.report.model import Latency, LedgerFigures, Load, MessageAccounting, ReportData, RunInfo
from harness.analysis.report.profiles import baseline_diffs, profile_tables, window_diffs
from harness.analysis.report.render import write_all
from harness.analysis.report.resources import aggregate_resources
from harness.analysis.report.result import ChartSeries, Report
from harness.analysis.report.rig import WindowHealth, rig_health
from harness.analysis.report.verdicts import error_budget_used, sla_verdicts
from harness.core.contract import MIN_REPLIES_FOR_QUANTILE, Thresholds
from harness.core.runfolder.reader import RunFolder
from harness.core.secrets import mask_mapping

log = logging.getLogger(__name__)
LEDGER_FIELDS = (
    "messages",
    "lost_by_stage",
    "api_responses",
    "login_failures",
    "connections",
    "faults_applied",
    "late_replies_by_stage",
)


def _ledger_figures(ledger: LedgerResult, folder: RunFolder) -> LedgerFigures:
    """The final ledger's figures as the report shows them; a ledger of the wrong shape is named in
    the incompleteness reasons (field path), not a crash."""
    final = ledger.final or {}
    try:
        figures = LedgerFigures(source=ledger.source, lost=None, **{k: final.get(k) for k in LEDGER_FIELDS})
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        folder.problems.append(f"{ledger.source}: {where}: {error['msg']}; message fates unknown")
        figures = LedgerFigures(source=ledger.source, lost=None, **dict.fromkeys(LEDGER_FIELDS))
    return figures.model_copy(update={"lost": _lost_count(figures)})


def _lost_count(figures: LedgerFigures) -> int | None:
    if figures.messages is not None and "lost" in figures.messages:
        return figures.messages["lost"]
    return sum(figures.lost_by_stage.values()) if figures.lost_by_stage is not None else None


def _run_info(folder: RunFolder) -> RunInfo:
    m = folder.manifest
    return RunInfo(
        scenario=m.get("scenario"),
        scenario_file=m.get("scenario_file"),
        harness_version=m.get("harness_version"),
        started_at=m.get("started_at"),
        ended_at=m.get("ended_at"),
        abort_reason=m.get("abort_reason"),
        dir=str(folder.path),
        name=folder.path.name,
        status=folder.status,
    )


def _accounting(load: LoadResult, messages: LedgerFigures, folder: RunFolder) -> MessageAccounting | None:
    """The load generator's count against the ledger's: what the report could not measure, said."""
    t = load.totals
    if not t.windows:
        return None
    ledger_sent = (messages.messages or {}).get("sent")
    summary = folder.read_json("loadgen.json") if folder.exists("loadgen.json") else None
    missing = [str(w) for w in (summary or {}).get("workers_missing_final") or []]
    unmeasured = max(0, ledger_sent - t.sent) if ledger_sent is not None else 0
    unsettled = max(0, t.offered - t.replies_ok - t.timeouts - t.errors)
    notes = []
    if unmeasured:
        notes.append(
            f"the ledger counts {ledger_sent:,} messages sent, the load generator's windows {t.sent:,}: the "
            f"latency of {unmeasured:,} messages was not measured and the latency SLAs leave them out"
            + (f" (no last windows from {', '.join(missing)})" if missing else "")
        )
    elif missing:
        notes.append(f"no last windows from {', '.join(missing)}: messages they sent at the end may be missing")
    if ledger_sent is not None and ledger_sent < t.sent:
        notes.append(f"the load generator counts {t.sent - ledger_sent:,} more sends than the ledger received")
    if unsettled:
        notes.append(
            f"{unsettled:,} {'message was' if unsettled == 1 else 'messages were'} neither answered nor timed "
            "out when the load generator wrote its windows (the run ended first): only the ledger knows their fate"
        )
    return MessageAccounting(
        generator_sent=t.sent,
        ledger_sent=ledger_sent,
        unmeasured=unmeasured,
        unsettled=unsettled,
        workers_missing_final=missing,
        notes=notes,
    )


def analyse(run_dir: Path, *, strict: bool = False) -> Report:
    """Read the run folder and compute everything; writes nothing. `strict`: a failing runbook raises
    (for `harness diagnose`) instead of becoming a warning in the report."""
    folder = RunFolder.open(run_dir)
    thresholds = Thresholds(**folder.thresholds())
    ledger = aggregate_ledger(folder)
    timeout_s = (ledger.final or {}).get("reply_timeout_s") or folder.manifest.get("reply_timeout_s")
    resources = aggregate_resources(folder, thresholds.memory_limit_mb)
    # a message sent this long before the rig's trouble began was already over the limit before it
    health = WindowHealth(resources.rig, grace_s=thresholds.p99_latency_seconds) if resources.rig else None
    load = aggregate_load(folder, float(timeout_s) if timeout_s else None, health)
    alerts = aggregate_alerts(folder, load.sim_end, load.wall_end)
    messages = _ledger_figures(ledger, folder)
    profiles = profile_tables(folder)
    refusals = ledger.refusals(folder) if ledger.final is not None else None
    bot_side = resources.bot_processing()
    target_kind = folder.manifest.get("target")
    slas = sla_verdicts(
        load, resources, messages, thresholds, target_kind=target_kind, bot_side=bot_side, refusals=refusals
    )
    accounting = _accounting(load, messages, folder)
    failover = failover_section(folder, ledger.final)

    incomplete = list(folder.problems)
    if folder.status != "completed":
        reason = folder.manifest.get("abort_reason")
        incomplete.insert(0, f"run status is {folder.status!r}" + (f": {reason}" if reason else ""))
    incomplete += [f"no data for {s.name}" for s in slas if s.status == "no_data"]
    if accounting is not None and accounting.unmeasured:
        incomplete.append(accounting.notes[0])
    warnings = list(folder.warnings) + [f"run: {w}" for w in folder.manifest.get("warnings") or []]
    too_few = [s.name.removeprefix("P99 reply latency, ") for s in slas if s.status == "too_few"]
    if too_few:
        warnings.append(
            f"P99 not judged where fewer than {MIN_REPLIES_FOR_QUANTILE} replies were measured "
            f"({', '.join(too_few)}): play longer ([shape] duration_s, [compression] peak_wall_s, "
            "weekend_peak_wall_s) or at a higher rate"
        )
    if target_kind == "url":
        warnings.append("CPU and memory SLAs not judged: the bot runs outside the harness (target.kind = url)")

    availability = next((s.value for s in slas if s.id == "availability"), None)
    data = ReportData(
        generated_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        run=_run_info(folder),
        incomplete_reasons=incomplete,
        warnings=warnings,
        conditions=run_conditions(folder.manifest),
        thresholds=thresholds,
        chart_bucket_s=folder.bucket_s(),
        slas=slas,
        load=Load(
            **{**load.totals.summary().model_dump(), "availability": availability},  # as the SLA: ledger-capped
            sim_start=load.sim_start,
            sim_end=load.sim_end,
            wall_end=load.wall_end,
            error_budget_used=error_budget_used(availability, thresholds.availability),
        ),
        latency=Latency(
            reply=latency_summary(load.reply),
            first_chunk=latency_summary(load.first_chunk),
            timeouts_counted_at_s=timeout_s,
            peaks=[p.window() for p in load.peaks],
            bot_processing=bot_side,
        ),
        resources=resources.summary(),
        api_errors=ledger.api_errors(),
        login_failures=ledger.login_failures(),
        messages=messages,
        alerts=alerts,
        profiles=profiles,
        profile_diffs=window_diffs(profiles),
        manifest=mask_mapping(folder.manifest),  # secrets never appear in reports
        refusals=refusals,
        rig=rig_health(resources.rig, health, folder.manifest),
        accounting=accounting,
        io=aggregate_io(folder),
        growth=growth_section(
            resources.growth,
            folder,
            load.totals.sent / load.totals.wall_seconds if load.totals.wall_seconds else None,
            soak=folder.manifest.get("shape") == "soak",
        ),
        failover=failover,
    )
    series = ChartSeries(
        load=load.series,
        peak_zooms=[p.points for p in load.peaks],
        resources=resources.series,
        api_errors=ledger.status_series,
        statuses=ledger.statuses,
        blocks=load.blocks.items,
    )
    report = Report(Path(run_dir), data, series)
    try:
        diagnosis = diagnose(report)
    except Exception as exc:  # a runbook's bug must not cost the user the SLA report; it is said, not hidden
        if strict:
            raise
        log.exception("diagnosis failed")
        diagnosis = Diagnosis([], [f"the diagnosis failed ({exc!r}); run `harness diagnose` for details"])
    report.data = data.model_copy(
        update={"findings": diagnosis.findings, "warnings": [*data.warnings, *diagnosis.warnings]}
    )
    return report


def _apply_baseline(report: Report, baseline: Path, tolerance: float | None, allow_mismatch: bool) -> None:
    """The comparison joins the report; a regression turns its verdict to FAIL (ReportData.judgement)."""
    base = analyse(baseline)
    data = report.data
    comparison = compare(report, base, tolerance, allow_mismatch=allow_mismatch)
    warnings = [f"compared with a baseline that ran something else: {m}" for m in comparison.mismatches]
    report.data = data.model_copy(
        update={
            "baseline": comparison,
            "profile_diffs": [*data.profile_diffs, *baseline_diffs(data.profiles, base.data.profiles)],
            "warnings": [*data.warnings, *warnings],
        }
    )


def build_report(
    run_dir: Path, baseline: Path | None = None, *, tolerance: float | None = None, allow_mismatch: bool = False
) -> Report:
    """Analyse RUN_DIR and write the report files into it; see docs/report.md. With a baseline that ran
    something else, BaselineMismatch (nothing written) unless `allow_mismatch`."""
    report = analyse(Path(run_dir))
    if baseline is not None:
        _apply_baseline(report, Path(baseline), tolerance, allow_mismatch)
    write_report(report)
    return report


def write_report(report: Report) -> None:
    """report.json, report.md, junit.xml and report.html into the run folder."""
    report.json_path.write_text(json.dumps(report.data.model_dump(mode="json"), indent=2) + "\n")
    report.paths["json"] = report.json_path
    write_all(report)

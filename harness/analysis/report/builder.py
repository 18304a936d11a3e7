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
from typing import Any

from harness.analysis.diagnose import diagnose
from harness.analysis.report import summary
from harness.analysis.report.compare import compare
from harness.analysis.report.conditions import run_conditions
from harness.analysis.report.events import aggregate_alerts, aggregate_ledger
from harness.analysis.report.load import aggregate_load, latency_summary
from harness.analysis.report.model import Report
from harness.analysis.report.profiles import baseline_diffs, profile_tables, window_diffs
from harness.analysis.report.render import write_all
from harness.analysis.report.resources import aggregate_resources
from harness.analysis.report.verdicts import error_budget_used, sla_verdicts
from harness.core.contract import ExitCode
from harness.core.runfolder.reader import RunFolder
from harness.core.secrets import mask_mapping

log = logging.getLogger(__name__)
SCHEMA_VERSION = 1
VERDICT_EXIT = {"PASS": ExitCode.OK, "FAIL": ExitCode.SLA_BREACHED, "INCOMPLETE": ExitCode.ABORTED}


def _lost_count(ledger: dict[str, Any] | None) -> int | None:
    if not ledger:
        return None
    messages = ledger.get("messages") or {}
    if "lost" in messages:
        return int(messages["lost"])
    by_stage = ledger.get("lost_by_stage")
    return sum(int(v) for v in by_stage.values()) if isinstance(by_stage, dict) else None


def _run_block(folder: RunFolder) -> dict[str, Any]:
    m = folder.manifest
    keys = ("scenario", "scenario_file", "harness_version", "started_at", "ended_at", "abort_reason")
    block = {k: m.get(k) for k in keys}
    block.update(dir=str(folder.path), name=folder.path.name, status=folder.status)
    return block


def analyse(run_dir: Path, *, strict: bool = False) -> Report:
    """Read the run folder and compute everything; writes nothing. `strict`: a failing runbook raises
    (for `harness diagnose`) instead of becoming a warning in the report."""
    folder = RunFolder.open(run_dir)
    thresholds = folder.thresholds()
    ledger = aggregate_ledger(folder)
    timeout_s = (ledger.final or {}).get("reply_timeout_s") or folder.manifest.get("reply_timeout_s")
    load = aggregate_load(folder, float(timeout_s) if timeout_s else None)
    resources = aggregate_resources(folder)
    alerts = aggregate_alerts(folder, load.sim_end, load.wall_end)
    lost = _lost_count(ledger.final)
    profiles = profile_tables(folder)
    verdicts = sla_verdicts(load, resources, lost, thresholds)

    incomplete = list(folder.problems)
    if folder.status != "completed":
        reason = folder.manifest.get("abort_reason")
        incomplete.insert(0, f"run status is {folder.status!r}" + (f": {reason}" if reason else ""))
    incomplete += [f"no data for {v.name}" for v in verdicts if v.status == "no_data"]
    if incomplete:
        verdict = "INCOMPLETE"
    elif any(v.status == "fail" for v in verdicts):
        verdict = "FAIL"
    else:
        verdict = "PASS"

    availability = load.totals.availability()
    data: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "verdict": verdict,
        "exit_code": int(VERDICT_EXIT[verdict]),
        "run": _run_block(folder),
        "incomplete_reasons": incomplete,
        "warnings": list(folder.warnings) + [f"run: {w}" for w in folder.manifest.get("warnings") or []],
        "conditions": run_conditions(folder.manifest),
        "thresholds": thresholds,
        "chart_bucket_s": folder.bucket_s(),
        "slas": [v.as_dict() for v in verdicts],
        "load": {
            **load.totals.as_dict(),
            "sim_start": load.sim_start,
            "sim_end": load.sim_end,
            "wall_end": load.wall_end,
            "error_budget_used": error_budget_used(availability, thresholds["availability"]),
        },
        "latency": {
            "reply": latency_summary(load.reply),
            "first_chunk": latency_summary(load.first_chunk),
            "timeouts_counted_at_s": timeout_s,
            "peaks": [p.as_dict() for p in load.peaks],
        },
        "resources": resources.as_dict(),
        "api_errors": ledger.spans_as_list(),
        "login_failures": {api: span.as_dict() for api, span in ledger.login_failure_spans.items()},
        "messages": {
            "source": ledger.source,
            "lost": lost,
            **{
                k: (ledger.final or {}).get(k)
                for k in (
                    "messages",
                    "lost_by_stage",
                    "api_responses",
                    "login_failures",
                    "connections",
                    "faults_applied",
                )
            },
        },
        "alerts": alerts,
        "profiles": profiles,
        "profile_diffs": window_diffs(profiles),
        "manifest": mask_mapping(folder.manifest),  # secrets never appear in reports
    }
    charts = {
        "series": load.series,
        "peaks": [(p.as_dict(), p.points) for p in load.peaks],
        "resources": resources.series,
        "status_series": ledger.status_series,
        "statuses": ledger.statuses,
    }
    report = Report(Path(run_dir), verdict, int(VERDICT_EXIT[verdict]), data, charts)
    try:
        data["findings"] = [f.as_dict() for f in diagnose(report)]
    except Exception as exc:  # a runbook's bug must not cost the user the SLA report; it is said, not hidden
        if strict:
            raise
        log.exception("diagnosis failed")
        data["findings"] = []
        data["warnings"].append(f"the diagnosis failed ({exc!r}); run `harness diagnose` for details")
    data["summary"] = summary.sentences(data)
    return report


def _apply_baseline(report: Report, baseline: Path, tolerance: float | None) -> None:
    base = analyse(baseline).data
    comparison = compare(report.data, base, tolerance)
    report.data["baseline"] = comparison
    report.data["profile_diffs"] += baseline_diffs(report.data["profiles"], base["profiles"])
    if comparison["regressions"]:
        report.data["summary"].insert(
            1,
            f"Regressed against baseline {baseline.name}: "
            f"{comparison['regressions']} SLA(s) worse beyond the tolerance.",
        )
        if report.verdict == "PASS":  # a regression gates a release like a breach does
            report.verdict, report.exit_code = "FAIL", int(ExitCode.SLA_BREACHED)
            report.data.update(verdict=report.verdict, exit_code=report.exit_code)
            report.data["summary"][0] = report.data["summary"][0].replace("PASS:", "FAIL (regression):", 1)


def build_report(run_dir: Path, baseline: Path | None = None, *, tolerance: float | None = None) -> Report:
    """Analyse RUN_DIR and write the report files into it; see docs/report.md."""
    report = analyse(Path(run_dir))
    if baseline is not None:
        _apply_baseline(report, Path(baseline), tolerance)
    write_report(report)
    return report


def write_report(report: Report) -> None:
    """report.json, report.md, junit.xml and report.html into the run folder."""
    report.json_path.write_text(json.dumps(report.data, indent=2, default=str) + "\n")
    report.paths["json"] = report.json_path
    write_all(report)

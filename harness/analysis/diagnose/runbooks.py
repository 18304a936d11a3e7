"""Run every runbook over an analysed run: the findings, most severe first."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from harness.analysis.diagnose import api_errors, failover, io_waits, leaks, loss, refusals, security, slowness
from harness.analysis.diagnose.botlog import read_bot_log
from harness.analysis.diagnose.context import BOT_LOG, Context
from harness.analysis.diagnose.model import Finding, ordered
from harness.analysis.report.result import Report
from harness.core.runfolder.reader import RunFolder

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

RUNBOOKS = (loss, failover, api_errors, refusals, slowness, io_waits, leaks, security)


@dataclass(frozen=True)
class Diagnosis:
    findings: list[Finding]
    warnings: list[str]  # what the diagnosis found odd in its own input, for the report's warnings


def _scenario_faults(folder: RunFolder) -> list[dict[str, Any]]:
    path = folder.path / "scenario.toml"
    if not path.exists():
        return []
    try:
        faults = tomllib.loads(path.read_text()).get("faults") or []
    except (OSError, tomllib.TOMLDecodeError) as exc:
        folder.warnings.append(f"scenario.toml could not be read: {exc}")
        return []
    return [f for f in faults if isinstance(f, dict)]


def diagnose(report: Report) -> Diagnosis:
    """Findings for an analysed run (harness.analysis.report.builder.analyse), most severe first."""
    folder = RunFolder.open(report.run_dir)
    ledger = folder.read_json("ledger.json") if folder.exists("ledger.json") else None
    sample = [m for m in (ledger or {}).get("lost_sample", []) if isinstance(m, dict)]
    bot = read_bot_log(folder.path / BOT_LOG, [str(m.get("msgId")) for m in sample])
    late_latency = ((ledger or {}).get("latency") or {}).get("late_reply")
    ctx = Context(
        report.data,
        report.series,
        folder,
        bot,
        sample,
        _scenario_faults(folder),
        late_latency if isinstance(late_latency, dict) else None,
    )
    found: list[Finding] = []
    for runbook in RUNBOOKS:
        found += runbook.findings(ctx)
    if bot.present and not bot.follows_contract:
        folder.warnings.append(
            f"{BOT_LOG} is not in the optional JSON-lines format (docs/run-folder.md): the diagnosis rests on "
            "what the platform saw"
        )
    elif bot.unreadable:
        folder.warnings.append(f"{BOT_LOG}: {bot.unreadable} of {bot.lines} lines are not JSON objects")
    return Diagnosis(ordered(found), folder.warnings)

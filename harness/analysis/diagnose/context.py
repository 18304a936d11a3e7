"""What every runbook reads: the report's analysis of the run folder, and the bot's log."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from harness.analysis.diagnose.botlog import BotLog, Seen
from harness.analysis.report.model import LedgerFigures, ReportData
from harness.analysis.report.result import ChartSeries
from harness.core.contract import Thresholds
from harness.core.runfolder.reader import RunFolder
from harness.core.simclock import format_sim

BOT_LOG = "logs/bot.log"


@dataclass
class Context:
    report: ReportData  # the report's analysis of the run folder (harness.analysis.report.builder.analyse)
    series: ChartSeries  # the run's time series behind the report's charts
    folder: RunFolder
    bot: BotLog
    lost_sample: list[dict[str, Any]]  # ledger.json's bounded sample of lost messages
    faults: list[dict[str, Any]]  # the [[faults]] of the run's scenario.toml: errors injected on purpose
    late_reply_latency: dict[str, Any] | None = None  # ledger.json latency.late_reply: sent -> late answer

    @property
    def thresholds(self) -> Thresholds:
        return self.report.thresholds

    @property
    def ledger(self) -> LedgerFigures:
        return self.report.messages

    def injected(self, api: str, status: int) -> str | None:
        """When the run's own scenario injected this API error ('Thu 09:40 to Thu 10:20'), else None."""
        for fault in self.faults:
            spec = ((fault.get("set") or {}).get("errors") or {}).get(api)
            if isinstance(spec, dict) and int(spec.get("status", 0)) == status:
                return f"{fault.get('at', '?')} to {fault.get('until', 'the end')} at ratio {spec.get('ratio', '?')}"
        return None

    def sim(self, sim: float | None) -> str:
        return "n/a" if sim is None else format_sim(sim)

    def at(self, unix: float | None) -> str:
        """A log timestamp as simulated time when the timemap allows, else UTC wall time."""
        if unix is None:
            return "n/a"
        sim = self.folder.sim_at_unix(unix)
        if sim is not None:
            return format_sim(sim)
        return dt.datetime.fromtimestamp(unix, dt.timezone.utc).strftime("%H:%M:%S UTC")

    def span(self, seen: Seen) -> str:
        if seen.first is None:
            return ""
        first, last = self.at(seen.first), self.at(seen.last)
        return f" ({first})" if first == last else f" ({first} to {last})"

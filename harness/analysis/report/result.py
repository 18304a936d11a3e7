"""An analysed run: the report model, the time series behind its charts, and the files written."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.analysis.report.load import Block
from harness.analysis.report.model import ReportData, Verdict


@dataclass(frozen=True)
class ChartSeries:
    """The run's time series, for the page's charts and the diagnosis; not part of report.json.
    Points are plain dicts keyed by what they measure (resource and status points carry one key per
    component or status seen)."""

    load: list[dict[str, Any]]  # windows merged per chart bucket: rates, users, timeouts, latency percentiles
    peak_zooms: list[list[dict[str, Any]]]  # each peak window at full resolution, in latency.peaks' order
    resources: list[dict[str, Any]]  # samples per chart bucket: mean and max of CPU, memory, backlog
    api_errors: list[dict[str, Any]]  # non-2xx API responses per chart bucket, by HTTP status
    statuses: list[str]  # the HTTP statuses in api_errors
    blocks: list[Block] = field(default_factory=list)  # windows with messages, merged in time order (bootstrap)


@dataclass
class Report:
    """What `analyse` computed (`data`: report.json's model) and, once written, the files' paths."""

    run_dir: Path
    data: ReportData
    series: ChartSeries
    paths: dict[str, Path] = field(default_factory=dict)

    @property
    def verdict(self) -> Verdict:
        return self.data.verdict

    @property
    def exit_code(self) -> int:
        return self.data.exit_code

    @property
    def json_path(self) -> Path:
        return self.run_dir / "report.json"

    @property
    def html_path(self) -> Path:
        return self.run_dir / "report.html"

    @property
    def md_path(self) -> Path:
        return self.run_dir / "report.md"

    @property
    def junit_path(self) -> Path:
        return self.run_dir / "junit.xml"

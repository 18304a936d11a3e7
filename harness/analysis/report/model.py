"""The result of a report build: verdict, exit code, the report data and the files written."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Report:
    """What a build produced: the verdict, its exit code, the files written and the report data."""

    run_dir: Path
    verdict: str
    exit_code: int
    data: dict[str, Any]
    charts: dict[str, Any] = field(default_factory=dict)  # chart series, for the html renderer only
    paths: dict[str, Path] = field(default_factory=dict)

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

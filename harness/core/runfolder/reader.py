"""Read-only access to a run folder (docs/run-folder.md), tolerant of interrupted and copied runs.

Nothing here talks to a live process. Missing or damaged files are not errors: they are recorded in
`problems` so that the report can say what it could not see and mark the verdict incomplete.
JSON-lines files are streamed (jsonlines.py), never read whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core.contract import THRESHOLDS
from harness.core.runfolder.jsonlines import JsonLinesReader
from harness.core.timemap import Segment, TimeMap

# Chart buckets in simulated seconds: the smallest that gives at most MAX_CHART_POINTS over the run.
NICE_BUCKETS_S = (10, 30, 60, 300, 600, 1800, 3600)
MAX_CHART_POINTS = 240


class NotARunFolder(ValueError):
    """The path is not a directory, or holds none of the files a run leaves."""


@dataclass
class RunFolder:
    path: Path
    manifest: dict[str, Any] = field(default_factory=dict)
    timemap: TimeMap | None = None  # None: timemap.json missing, empty or damaged
    run_start_unix: float | None = None
    problems: list[str] = field(default_factory=list)  # data the report could not see: incomplete
    warnings: list[str] = field(default_factory=list)  # odd but harmless input, shown in the report

    @classmethod
    def open(cls, path: Path) -> RunFolder:
        path = Path(path)
        if not path.is_dir():
            raise NotARunFolder(f"{path}: not a directory")
        known = ("manifest.json", "timemap.json", "windows.jsonl", "samples.jsonl", "ledger.json")
        if not any((path / name).exists() for name in known):
            raise NotARunFolder(f"{path}: none of {', '.join(known)} found - is this a run folder?")
        folder = cls(path)
        folder.manifest = folder.read_json("manifest.json") or {}
        folder._read_timemap()
        return folder

    # --- whole-file JSON -------------------------------------------------------------------------
    def read_json(self, name: str) -> Any:
        target = self.path / name
        if not target.exists():
            self.problems.append(f"{name} is missing")
            return None
        try:
            return json.loads(target.read_text())
        except (OSError, ValueError) as exc:
            self.problems.append(f"{name} could not be read: {exc}")
            return None

    def _read_timemap(self) -> None:
        timemap = self.read_json("timemap.json")
        if not timemap:
            return
        self.run_start_unix = timemap.get("run_start_unix")
        if not timemap.get("segments"):
            return
        try:
            self.timemap = TimeMap.from_json(timemap)
        except (KeyError, TypeError, ValueError) as exc:
            self.problems.append(f"timemap.json has a malformed segment: {exc!r}")

    # --- streamed JSON lines ---------------------------------------------------------------------
    def exists(self, name: str) -> bool:
        return (self.path / name).exists()

    def iter_jsonl(self, name: str, *, required: bool = True) -> Iterator[dict[str, Any]]:
        """Yield each JSON object of a JSON-lines file; a torn last line (run killed mid-write) and
        damaged lines are counted in `problems`, never silently skipped."""
        target = self.path / name
        if not target.exists():
            if required:
                self.problems.append(f"{name} is missing")
            return
        lines = JsonLinesReader(target)
        yield from lines
        if lines.bad:
            self.problems.append(f"{name}: {lines.bad} unreadable line(s), first at line {lines.first_bad}")

    # --- facts from the manifest -----------------------------------------------------------------
    @property
    def status(self) -> str:
        return str(self.manifest.get("status", "unknown"))

    def thresholds(self) -> dict[str, Any]:
        """Contract defaults, overridden by the run's own thresholds (scenario files may set them)."""
        merged = THRESHOLDS.as_dict()
        override = self.manifest.get("thresholds") or {}
        unknown = sorted(set(override) - set(merged))
        if unknown:
            self.warnings.append(f"manifest.json thresholds has unknown key(s) ignored: {', '.join(unknown)}")
        merged.update({k: float(v) for k, v in override.items() if k in merged})
        return merged

    @property
    def segments(self) -> tuple[Segment, ...]:
        return self.timemap.segments if self.timemap else ()

    def sim_at_unix(self, unix: float) -> float | None:
        """Simulated time at a wall-clock instant (log timestamps); None without a time map."""
        if self.run_start_unix is None or self.timemap is None:
            return None
        return self.timemap.sim_at_unix(unix, float(self.run_start_unix))

    def bucket_s(self) -> int:
        """Simulated seconds per chart point: an hour for a week, seconds for a short real-time run."""
        if self.timemap is None:
            return NICE_BUCKETS_S[-1]
        span = self.timemap.sim_end - self.timemap.sim_start
        return next((b for b in NICE_BUCKETS_S if span / b <= MAX_CHART_POINTS), NICE_BUCKETS_S[-1])

    def peak_segments(self) -> list[Segment]:
        return self.timemap.peaks if self.timemap else []

    def files(self, pattern: str) -> list[Path]:
        return sorted(self.path.glob(pattern))

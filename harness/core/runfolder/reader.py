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
from harness.core.simclock import DAY_NAMES
from harness.core.timemap import Segment

# Chart buckets in simulated seconds: the smallest that gives at most MAX_CHART_POINTS over the run.
NICE_BUCKETS_S = (10, 30, 60, 300, 600, 1800, 3600)
MAX_CHART_POINTS = 240
SECONDS_PER_DAY = 86_400


class NotARunFolder(ValueError):
    """The path is not a directory, or holds none of the files a run leaves."""


def sim_label(sim: float, *, end: bool = False) -> str:
    """Simulated seconds since Monday 00:00 as 'Tue 10:05' (the clock every chart uses); an end
    time on midnight reads as the day before's 24:00."""
    day, rest = divmod(int(sim), SECONDS_PER_DAY)
    if end and rest == 0 and day > 0:
        day, rest = day - 1, SECONDS_PER_DAY
    name = DAY_NAMES[day % 7] + (f"+{day // 7}w" if day >= 7 else "")
    return f"{name} {rest // 3600:02d}:{rest % 3600 // 60:02d}"


def segment_label(seg: Segment) -> str:
    """A segment's simulated span as 'Tue 09:30-10:30'."""
    return f"{sim_label(seg.sim_start)}-{sim_label(seg.sim_end, end=True).split(' ')[-1]}"


@dataclass
class RunFolder:
    path: Path
    manifest: dict[str, Any] = field(default_factory=dict)
    segments: list[Segment] = field(default_factory=list)
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
        try:
            self.segments = [Segment.from_dict(s) for s in timemap.get("segments", [])]
        except (KeyError, TypeError, ValueError) as exc:
            self.problems.append(f"timemap.json has a malformed segment: {exc!r}")
            self.segments = []

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

    def thresholds(self) -> dict[str, float]:
        """Contract defaults, overridden by the run's own thresholds (scenario files may set them)."""
        merged = THRESHOLDS.as_dict()
        override = self.manifest.get("thresholds") or {}
        unknown = sorted(set(override) - set(merged))
        if unknown:
            self.warnings.append(f"manifest.json thresholds has unknown key(s) ignored: {', '.join(unknown)}")
        merged.update({k: float(v) for k, v in override.items() if k in merged})
        return merged

    def sim_at_unix(self, unix: float) -> float | None:
        """Simulated time at a wall-clock instant (log timestamps), from the timemap's segments."""
        if self.run_start_unix is None or not self.segments:
            return None
        wall = unix - float(self.run_start_unix)
        for seg in self.segments:
            if wall < seg.wall_end or seg is self.segments[-1]:
                span = max(seg.wall_end - seg.wall_start, 1e-9)
                share = min(max((wall - seg.wall_start) / span, 0.0), 1.0)
                return seg.sim_start + share * (seg.sim_end - seg.sim_start)
        return None

    def bucket_s(self) -> int:
        """Simulated seconds per chart point: an hour for a week, seconds for a short real-time run."""
        if not self.segments:
            return NICE_BUCKETS_S[-1]
        span = max(s.sim_end for s in self.segments) - min(s.sim_start for s in self.segments)
        return next((b for b in NICE_BUCKETS_S if span / b <= MAX_CHART_POINTS), NICE_BUCKETS_S[-1])

    def peak_segments(self) -> list[Segment]:
        return [s for s in self.segments if s.kind == "peak"]

    def files(self, pattern: str) -> list[Path]:
        return sorted(self.path.glob(pattern))

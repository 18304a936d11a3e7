"""The run's py-spy profiles (profiles/<window>/<component>.txt) as hot-function tables and diffs."""

from __future__ import annotations

import json
from pathlib import Path

from harness.analysis.report.model import DiffRow, HotFunction, Profile, ProfileDiff, ProfileFiles
from harness.core.runfolder.reader import RunFolder
from harness.profiling.stacks import BadStacks, Stacks, diff, hot_functions

HOT_ROWS = 15
DIFF_ROWS = 10


def _raw_files(run_dir: Path) -> list[Path]:
    """profiles/<window>/<component>.txt, oldest window first (by recording start when known)."""
    files = [p for p in (run_dir / "profiles").glob("*/*.txt") if not p.name.endswith(".py-spy.log")]

    def started(p: Path) -> float:
        meta = p.with_name(p.stem + ".meta.json")
        try:
            return float(json.loads(meta.read_text())["started_unix"])
        except (OSError, ValueError, KeyError, TypeError):
            return p.stat().st_mtime

    return sorted(files, key=lambda p: (started(p), str(p)))


def profile_tables(folder: RunFolder) -> list[Profile]:
    out = []
    for raw in _raw_files(folder.path):
        try:
            stacks = Stacks.load(raw)
        except (OSError, BadStacks) as exc:
            folder.warnings.append(f"profile {raw.relative_to(folder.path)} unreadable: {exc}")
            continue
        meta_path = raw.with_name(raw.stem + ".meta.json")
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        rel = raw.parent.relative_to(folder.path)
        out.append(
            Profile(
                window=raw.parent.name,
                component=raw.stem,
                samples=stacks.total,
                mode=meta.get("mode", "unknown"),
                rate=meta.get("rate"),
                idle=bool(meta.get("idle", False)),
                files=ProfileFiles(
                    svg=str(rel / f"{raw.stem}.svg"),
                    speedscope=str(rel / f"{raw.stem}.speedscope.json"),
                    raw=str(rel / f"{raw.stem}.txt"),
                ),
                hot=[HotFunction(**row) for row in hot_functions(stacks, HOT_ROWS)],
                path=str(raw),
            )
        )
    return out


def _diff(before: Profile, after: Profile, before_label: str) -> ProfileDiff:
    rows = diff(Stacks.load(Path(before.path)), Stacks.load(Path(after.path)), DIFF_ROWS)
    return ProfileDiff(
        component=after.component, before=before_label, after=after.window, rows=[DiffRow(**r) for r in rows]
    )


def window_diffs(profiles: list[Profile]) -> list[ProfileDiff]:
    """For each component profiled in two windows or more: first window -> last window."""
    by_component: dict[str, list[Profile]] = {}
    for p in profiles:
        by_component.setdefault(p.component, []).append(p)
    return [_diff(items[0], items[-1], items[0].window) for items in by_component.values() if len(items) >= 2]


def baseline_diffs(current: list[Profile], baseline: list[Profile]) -> list[ProfileDiff]:
    """Same window and component in the baseline run -> this run."""
    base = {(p.window, p.component): p for p in baseline}
    return [_diff(old, p, f"baseline {p.window}") for p in current if (old := base.get((p.window, p.component)))]

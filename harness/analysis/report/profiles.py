"""The run's py-spy profiles (profiles/<window>/<component>.txt) as hot-function tables and diffs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.core.runfolder.reader import RunFolder
from harness.profiling.stacks import BadStacks, Stacks, diff, hot_functions

HOT_ROWS = 15


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


def profile_tables(folder: RunFolder) -> list[dict[str, Any]]:
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
            {
                "window": raw.parent.name,
                "component": raw.stem,
                "samples": stacks.total,
                "mode": meta.get("mode", "unknown"),
                "rate": meta.get("rate"),
                "files": {
                    k: str(rel / f"{raw.stem}{suffix}")
                    for k, suffix in (("svg", ".svg"), ("speedscope", ".speedscope.json"), ("raw", ".txt"))
                },
                "hot": hot_functions(stacks, HOT_ROWS),
                "path": str(raw),
            }
        )
    return out


def window_diffs(profiles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each component profiled in two windows or more: first window -> last window."""
    by_component: dict[str, list[dict[str, Any]]] = {}
    for p in profiles:
        by_component.setdefault(p["component"], []).append(p)
    out = []
    for component, items in by_component.items():
        if len(items) >= 2:
            first, last = items[0], items[-1]
            rows = diff(Stacks.load(Path(first["path"])), Stacks.load(Path(last["path"])), 10)
            out.append({"component": component, "before": first["window"], "after": last["window"], "rows": rows})
    return out


def baseline_diffs(current: list[dict[str, Any]], baseline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Same window and component in the baseline run -> this run."""
    base = {(p["window"], p["component"]): p for p in baseline}
    out = []
    for p in current:
        old = base.get((p["window"], p["component"]))
        if old:
            rows = diff(Stacks.load(Path(old["path"])), Stacks.load(Path(p["path"])), 10)
            out.append(
                {"component": p["component"], "before": f"baseline {p['window']}", "after": p["window"], "rows": rows}
            )
    return out

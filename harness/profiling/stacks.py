"""py-spy raw (collapsed) stacks: hot-function tables, diffs, speedscope JSON and a flame-graph SVG.

py-spy's raw format is one line per unique stack: frames root to leaf separated by `;`, each
`function (file:line)`, then a space and the sample count. Functions are compared without their line
number, so every line of a function adds up. Self share = samples with the function as the leaf;
inclusive share = samples with the function anywhere on the stack (counted once under recursion).
One py-spy sampler writes the raw file; the speedscope JSON and the SVG are derived from it, so the
three views of a window always agree and the profiled process pays for one sampler only.
"""

from __future__ import annotations

import html
import json
import re
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NO_PYTHON_FRAME = "(no Python frame)"
FRAME_LINE = re.compile(r"^(?P<func>.*?) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")


class BadStacks(ValueError):
    """A raw stacks file that is not py-spy's collapsed format."""


@dataclass
class Stacks:
    counts: Counter[tuple[str, ...]] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @classmethod
    def parse(cls, text: str, source: str = "stacks") -> Stacks:
        stacks = cls()
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            frames, _, count = line.strip().rpartition(" ")
            if not count.isdigit():
                raise BadStacks(f"{source}:{number}: expected 'frame;frame;... COUNT', got {line[:80]!r}")
            # py-spy writes an empty stack for samples taken while no Python frame was running
            stacks.counts[tuple(frames.split(";")) if frames else (NO_PYTHON_FRAME,)] += int(count)
        return stacks

    @classmethod
    def load(cls, path: Path) -> Stacks:
        return cls.parse(path.read_text(), str(path))


def function_of(frame: str) -> str:
    """'compute (engine.py:42)' -> 'compute (engine.py)': one entry per function, not per line."""
    match = FRAME_LINE.match(frame)
    return f"{match['func']} ({match['file']})" if match else frame


def hot_functions(stacks: Stacks, limit: int = 25) -> list[dict[str, Any]]:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, count in stacks.counts.items():
        functions = [function_of(f) for f in frames]
        if functions:
            own[functions[-1]] += count
        for name in set(functions):
            inclusive[name] += count
    total = stacks.total or 1
    rows = [
        {
            "function": name,
            "self_samples": own[name],
            "inclusive_samples": n,
            "self_share": own[name] / total,
            "inclusive_share": n / total,
        }
        for name, n in inclusive.items()
    ]
    rows.sort(key=lambda r: (-own[str(r["function"])], -inclusive[str(r["function"])], str(r["function"])))
    return rows[:limit]


def diff(before: Stacks, after: Stacks, limit: int = 25) -> list[dict[str, Any]]:
    """What got hotter: change of each function's self and inclusive share, hottest growth first."""
    a = {r["function"]: r for r in hot_functions(before, limit=10**9)}
    b = {r["function"]: r for r in hot_functions(after, limit=10**9)}
    rows = []
    for name in set(a) | set(b):
        old, new = a.get(name, {}), b.get(name, {})
        rows.append(
            {
                "function": name,
                "self_before": old.get("self_share", 0.0),
                "self_after": new.get("self_share", 0.0),
                "inclusive_before": old.get("inclusive_share", 0.0),
                "inclusive_after": new.get("inclusive_share", 0.0),
            }
        )
    for r in rows:
        r["self_delta"] = r["self_after"] - r["self_before"]
        r["inclusive_delta"] = r["inclusive_after"] - r["inclusive_before"]
    rows.sort(key=lambda r: (-r["self_delta"], -r["inclusive_delta"], r["function"]))
    return rows[:limit]


def to_speedscope(stacks: Stacks, name: str) -> dict[str, Any]:
    """The speedscope file format (a 'sampled' profile; schema at speedscope.app/file-format-schema.json)."""
    index: dict[str, int] = {}
    frames: list[dict[str, Any]] = []
    samples, weights = [], []
    for stack, count in stacks.counts.items():
        row = []
        for frame in stack:
            if frame not in index:
                index[frame] = len(frames)
                match = FRAME_LINE.match(frame)
                entry: dict[str, Any] = {"name": match["func"] if match else frame}
                if match:
                    entry["file"] = match["file"]
                    if match["line"]:
                        entry["line"] = int(match["line"])
                frames.append(entry)
            row.append(index[frame])
        samples.append(row)
        weights.append(count)
    return {
        "$schema": "https://www.speedscope.app/file-format-schema.json",
        "name": name,
        "exporter": "chatbot-harness (from py-spy raw stacks)",
        "activeProfileIndex": 0,
        "shared": {"frames": frames},
        "profiles": [
            {
                "type": "sampled",
                "name": name,
                "unit": "none",
                "startValue": 0,
                "endValue": stacks.total,
                "samples": samples,
                "weights": weights,
            }
        ],
    }


@dataclass
class _Node:
    count: int = 0
    children: dict[str, _Node] = field(default_factory=dict)


def _tree(stacks: Stacks) -> _Node:
    root = _Node()
    for frames, count in stacks.counts.items():
        root.count += count
        node = root
        for frame in frames:
            node = node.children.setdefault(frame, _Node())
            node.count += count
    return root


def _depth(node: _Node) -> int:
    return 1 + max((_depth(c) for c in node.children.values()), default=0)


def flamegraph_svg(stacks: Stacks, title: str, width: int = 1200, row: int = 17) -> str:
    """A static flame graph: callers below callees, width = share of samples, hover for details."""
    root = _tree(stacks)
    total = root.count or 1
    scale = (width - 20) / total
    height = _depth(root) * row + 40
    rects: list[str] = []

    def walk(node: _Node, x: float, depth: int) -> None:
        for name, child in sorted(node.children.items()):
            w = child.count * scale
            if w >= 0.3:  # narrower than a pixel: invisible, and would only bloat the file
                y = height - 20 - (depth + 1) * row
                hue = zlib.crc32(function_of(name).encode()) % 55
                label = name if w > 7 * len(name) else (name[: int(w / 7) - 2] + ".." if w > 35 else "")
                text = f'<text x="{x + 3:.1f}" y="{y + row - 5}">{html.escape(label)}</text>' if label else ""
                rects.append(
                    f"<g><title>{html.escape(name)}: {child.count} samples ({child.count / total:.1%})"
                    f'</title><rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row - 1}" '
                    f'fill="hsl({hue},85%,{55 + hue % 10}%)" rx="2"/>{text}</g>'
                )
                walk(child, x, depth + 1)
            x += w

    walk(root, 10.0, 0)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="monospace" font-size="11">'
        f'<rect width="100%" height="100%" fill="#fdfdf5"/>'
        f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="14">{html.escape(title)}</text>'
        f'<text x="10" y="{height - 5}">{root.count} samples; hover a frame for its share</text>'
        + "\n".join(rects)
        + "</svg>\n"
    )


def write_views(raw: Path, title: str) -> dict[str, Path]:
    """From <component>.txt write <component>.speedscope.json and <component>.svg beside it."""
    stacks = Stacks.load(raw)
    stem = raw.with_suffix("")
    speedscope = stem.with_name(stem.name + ".speedscope.json")
    speedscope.write_text(json.dumps(to_speedscope(stacks, title)))
    svg = stem.with_suffix(".svg")
    svg.write_text(flamegraph_svg(stacks, title))
    return {"raw": raw, "speedscope": speedscope, "svg": svg}

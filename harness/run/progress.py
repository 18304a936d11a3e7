"""The progress line on the terminal: simulated day and hour, users, msg/s, p99 so far, errors, alerts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

from harness import histograms
from scenarios.simclock import format_sim


class WindowsTail:
    """Reads windows.jsonl as the master appends it; keeps the run's cumulative counts and histogram."""

    def __init__(self, path: Path):
        self.path = path
        self._offset = 0
        self.totals: dict[str, int] = {}
        self.reply = histograms.new_histogram()
        self.last: dict[str, Any] | None = None

    def read_new(self) -> int:
        if not self.path.exists():
            return 0
        with self.path.open("r", encoding="utf-8") as f:
            f.seek(self._offset)
            lines = 0
            while True:
                line = f.readline()
                if not line.endswith("\n"):
                    break  # a line being written: read it next time
                self._offset = f.tell()
                window = json.loads(line)
                for key in ("offered", "sent", "replies_ok", "timeouts", "errors", "late_starts"):
                    self.totals[key] = self.totals.get(key, 0) + int(window.get(key, 0))
                self.reply.add(histograms.decode(window["reply_hist"]))
                self.last = window
                lines += 1
        return lines

    def p99(self) -> float | None:
        return histograms.percentile_seconds(self.reply, 99.0)

    def failed_share(self) -> float:
        sent = self.totals.get("sent", 0)
        failed = self.totals.get("timeouts", 0) + self.totals.get("errors", 0)
        return failed / sent if sent else 0.0


def progress_line(wall: float, total_wall: float, sim: float, kind: str, tail: WindowsTail,
                  alerts: list[str]) -> str:
    last = tail.last or {}
    span = (last.get("wall_end", 0) - last.get("wall_start", 0)) or 1
    rate = last.get("sent", 0) / span
    p99 = tail.p99()
    p99_text = f"{p99 * 1000:.0f} ms" if p99 is not None else "-"
    alert_text = ", ".join(alerts) if alerts else "none"
    return (f"[{wall:5.0f}/{total_wall:.0f} s] {format_sim(sim)} {kind:<6} users {last.get('users', 0):>5}  "
            f"{rate:7.1f} msg/s  p99 {p99_text:>8}  failed {tail.failed_share():6.2%}  "
            f"sent {tail.totals.get('sent', 0)}  alerts: {alert_text}")


def summary_lines(tail: WindowsTail) -> list[str]:
    t = tail.totals
    p99 = tail.p99()
    return [
        f"messages sent {t.get('sent', 0)}, replies {t.get('replies_ok', 0)}, no reply {t.get('timeouts', 0)}, "
        f"errors {t.get('errors', 0)}, late starts {t.get('late_starts', 0)}",
        f"reply latency p99 {p99 * 1000:.0f} ms (from intended send time)" if p99 is not None
        else "reply latency: no replies",
    ]


def emit(out: TextIO, text: str) -> None:
    out.write(text + "\n")
    out.flush()

"""The progress line on the terminal: simulated day and hour, users, msg/s, p99 so far, errors, alerts."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any, TextIO

from prometheus_client.parser import text_string_to_metric_families

from harness.core import histograms
from harness.core.simclock import format_sim


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


class LiveStatus:
    """Reads the load generator's exporter (live counters) for the progress line."""

    def __init__(self, metrics_url: str):
        self.url = metrics_url
        self.sent = self.failed = self.replied = self.late = 0.0
        self.users = 0
        self.rate = 0.0
        self._last: tuple[float, float] | None = None

    def poll(self) -> None:
        try:
            with urllib.request.urlopen(self.url, timeout=2) as response:
                text = response.read().decode()
        except OSError:
            return
        values: dict[tuple[str, str], float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                values[(sample.name, sample.labels.get("outcome", ""))] = sample.value
        self.sent = values.get(("loadgen_messages_sent_total", "ok"), 0.0)
        self.replied = values.get(("loadgen_replies_total", "ok"), 0.0)
        self.failed = sum(values.get(("loadgen_replies_total", o), 0.0) for o in ("timeout", "error"))
        self.users = int(values.get(("loadgen_users", ""), 0))
        self.late = values.get(("loadgen_late_starts_total", ""), 0.0)
        now = time.monotonic()
        if self._last is not None and now > self._last[0]:
            self.rate = (self.sent - self._last[1]) / (now - self._last[0])
        self._last = (now, self.sent)


def progress_line(
    wall: float, total_wall: float, sim: float, kind: str, live: LiveStatus, tail: WindowsTail, alerts: list[str]
) -> str:
    p99 = tail.p99()
    p99_text = f"{p99 * 1000:.0f} ms" if p99 is not None else "-"
    done = live.replied + live.failed
    failed = live.failed / done if done else 0.0
    alert_text = ", ".join(alerts) if alerts else "none"
    return (
        f"[{wall:5.0f}/{total_wall:.0f} s] {format_sim(sim)} {kind:<6} users {live.users:>5}  "
        f"{live.rate:7.1f} msg/s  p99 {p99_text:>8} (settled)  failed {failed:6.2%}  "
        f"sent {live.sent:.0f}  late {live.late:.0f}  alerts: {alert_text}"
    )


def summary_lines(tail: WindowsTail) -> list[str]:
    t = tail.totals
    p99 = tail.p99()
    return [
        f"messages sent {t.get('sent', 0)}, replies {t.get('replies_ok', 0)}, no reply {t.get('timeouts', 0)}, "
        f"errors {t.get('errors', 0)}, late starts {t.get('late_starts', 0)}",
        f"reply latency p99 {p99 * 1000:.0f} ms (from intended send time)"
        if p99 is not None
        else "reply latency: no replies",
    ]


def emit(out: TextIO, text: str) -> None:
    out.write(text + "\n")
    out.flush()

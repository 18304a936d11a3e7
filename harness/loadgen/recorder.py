"""Per-window measurements on one load generator (a Locust worker), shipped to the master as they close.

Windows are fixed slices of wall time since the run start (the master's clock, sent to workers), so
the master can merge the same window from every worker. Everything about a message - offered, sent,
its reply latency or its failure - lands in the window of its *intended send time*, so a window's
offered = replies_ok + timeouts + errors once settled (a send that failed at the socket is offered, not
sent, and counted in errors), and a failure is charged to the simulated hour
whose load caused it, not to whenever the timeout expired. A window is therefore shipped only after
`hold_s` (the reply timeout) has passed. Histograms are HdrHistogram via harness.core.histograms.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from harness.core import histograms

COUNTS = ("offered", "sent", "replies_ok", "timeouts", "errors", "late_starts")
NO_REPLY_SAMPLE = 10  # msgIds of "no reply" kept per window for the diagnosis


@dataclass
class Window:
    index: int
    counts: Counter[str] = field(default_factory=Counter)
    errors_by_kind: Counter[str] = field(default_factory=Counter)
    no_reply_sample: list[dict[str, str]] = field(default_factory=list)
    reply_hist: Any = field(default_factory=histograms.new_histogram)
    first_chunk_hist: Any = field(default_factory=histograms.new_histogram)
    # latencies (integer microseconds) not yet in the histograms: recorded a batch at a time by fold()
    reply_us: list[int] = field(default_factory=list)
    first_chunk_us: list[int] = field(default_factory=list)

    def fold(self) -> None:
        """Bring the histograms up to date with every latency recorded so far."""
        if self.reply_us:
            histograms.record_many_us(self.reply_hist, self.reply_us)
            self.reply_us = []
        if self.first_chunk_us:
            histograms.record_many_us(self.first_chunk_hist, self.first_chunk_us)
            self.first_chunk_us = []

    def payload(self) -> dict[str, Any]:
        self.fold()
        return {
            "index": self.index,
            "counts": {k: self.counts[k] for k in COUNTS},
            "errors_by_kind": dict(self.errors_by_kind),
            "no_reply_sample": self.no_reply_sample,
            "reply_hist": histograms.encode(self.reply_hist),
            "first_chunk_hist": histograms.encode(self.first_chunk_hist),
        }


class WindowRecorder:
    """Each outcome is recorded once, in the window of its intended send time. A latency is kept as an
    integer and the window's HdrHistograms take them a batch at a time, one record per distinct bucket
    (a record per reply was most of the recorder's cost per message). The live view is derived from the
    windows when it is shipped."""

    def __init__(self, run_start: float, window_s: float, hold_s: float = 0.0, clock=time.time):
        self.run_start = run_start
        self.window_s = window_s
        self.hold_windows = math.ceil(hold_s / window_s)
        self.clock = clock
        self.windows: dict[int, Window] = {}
        self.totals: Counter[str] = Counter()
        self.next_unshipped = 0
        self.shipped = Window(-1)  # the histograms of every window shipped so far (for the live view)

    def index_now(self) -> int:
        return max(0, int((self.clock() - self.run_start) // self.window_s))

    def _window(self, intended: float) -> Window:
        # never record into a window already shipped: a very late outcome goes to the next open one
        index = max(0, int((intended - self.run_start) // self.window_s), self.next_unshipped)
        window = self.windows.get(index)
        if window is None:
            window = self.windows[index] = Window(index)
        return window

    def count(self, name: str, intended: float) -> None:
        self._window(intended).counts[name] += 1
        self.totals[name] += 1

    def sent(self, intended: float, late: bool) -> None:
        counts = self._window(intended).counts
        counts["offered"] += 1
        counts["sent"] += 1
        self.totals["offered"] += 1
        self.totals["sent"] += 1
        if late:
            counts["late_starts"] += 1
            self.totals["late_starts"] += 1

    def reply(self, intended: float, latency_s: float, first_chunk_s: float) -> None:
        window = self._window(intended)
        window.counts["replies_ok"] += 1
        self.totals["replies_ok"] += 1
        window.reply_us.append(int(latency_s * 1_000_000))
        window.first_chunk_us.append(int(first_chunk_s * 1_000_000))

    def failure(
        self, intended: float, kind: str, timeout: bool = False, client_msg_id: str = "", msg_id: str = ""
    ) -> None:
        """A message that will never get its reply: counted once, by kind ("no reply", "send failed", ...).
        `msg_id` is known only when the emulator sends `accepted` frames (load.accepted_frames)."""
        self.count("timeouts" if timeout else "errors", intended)
        window = self._window(intended)
        window.errors_by_kind[kind] += 1
        if timeout and len(window.no_reply_sample) < NO_REPLY_SAMPLE:
            window.no_reply_sample.append({"clientMsgId": client_msg_id, "msgId": msg_id})

    def take_live(self) -> dict[str, Any]:
        """Everything recorded so far (cumulative counts and histograms), for the live exporter: the master
        keeps each worker's latest. Windows are exact but settle a reply timeout late; this is now."""
        reply, first_chunk = histograms.new_histogram(), histograms.new_histogram()
        for window in (self.shipped, *self.windows.values()):
            window.fold()
            reply.add(window.reply_hist)
            first_chunk.add(window.first_chunk_hist)
        return {
            "counts": {k: self.totals[k] for k in COUNTS},
            "reply_hist": histograms.encode(reply),
            "first_chunk_hist": histograms.encode(first_chunk),
        }

    def take_closed(self) -> list[dict[str, Any]]:
        """Payloads of every settled window (older than the hold), including empty ones (they say 'nothing')."""
        return self._take_until(self.index_now() - self.hold_windows)

    def take_all(self) -> list[dict[str, Any]]:
        """Every unshipped window including the current one (the final flush)."""
        return self._take_until(max(self.index_now(), *self.windows, -1) + 1)

    def _take_until(self, end: int) -> list[dict[str, Any]]:
        out = [self.windows.pop(i, None) or Window(i) for i in range(self.next_unshipped, end)]
        self.next_unshipped = max(self.next_unshipped, end)
        for window in out:
            window.fold()
            if window.counts["replies_ok"]:
                self.shipped.reply_hist.add(window.reply_hist)
                self.shipped.first_chunk_hist.add(window.first_chunk_hist)
        return [w.payload() for w in out]

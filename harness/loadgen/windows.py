"""Master side: merge every worker's window payloads, append windows.jsonl, export loadgen_* metrics.

A window is written once every worker known to the master has reported it, or `grace_s` after it
ended (a slow or vanished worker must not stall the file). A report that arrives for a window
already written is folded into the next open window and counted in `late_reports`, never dropped.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from hdrh.histogram import HdrHistogram
from prometheus_client.core import HistogramMetricFamily

from harness.core import histograms
from harness.core.contract import LATENCY_BUCKETS, METRICS
from harness.core.exposition import counter, gauge
from harness.core.timemap import TimeMap
from harness.loadgen.recorder import COUNTS, NO_REPLY_SAMPLE, Window


@dataclass
class MergedWindow(Window):
    """One window merged over every worker that reported it."""

    reporters: set[str] = field(default_factory=set)
    late_reports: int = 0


class WindowMerger:
    def __init__(
        self,
        out: TextIO,
        timemap: TimeMap,
        run_start: float,
        window_s: float,
        users_now: Callable[[], int],
        grace_s: float | None = None,
        clock=time.time,
    ):
        self.out = out
        self.timemap = timemap
        self.run_start = run_start
        self.window_s = window_s
        self.users_now = users_now
        self.grace_s = grace_s if grace_s is not None else 2 * window_s
        self.clock = clock
        self.open: dict[int, MergedWindow] = {}
        self.next_to_write = 0
        self.users_by_index: dict[int, int] = {}
        # cumulative over the written windows (loadgen.json)
        self.totals: Counter[str] = Counter()
        self.last_line: dict[str, Any] | None = None

    def index_now(self) -> int:
        return max(0, int((self.clock() - self.run_start) // self.window_s))

    def sample_users(self) -> None:
        self.users_by_index[self.index_now()] = self.users_now()

    def add(self, worker: str, payloads: Iterable[dict[str, Any]]) -> None:
        for p in payloads:
            late = p["index"] < self.next_to_write
            index = max(p["index"], self.next_to_write)
            window = self.open.get(index) or self.open.setdefault(index, MergedWindow(index))
            window.late_reports += late
            if not late:
                window.reporters.add(worker)
            window.counts.update(p["counts"])
            window.errors_by_kind.update(p["errors_by_kind"])
            room = NO_REPLY_SAMPLE - len(window.no_reply_sample)
            window.no_reply_sample.extend(p["no_reply_sample"][: max(0, room)])
            window.reply_hist.add(histograms.decode(p["reply_hist"]))
            window.first_chunk_hist.add(histograms.decode(p["first_chunk_hist"]))

    def flush(self, workers: set[str], final: bool = False) -> int:
        """Write every window that is complete (or overdue, or all of them when final). Returns lines written."""
        written = 0
        now_index_end = self.clock() - self.run_start
        last = max(self.open, default=-1) if final else self.index_now() - 1
        while self.next_to_write <= last:
            index = self.next_to_write
            window = self.open.get(index) or MergedWindow(index)
            overdue = now_index_end >= (index + 1) * self.window_s + self.grace_s
            if not (final or overdue or (workers and workers <= window.reporters)):
                break
            self._write(window, len(workers))
            self.open.pop(index, None)
            self.next_to_write += 1
            written += 1
        return written

    def _write(self, w: MergedWindow, expected_workers: int) -> None:
        wall_start, wall_end = w.index * self.window_s, (w.index + 1) * self.window_s
        users = self.users_by_index.pop(w.index, None)
        if users is None:
            users = self.last_line["users"] if self.last_line else 0
        line = {
            "wall_start": wall_start,
            "wall_end": wall_end,
            "sim_start": self.timemap.sim_at(wall_start),
            "sim_end": self.timemap.sim_at(wall_end),
            "users": users,
            **{k: w.counts[k] for k in COUNTS},
            "errors_by_kind": dict(w.errors_by_kind),
            "no_reply_sample": w.no_reply_sample,
            "workers": len(w.reporters),
            "expected_workers": expected_workers,
            "late_reports": w.late_reports,
            "reply_hist": histograms.encode(w.reply_hist),
            "first_chunk_hist": histograms.encode(w.first_chunk_hist),
        }
        self.out.write(json.dumps(line) + "\n")
        self.out.flush()
        self.totals.update({k: w.counts[k] for k in COUNTS})
        self.last_line = line


def _buckets(hist) -> tuple[list[tuple[str, float]], float]:
    """Cumulative Prometheus buckets (seconds) and the sum from an HdrHistogram in microseconds."""
    edges_us = [b * 1_000_000 for b in LATENCY_BUCKETS]
    counts = [0] * len(edges_us)
    total_sum = 0.0
    for item in hist.get_recorded_iterator():
        low = hist.get_lowest_equivalent_value(item.value_iterated_to)
        n = item.count_at_value_iterated_to
        total_sum += (low + hist.get_highest_equivalent_value(low)) / 2 * n / 1_000_000
        for i, edge in enumerate(edges_us):
            if low <= edge:
                counts[i] += n
    out = [(str(b), float(c)) for b, c in zip(LATENCY_BUCKETS, counts, strict=True)]
    out.append(("+Inf", float(hist.get_total_count())))
    return out, total_sum


class LiveTotals:
    """Cumulative counts and histograms over all workers, from each worker's latest live snapshot.

    The windows are exact but settle a reply timeout late; Prometheus and the progress line want now.
    A snapshot holds everything its worker recorded so far, so a newer one replaces the older; the
    histograms are merged when asked for (a scrape), not on every snapshot.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.by_worker: dict[str, tuple[dict[str, int], HdrHistogram, HdrHistogram]] = {}
        self.counts: Counter[str] = Counter()
        self._merged: tuple[HdrHistogram, HdrHistogram] | None = None
        self._clock = clock
        self.received_at: dict[str, float] = {}  # worker -> when its latest snapshot came
        self.timeout_counted_at = 0.0  # when the summed timeouts last grew

    def add(self, worker: str, payload: dict[str, Any]) -> None:
        self.by_worker[worker] = (
            payload["counts"],
            histograms.decode(payload["reply_hist"]),
            histograms.decode(payload["first_chunk_hist"]),
        )
        timeouts = self.counts["timeouts"]
        self.counts = Counter()
        for counts, _, _ in self.by_worker.values():
            self.counts.update(counts)
        self._merged = None
        now = self.received_at[worker] = self._clock()
        if self.counts["timeouts"] > timeouts:
            self.timeout_counted_at = now

    def settled(self, workers: set[str], since: float, quiet_s: float) -> bool:
        """Nothing more to wait for: every worker reported after `since`, every message offered has its
        outcome (reply, timeout or error), and none timed out in the last `quiet_s` (its late reply may
        still be on its way, and the ledger counts it)."""
        counts = self.counts
        return (
            bool(workers)
            and all(self.received_at.get(w, 0.0) >= since for w in workers)
            and counts["offered"] == counts["replies_ok"] + counts["timeouts"] + counts["errors"]
            and self._clock() - self.timeout_counted_at >= quiet_s
        )

    def _merge(self) -> tuple[HdrHistogram, HdrHistogram]:
        if self._merged is None:
            reply, first_chunk = histograms.new_histogram(), histograms.new_histogram()
            for _, worker_reply, worker_first_chunk in self.by_worker.values():
                reply.add(worker_reply)
                first_chunk.add(worker_first_chunk)
            self._merged = reply, first_chunk
        return self._merged

    @property
    def reply(self) -> HdrHistogram:
        return self._merge()[0]

    @property
    def first_chunk(self) -> HdrHistogram:
        return self._merge()[1]


class LoadgenCollector:
    """loadgen_* metrics (names from harness.core.contract) for Prometheus, from the live totals."""

    def __init__(self, live: LiveTotals, users_now: Callable[[], int], sim_now: Callable[[], float]):
        self.live = live
        self.users_now = users_now
        self.sim_now = sim_now

    def collect(self):
        t = self.live.counts
        sent = counter("loadgen_messages_sent_total")
        sent.add_metric(["ok"], t["sent"])
        sent.add_metric(["error"], t["offered"] - t["sent"])
        yield sent
        replies = counter("loadgen_replies_total")
        for outcome, key in (("ok", "replies_ok"), ("timeout", "timeouts"), ("error", "errors")):
            replies.add_metric([outcome], t[key])
        yield replies
        late = counter("loadgen_late_starts_total")
        late.add_metric([], t["late_starts"])
        yield late
        for name, hist in (
            ("loadgen_reply_latency_seconds", self.live.reply),
            ("loadgen_first_chunk_latency_seconds", self.live.first_chunk),
        ):
            buckets, total = _buckets(hist)
            yield HistogramMetricFamily(name, METRICS[name].help, buckets=buckets, sum_value=total)
        yield gauge("loadgen_users", self.users_now())
        yield gauge("loadgen_sim_time_seconds", self.sim_now())


def open_windows_file(run_dir: Path) -> TextIO:
    return (run_dir / "windows.jsonl").open("a", encoding="utf-8", buffering=1)

"""Replies in Locust's own statistics (its CSV, web UI and summary), added a batch at a time.

A Locust request event per reply costs about 6 us (an event dispatch and two StatsEntry.log calls, one
for the request name and one for the total). Answered requests are kept in a list and, at each sweep
of the runtime, logged once into a StatsEntry per name that is merged into Locust's RequestStats with
StatsEntry.extend (how Locust's master merges its workers' reports): the same counts, response-time
buckets, min / max and sizes as one event each, for about half the cost; the per-second counts are
those of the sweep, a fraction of a second later. Failures stay one request event each: they are rare
and Locust keeps their messages.

Locust's master also counts requests per second of the run in every StatsEntry, forever (one dict
entry per second and request name: about 300 MB over a week); only the last few seconds are read
(current RPS), so forget_old_seconds() drops the rest.
"""

from __future__ import annotations

from typing import Any

from locust.stats import StatsEntry

REQUEST_TYPE = "WS"
PER_SECOND_KEEP_S = 60  # seconds of per-second request counts kept (Locust's current RPS reads the last 10)


class LocustStats:
    def __init__(self, environment: Any) -> None:
        self.environment = environment
        self.answered: list[tuple[str, float, int]] = []  # (request name, response time in ms, length)

    def success(self, name: str, response_time_ms: float, length: int) -> None:
        self.answered.append((name, response_time_ms, length))

    def failure(self, name: str, response_time_ms: float, error: str) -> None:
        self.environment.events.request.fire(
            request_type=REQUEST_TYPE,
            name=name,
            response_time=response_time_ms,
            response_length=0,
            exception=error,
            context={},
        )

    def flush(self) -> None:
        """Fold every answered request so far into Locust's statistics."""
        batch, self.answered = self.answered, []
        stats = self.environment.stats
        by_name: dict[str, StatsEntry] = {}
        for name, ms, length in batch:
            entry = by_name.get(name)
            if entry is None:
                entry = by_name[name] = StatsEntry(stats, name, REQUEST_TYPE)
            entry.log(ms, length)
        for name, entry in by_name.items():
            stats.get(name, REQUEST_TYPE).extend(entry)
            stats.total.extend(entry)


def forget_old_seconds(stats: Any, now: float) -> int:
    """Drop the per-second request and failure counts older than PER_SECOND_KEEP_S from every entry of
    a Locust RequestStats (totals, percentiles and the current RPS stay as they were). Returns how many."""
    oldest = int(now) - PER_SECOND_KEEP_S
    dropped = 0
    for entry in (*stats.entries.values(), stats.total):
        for per_second in (entry.num_reqs_per_sec, entry.num_fail_per_sec):
            old = [t for t in per_second if t < oldest]
            for t in old:
                del per_second[t]
            dropped += len(old)
    return dropped

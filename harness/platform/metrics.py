"""Prometheus metrics of one emulator instance, named from harness.core.contract.METRICS.

Each server owns its own registry, so several emulators can live in one process (tests, benchmarks).
"""

from __future__ import annotations

import collections
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from harness.core.contract import METRICS
from harness.core.exposition import Children

CONTENT_TYPE = CONTENT_TYPE_LATEST


def _counter(registry: CollectorRegistry, name: str) -> Counter:
    spec = METRICS[name]
    return Counter(name.removesuffix("_total"), spec.help, spec.labels, registry=registry)


class BadInput:
    """One side's bad input: the ledger's `bad_input` counts and the Prometheus counter move in one call."""

    def __init__(self, metric: Counter, side: str) -> None:
        self.side = side
        self.counts: collections.Counter[str] = collections.Counter()
        self._metric = metric

    def count(self, kind: str) -> int:
        """Count one bad input of this kind; returns how many of it so far (for log throttling)."""
        self.counts[kind] += 1
        self._metric.labels(self.side, kind).inc()
        return self.counts[kind]


STAGES = ("sent", "pushed", "acked", "redelivered", "first_chunk", "replied", "lost")


class StageCounts(Collector):
    """platform_messages_total, read at scrape time from plain counts: the stages move several times per
    message, and a Counter child's inc() takes a lock each time (a scrape is on the event loop, as every
    count is, so the numbers are always whole)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        spec = METRICS["platform_messages_total"]
        self.name, self.help, self.labels = spec.name.removesuffix("_total"), spec.help, list(spec.labels)
        self.counts = dict.fromkeys(STAGES, 0)
        self.created = time.time()
        registry.register(self)

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self.name, self.help, labels=self.labels)
        for stage, count in self.counts.items():
            family.add_metric([stage], count, created=self.created)
        yield family

    def describe(self) -> Iterator[Metric]:
        yield CounterMetricFamily(self.name, self.help, labels=self.labels)


def _gauge(registry: CollectorRegistry, name: str) -> Gauge:
    spec = METRICS[name]
    return Gauge(name, spec.help, spec.labels, registry=registry)


class PlatformMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.messages = StageCounts(self.registry)
        self.lost = _counter(self.registry, "platform_messages_lost_total")
        self.api_responses = _counter(self.registry, "platform_api_responses_total")
        self.connections = _gauge(self.registry, "platform_connections")
        self.login_failures = _counter(self.registry, "platform_login_failures_total")
        self.bad_input = _counter(self.registry, "platform_bad_input_total")
        self.refusals = _counter(self.registry, "platform_refusals_total")
        # Pre-create the children so a scrape shows zeros instead of missing series.
        self._lost = {s: self.lost.labels(s) for s in ("not_pushed", "not_acked", "no_reply", "reply_rejected")}
        for api in ("gateway_open", "access_token"):
            self.login_failures.labels(api)
        # every open-API answer counts one (the codes are the emulator's own: a bounded set)
        self._api_responses = Children(self.api_responses)

    def api_response(self, api: str, status: int, code: str) -> None:
        """Count one open-API answer."""
        self._api_responses(api, str(status), code).inc()

    def stage(self, stage: str) -> None:
        self.messages.counts[stage] += 1

    def lost_at(self, stage: str) -> None:
        self._lost[stage].inc()

    def bad_input_of(self, side: str) -> BadInput:
        """The bad-input tally of one side ("bot" stream or "user" socket)."""
        return BadInput(self.bad_input, side)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

"""Metric families named and described exactly as harness.core.contract says, for custom collectors."""

from __future__ import annotations

from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from harness.core.contract import METRICS


def counter(name: str) -> CounterMetricFamily:
    """A counter family for a contract name ending in `_total` (the exposition adds the suffix back)."""
    metric = METRICS[name]
    return CounterMetricFamily(name.removesuffix("_total"), metric.help, labels=list(metric.labels))


def gauge(name: str, value: float | None = None) -> GaugeMetricFamily:
    metric = METRICS[name]
    if value is not None:
        return GaugeMetricFamily(name, metric.help, value=value)
    return GaugeMetricFamily(name, metric.help, labels=list(metric.labels))


class Children:
    """A labelled metric's children by label values (in the metric's label order), each made once:
    labels() takes a lock and checks its arguments on every call, and a hot path counts per message."""

    def __init__(self, metric: Any) -> None:
        self._metric = metric
        self._made: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: str) -> Any:
        child = self._made.get(values)
        if child is None:
            child = self._made[values] = self._metric.labels(*values)
        return child

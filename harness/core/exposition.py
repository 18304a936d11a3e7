"""Metric families named and described exactly as harness.core.contract says, for custom collectors."""

from __future__ import annotations

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

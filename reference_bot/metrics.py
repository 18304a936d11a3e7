"""The chatbot_* metric contract (harness/contract.py METRICS), exported with prometheus_client.

Each bot instance has its own registry, so several bots can live in one test process. Label values
that alerts compute rates over are created at zero up front: a series that appears only on the first
failure makes `rate()` miss that failure.
"""

from __future__ import annotations

import re
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

from harness.core.contract import APIS, LATENCY_BUCKETS, LOOP_LAG_BUCKETS, METRICS, Metric
from harness.core.exposition import Children

INBOUND_QUEUE = "inbound"
FRAME_TYPES = ("CALLBACK", "EVENT", "SYSTEM")
OUTCOMES = ("replied", "failed", "rejected", "expired")
CACHE_RESULTS = ("hit", "miss", "error")
RECONNECT_REASONS = ("disconnect", "closed", "heartbeat_timeout", "error", "open_failed")
# DingTalk error codes are dotted identifiers (Forbidden.AccessDenied.QpsLimitForAppkeyAndApi); anything
# else in a body's `code` (free text, a stack trace) would make a new series per value.
ERROR_CODE = re.compile(r"[A-Za-z0-9_.]{1,64}")
OTHER_CODE = "other"


def error_code(status: str, body: Any = None) -> str:
    """The `code` label of an open-API call: the error body's `code`, "" on success or without one."""
    if status.startswith("2") or not isinstance(body, dict):
        return ""
    code = body.get("code")
    if code is None or code == "":
        return ""
    text = str(code) if isinstance(code, (str, int)) and not isinstance(code, bool) else ""
    return text if ERROR_CODE.fullmatch(text) else OTHER_CODE


BUCKETS = {"chatbot_event_loop_lag_seconds": LOOP_LAG_BUCKETS}  # the other histograms are latencies


def _make(metric: Metric, registry: CollectorRegistry) -> Counter | Gauge | Histogram:
    if metric.kind == "counter":
        return Counter(metric.name.removesuffix("_total"), metric.help, metric.labels, registry=registry)
    if metric.kind == "gauge":
        return Gauge(metric.name, metric.help, metric.labels, registry=registry)
    return Histogram(
        metric.name, metric.help, metric.labels, buckets=BUCKETS.get(metric.name, LATENCY_BUCKETS), registry=registry
    )


class BotMetrics:
    def __init__(self, version: str, queue_capacity: int) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        made = {m.name: _make(m, self.registry) for m in METRICS.values() if m.name.startswith("chatbot_")}
        self.received: Counter = made["chatbot_messages_received_total"]
        self.duplicates: Counter = made["chatbot_messages_duplicate_total"]
        self.processed: Counter = made["chatbot_messages_processed_total"]
        self.processing_seconds: Histogram = made["chatbot_message_processing_seconds"]
        self.first_reply_seconds: Histogram = made["chatbot_first_reply_seconds"]
        self.queue_depth: Gauge = made["chatbot_queue_depth"]
        self.queue_capacity: Gauge = made["chatbot_queue_capacity"]
        self.queue_rejected: Counter = made["chatbot_queue_rejected_total"]
        self.platform_requests: Counter = made["chatbot_platform_requests_total"]
        self.platform_retries: Counter = made["chatbot_platform_retries_total"]
        self.platform_pace: Gauge = made["chatbot_platform_pace_per_second"]
        self.stream_connected: Gauge = made["chatbot_stream_connected"]
        self.reconnects: Counter = made["chatbot_stream_reconnects_total"]
        self.logins: Counter = made["chatbot_login_attempts_total"]
        self.build_info: Gauge = made["chatbot_build_info"]
        self.event_loop_lag: Histogram = made["chatbot_event_loop_lag_seconds"]
        self.answer_cache_lookups: Counter = made["chatbot_answer_cache_lookups_total"]

        self.build_info.labels(version=version).set(1)
        self.queue_capacity.labels(queue=INBOUND_QUEUE).set(queue_capacity)
        self.queue_depth.labels(queue=INBOUND_QUEUE).set(0)
        self.queue_rejected.labels(queue=INBOUND_QUEUE)
        for frame_type in FRAME_TYPES:
            self.received.labels(type=frame_type)
        for outcome in OUTCOMES:
            self.processed.labels(outcome=outcome)
        for reason in RECONNECT_REASONS:
            self.reconnects.labels(reason=reason)
        for outcome in ("success", "failure"):
            self.logins.labels(outcome=outcome)
        for result in CACHE_RESULTS:
            self.answer_cache_lookups.labels(result=result)
        for api in APIS:
            self.platform_retries.labels(api=api)
            self.platform_pace.labels(api=api).set(0)
        # The children every message moves (labels() per call costs a lock and an argument check)
        self._received = Children(self.received)
        self._processed = {o: self.processed.labels(outcome=o) for o in OUTCOMES}
        self._requests = Children(self.platform_requests)
        self._pace = Children(self.platform_pace)

    def frame_received(self, frame_type: str) -> None:
        """One frame read from the stream, by type (INVALID: not understood)."""
        self._received(frame_type).inc()

    def message_processed(self, outcome: str) -> None:
        """One robot message done with: replied, failed, rejected or expired."""
        self._processed[outcome].inc()

    def count_request(self, api: str, status: str, body: Any = None) -> None:
        """One open-API attempt; `status` is the HTTP status or "error" when no response came back."""
        self._requests(api, status, error_code(status, body)).inc()

    def set_pace(self, api: str, per_second: float) -> None:
        """The pace the bot keeps to on an open API (0: none learned)."""
        self._pace(api).set(per_second)

    def value(self, name: str, **labels: str) -> float:
        """Sum of the samples called `name` whose labels include `labels` (for /status and tests); 0 when absent."""
        return sum(
            s.value
            for family in self.registry.collect()
            for s in family.samples
            if s.name == name and labels.items() <= s.labels.items()
        )

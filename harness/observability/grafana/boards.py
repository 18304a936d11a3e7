"""The four chatbot dashboards: overview, message flow, stream health, load generator health.

Threshold lines come from harness/contract.py and the SLO windows from harness/rulegen, so the
dashboards draw exactly the lines the alerts and the report use. Most panels read the recording rules
of dashboards/prometheus/rules/recording.yml (the same numbers the alerts see).
"""

from __future__ import annotations

from typing import Any

from harness.core.contract import (
    AVAILABILITY,
    IO_WAIT,
    LATENCY_QUANTILE,
    LOOP_LAG_BLOCKED_SECONDS,
    RIG,
    THRESHOLDS,
)
from harness.core.simclock import DAY_NAMES, DAY_S
from harness.observability.grafana.model import DATASOURCE, Line, Panel, Query, Row, dashboard
from harness.observability.rules import rules, slo
from harness.observability.rules.model import SEVERITY_PAGE, num

J = 'job=~"$job"'
RI = "$__rate_interval"
SIM = "max(loadgen_sim_time_seconds)"
DAY = num(DAY_S)  # the simulated clock's day in PromQL text

# The simulated clock, on every dashboard: with the shared crosshair any wall time reads as a
# simulated day and hour, and the compression shows where the peaks were played slowly.
SIM_NOW = {
    "name": "sim_now",
    "label": "Simulated time (s since Mon 00:00)",
    "type": "query",
    "datasource": DATASOURCE,
    "query": {"query": f"query_result({SIM})", "refId": "sim_now"},
    "definition": f"query_result({SIM})",
    "regex": "/.* ([0-9.e+]+) .*/",
    "refresh": 2,
    "hide": 0,
    "includeAll": False,
    "multi": False,
    "current": {},
    "options": [],
    "sort": 0,
}
SIM_DAY_ANNOTATION = {
    "name": "Simulated day starts",
    "datasource": DATASOURCE,
    "enable": True,
    "iconColor": "purple",
    "expr": f"floor({SIM} / {DAY}) > floor(max(loadgen_sim_time_seconds offset 5s) / {DAY})",
    "step": "5s",
    "titleFormat": "Simulated day starts",
    "textFormat": "",
    "tagKeys": "",
}
ALERTS_ANNOTATION = {
    "name": "Alerts firing",
    "datasource": DATASOURCE,
    "enable": True,
    "iconColor": "red",
    "expr": 'ALERTS{alertstate="firing"}',
    "step": "15s",
    "titleFormat": "{{alertname}}",
    "textFormat": "{{severity}}",
    "tagKeys": "alertname,severity",
}
DAY_MAPPING = [{"type": "value", "options": {str(i): {"text": d, "index": i} for i, d in enumerate(DAY_NAMES)}}]


def sim_clock_row() -> Row:
    return Row(
        "Simulated time",
        [
            Panel(
                "Simulated day",
                [Query(f"floor({SIM} / {DAY}) % {len(DAY_NAMES)}", instant=True)],
                kind="stat",
                width=4,
                height=4,
                mappings=DAY_MAPPING,
                description="Day of the simulated week now.",
            ),
            Panel(
                "Simulated hour",
                [Query(f"({SIM} % {DAY}) / 3600", instant=True)],
                kind="stat",
                width=4,
                height=4,
                decimals=1,
                description="Hour of the simulated day now (peak at 10:00).",
            ),
            Panel(
                "Simulated clock",
                [Query(f"{SIM} / {DAY}", "simulated days since Mon 00:00")],
                unit="none",
                width=8,
                height=4,
                decimals=2,
                description="Simulated days over wall time: hover any panel to read its simulated time here.",
            ),
            Panel(
                "Compression",
                [Query(f"max(deriv(loadgen_sim_time_seconds[{RI}]))", "simulated s per wall s")],
                unit="none",
                width=8,
                height=4,
                description="Low during peak windows (played slowly), high when fast-forwarding.",
            ),
        ],
    )


def _pct(x: float) -> str:
    return f"{x:.0%}"


def io_row() -> Row:
    """Storage I/O per component and the host's iowait and disk busy (docs/dashboards.md "I/O")."""
    per_component = "sum by (component) (rate(harness_process_io_{}_total[" + RI + "]))"
    return Row(
        "I/O",
        [
            Panel(
                "Storage writes by component",
                [Query(per_component.format("write_bytes"), "{{component}}")],
                unit="Bps",
                width=6,
                description="Bytes each component caused to be written to storage (/proc/<pid>/io write_bytes).",
            ),
            Panel(
                "Storage reads by component",
                [Query(per_component.format("read_bytes"), "{{component}}")],
                unit="Bps",
                width=6,
                description="Bytes each component caused to be read from storage (page-cache hits not counted).",
            ),
            Panel(
                "Write amplification by component",
                [
                    Query(
                        f"{per_component.format('write_bytes')} / {per_component.format('written_chars')}",
                        "{{component}}",
                    )
                ],
                width=6,
                decimals=2,
                lines=[Line(IO_WAIT.write_amplification, "orange")],
                description="Storage bytes written per byte passed to write calls (files and sockets). Above the "
                "line at a steady rate: small writes forced to disk one by one (fsync), the sign of a process "
                "waiting on I/O where the kernel does not count blocked time (harness_process_io_blocked_"
                "seconds_total, with delay accounting on).",
            ),
            Panel(
                "Host iowait and disk busy",
                [
                    Query(f'avg by (instance) (rate(node_cpu_seconds_total{{mode="iowait"}}[{RI}]))', "iowait"),
                    Query(f"max by (instance) (rate(node_disk_io_time_seconds_total[{RI}]))", "busiest disk busy"),
                ],
                unit="percentunit",
                width=6,
                description="iowait: share of all CPU time idle with I/O outstanding (a busy CPU hides it). Disk "
                "busy: share of time the busiest disk had I/O in flight; near 100 % the disk is the limit.",
            ),
        ],
    )


def overview() -> dict[str, Any]:
    t = THRESHOLDS
    p99 = rules.P99
    budget = num(1 - t.availability)
    failed, processed = slo.availability_counts("$__range", (J,), by="")
    fast = [w for w in slo.BURN_WINDOWS if w.severity == SEVERITY_PAGE]
    lag = f"sum by (le) (rate(chatbot_event_loop_lag_seconds_bucket{{{J}}}[{RI}]))"
    return dashboard(
        "chatbot-overview",
        "Chatbot / Overview",
        "SLA at a glance: traffic, latency vs the P99 target, availability and error budget, "
        "errors, backlog, host resources and alerts.",
        [
            Row(
                "SLA now",
                [
                    Panel(
                        "Messages / s",
                        [
                            Query(
                                f'sum(job_type:chatbot_messages_received:rate1m{{{J}, type="CALLBACK"}})', instant=True
                            )
                        ],
                        kind="stat",
                        unit="reqps",
                        width=4,
                        height=4,
                    ),
                    Panel(
                        f"P{num(LATENCY_QUANTILE * 100)} latency",
                        [Query(f'max({rules.QUANTILE}{{{J}, quantile="{p99}"}})', instant=True)],
                        kind="stat",
                        unit="s",
                        width=4,
                        height=4,
                        lines=[Line(t.p99_latency_seconds)],
                    ),
                    Panel(
                        "Availability (range)",
                        [Query(f"1 - ({failed} or vector(0)) / {processed}", instant=True)],
                        kind="stat",
                        unit="percentunit",
                        decimals=3,
                        width=4,
                        height=4,
                        description=(
                            f"Share of {AVAILABILITY.bot_good} over the range (the bot side of availability: "
                            f"{AVAILABILITY.definition}); SLA {t.availability:.2%}."
                        ),
                        base="red",
                        lines=[Line(t.availability, "green")],
                    ),
                    Panel(
                        "Error budget left (range)",
                        [Query(f"1 - (({failed} or vector(0)) / {processed}) / {budget}", instant=True)],
                        kind="stat",
                        unit="percentunit",
                        width=4,
                        height=4,
                        description="Budget of the availability SLO not spent over the dashboard range.",
                        base="red",
                        lines=[Line(0.25, "orange"), Line(0.5, "green")],
                    ),
                    Panel(
                        "Backlog",
                        [Query(f"sum(chatbot_queue_depth{{{J}}})", instant=True)],
                        kind="stat",
                        width=4,
                        height=4,
                        lines=[Line(t.backlog_alert)],
                    ),
                    Panel(
                        "Alerts firing",
                        [Query('count(ALERTS{alertstate="firing"}) or vector(0)', instant=True)],
                        kind="stat",
                        width=4,
                        height=4,
                        lines=[Line(1)],
                    ),
                ],
            ),
            sim_clock_row(),
            Row(
                "Traffic and latency",
                [
                    Panel(
                        "Messages received and processed",
                        [
                            Query(
                                f"sum by (type) (job_type:chatbot_messages_received:rate1m{{{J}}})", "received {{type}}"
                            ),
                            Query(
                                f"sum by (outcome) (job_outcome:chatbot_messages_processed:rate1m{{{J}}})",
                                "{{outcome}}",
                            ),
                        ],
                        unit="reqps",
                    ),
                    Panel(
                        "Processing latency percentiles",
                        [
                            Query(f"max by (quantile) ({rules.QUANTILE}{{{J}}})", "p{{quantile}}"),
                            Query(
                                f'max(job:chatbot_first_reply_seconds:histogram_quantile_rate1m{{{J}, quantile="{p99}"}})',
                                "first chunk p99",
                            ),
                        ],
                        unit="s",
                        lines=[Line(t.p99_latency_seconds)],
                        description="Frame received to final reply, from the bot's histogram; red line: the P99 target.",
                    ),
                ],
            ),
            Row(
                "Availability and errors",
                [
                    Panel(
                        "Error budget burn rate",
                        [
                            Query(
                                f"max by (slo) (slo:sli_error:ratio_rate5m{{{J}}} / on (slo) group_left "
                                "() (1 - slo:objective:ratio))",
                                "{{slo}} 5m",
                            ),
                            Query(
                                f"max by (slo) (slo:sli_error:ratio_rate1h{{{J}}} / on (slo) group_left "
                                "() (1 - slo:objective:ratio))",
                                "{{slo}} 1h",
                            ),
                        ],
                        unit="none",
                        lines=[Line(w.factor, "orange" if w.factor < 10 else "red") for w in fast],
                        description="Error ratio divided by the error budget: 1 spends the 30-day budget in exactly "
                        "30 days; the lines are the page thresholds (14.4x over 1h, 6x over 6h).",
                    ),
                    Panel(
                        "Platform calls by status",
                        [
                            Query(
                                f'sum by (api, status) (rate(chatbot_platform_requests_total{{{J}, status!~"2.."}}[{RI}]))',
                                "{{api}} {{status}}",
                            ),
                        ],
                        unit="reqps",
                        description="The bot's open-API calls that did not succeed, by API and HTTP status.",
                    ),
                ],
            ),
            Row(
                "Backlog and resources",
                [
                    Panel(
                        "Backlog",
                        [
                            Query(f"sum by (job, queue) (chatbot_queue_depth{{{J}}})", "{{queue}}"),
                            Query(f"sum(rate(chatbot_queue_rejected_total{{{J}}}[{RI}]))", "rejected / s"),
                        ],
                        lines=[Line(t.backlog_alert)],
                        width=6,
                    ),
                    Panel(
                        "Bot event-loop lag",
                        [
                            Query(f"histogram_quantile({p99}, {lag})", f"p{num(LATENCY_QUANTILE * 100)}"),
                            Query(f"histogram_quantile(1, {lag})", "max (bucket bound)"),
                        ],
                        unit="s",
                        width=6,
                        lines=[Line(LOOP_LAG_BLOCKED_SECONDS, "orange")],
                        description="How late the bot's event loop woke its probe timer. High: the loop was blocked by "
                        "CPU work or a blocking call, so every reply, ACK and heartbeat waited. Low while "
                        "latency is high: the time went to the platform or the engine. Orange line: blocked.",
                    ),
                    Panel(
                        "Host CPU",
                        [Query(rules.CPU, "{{instance}}")],
                        unit="percentunit",
                        width=6,
                        lines=[Line(t.cpu_target, "orange"), Line(t.cpu_alert, "red")],
                    ),
                    Panel(
                        "Host memory",
                        [Query(rules.MEMORY, "{{instance}}")],
                        unit="percentunit",
                        width=6,
                        lines=[Line(t.memory_target, "orange")],
                    ),
                ],
            ),
            io_row(),
            Row(
                "Alerts",
                [
                    Panel(
                        "Alerts firing",
                        [
                            Query(
                                'sum by (alertname, severity) (ALERTS{alertstate="firing"})',
                                "{{alertname}} ({{severity}})",
                            )
                        ],
                        width=24,
                        height=6,
                        stack=True,
                    ),
                ],
            ),
        ],
        [SIM_NOW],
        [SIM_DAY_ANNOTATION, ALERTS_ANNOTATION],
    )


def message_flow() -> dict[str, Any]:
    return dashboard(
        "chatbot-message-flow",
        "Chatbot / Message flow",
        "Every message's path as the platform's ledger and the bot's books see it: stages, losses, "
        "redeliveries, duplicates, rejections.",
        [
            sim_clock_row(),
            Row(
                "Ledger (platform side)",
                [
                    Panel(
                        "Ledger stages",
                        [Query("sum by (stage) (job_stage:platform_messages:rate1m)", "{{stage}}")],
                        unit="reqps",
                        description="sent, pushed, acked, redelivered, first_chunk, replied, lost per second.",
                    ),
                    Panel(
                        "Lost by stage",
                        [Query(f"sum by (stage) (increase(platform_messages_lost_total[{RI}]))", "{{stage}}")],
                        stack=True,
                        description="not_pushed, not_acked, no_reply, reply_rejected: see runbooks/message-loss.md.",
                    ),
                    Panel(
                        "Message fates so far",
                        [Query("sum by (stage) (platform_messages_total)", "{{stage}}", instant=True)],
                        kind="stat",
                        width=24,
                        height=4,
                    ),
                ],
            ),
            Row(
                "Bot side",
                [
                    Panel(
                        "Received vs processed",
                        [
                            Query(
                                f'sum(rate(chatbot_messages_received_total{{{J}, type="CALLBACK"}}[{RI}]))', "received"
                            ),
                            Query(
                                f"sum by (outcome) (rate(chatbot_messages_processed_total{{{J}}}[{RI}]))", "{{outcome}}"
                            ),
                        ],
                        unit="reqps",
                    ),
                    Panel(
                        "Redeliveries, duplicates, rejections",
                        [
                            Query(
                                f'sum(rate(platform_messages_total{{stage="redelivered"}}[{RI}]))',
                                "redelivered (platform)",
                            ),
                            Query(
                                f"sum(rate(chatbot_messages_duplicate_total{{{J}}}[{RI}]))", "duplicates dropped (bot)"
                            ),
                            Query(f"sum(rate(chatbot_queue_rejected_total{{{J}}}[{RI}]))", "buffer full (bot)"),
                        ],
                        unit="reqps",
                    ),
                    Panel(
                        "Platform responses by API and status",
                        [
                            Query(
                                f"sum by (api, status) (rate(platform_api_responses_total[{RI}]))", "{{api}} {{status}}"
                            ),
                        ],
                        unit="reqps",
                    ),
                    Panel(
                        "Retries by API",
                        [Query(f"sum by (api) (rate(chatbot_platform_retries_total{{{J}}}[{RI}]))", "{{api}}")],
                        unit="reqps",
                    ),
                ],
            ),
        ],
        [SIM_NOW],
        [SIM_DAY_ANNOTATION, ALERTS_ANNOTATION],
    )


def stream_health() -> dict[str, Any]:
    return dashboard(
        "chatbot-stream",
        "Chatbot / Stream connection health",
        "The bot's WebSocket stream: connection state, reconnects by reason, frames, authentication.",
        [
            sim_clock_row(),
            Row(
                "Connection",
                [
                    Panel(
                        "Bot connected",
                        [Query(f"min by (instance) (chatbot_stream_connected{{{J}}})", "{{instance}}")],
                        unit="bool",
                        width=8,
                        lines=[Line(1, "green")],
                    ),
                    Panel("Platform connections", [Query("sum by (app) (platform_connections)", "{{app}}")], width=8),
                    Panel(
                        "Reconnects by reason",
                        [
                            Query(
                                f"sum by (reason) (increase(chatbot_stream_reconnects_total{{{J}}}[{RI}]))",
                                "{{reason}}",
                            ),
                        ],
                        width=8,
                        stack=True,
                    ),
                ],
            ),
            Row(
                "Frames and authentication",
                [
                    Panel(
                        "Frames received by type",
                        [Query(f"sum by (type) (job_type:chatbot_messages_received:rate1m{{{J}}})", "{{type}}")],
                        unit="reqps",
                        description="SYSTEM frames are pings and disconnect notices.",
                    ),
                    Panel(
                        "Connection and token calls",
                        [
                            Query(
                                f"sum by (api, status) (rate(chatbot_platform_requests_total{{{J}, "
                                f'api=~"gateway_open|access_token"}}[{RI}]))',
                                "{{api}} {{status}}",
                            ),
                            Query(f"sum by (api) (rate(platform_login_failures_total[{RI}]))", "failed logins {{api}}"),
                        ],
                        unit="reqps",
                    ),
                ],
            ),
        ],
        [SIM_NOW],
        [SIM_DAY_ANNOTATION, ALERTS_ANNOTATION],
    )


def loadgen_health() -> dict[str, Any]:
    t = THRESHOLDS
    return dashboard(
        "chatbot-loadgen",
        "Chatbot / Load generator health",
        "Is the load what the scenario asked for? Users, send and reply rates, the user's latency "
        "(from the intended send time), late starts, and the generators' own CPU.",
        [
            sim_clock_row(),
            Row(
                "Load",
                [
                    Panel("Users", [Query("sum(loadgen_users)", "users")], width=8),
                    Panel(
                        "Messages sent by outcome",
                        [Query(f"sum by (outcome) (rate(loadgen_messages_sent_total[{RI}]))", "{{outcome}}")],
                        unit="reqps",
                        width=8,
                    ),
                    Panel(
                        "Replies by outcome",
                        [Query("sum by (outcome) (job_outcome:loadgen_replies:rate1m)", "{{outcome}}")],
                        unit="reqps",
                        width=8,
                    ),
                ],
            ),
            Row(
                "The user's view",
                [
                    Panel(
                        "Reply latency percentiles (from intended send time)",
                        [
                            Query(f"max by (quantile) ({rules.LOADGEN_QUANTILE})", "p{{quantile}}"),
                            Query(
                                f"histogram_quantile({rules.P99}, sum by (le) "
                                f"(rate(loadgen_first_chunk_latency_seconds_bucket[{RI}])))",
                                "first chunk p99",
                            ),
                        ],
                        unit="s",
                        lines=[Line(t.p99_latency_seconds)],
                    ),
                    Panel(
                        "Late starts",
                        [Query(f"sum(rate(loadgen_late_starts_total[{RI}]))", "late starts / s")],
                        unit="reqps",
                        description="Sends that left later than intended: a generator falling behind.",
                    ),
                ],
            ),
            Row(
                "Generators",
                [
                    Panel(
                        "CPU by component",
                        [Query("component:harness_process_cpu:rate1m", "{{component}}")],
                        unit="percentunit",
                        lines=[Line(RIG.generator_cpu, "orange")],
                        description="1.0 = one full core. Load generators above the line make results generator-bound.",
                    ),
                    Panel(
                        "Memory by component",
                        [Query("sum by (component) (harness_process_resident_memory_bytes)", "{{component}}")],
                        unit="bytes",
                    ),
                ],
            ),
        ],
        [SIM_NOW],
        [SIM_DAY_ANNOTATION, ALERTS_ANNOTATION],
    )


BOARDS = {
    "overview": overview,
    "message-flow": message_flow,
    "stream-health": stream_health,
    "loadgen-health": loadgen_health,
}

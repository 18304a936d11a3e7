"""The alert and recording rules, written from harness.core.contract (names and thresholds).

Time scale: a compressed run plays a day's peak in about a real minute, so short-term rates use
1-minute windows and sustained conditions `for: 1m` - production-meaningful, and short enough for a
run of a few minutes to prove every alert (docs/alerts.md explains the choice).
"""

from __future__ import annotations

from harness.core.contract import LATENCY_QUANTILE, THRESHOLDS
from harness.observability.rules.model import SEVERITY_PAGE, SEVERITY_TICKET, Alert, Group, Record, num

RATE = "1m"  # short-term rate window
SUSTAINED = "1m"  # `for:` of conditions that must persist
# Bursts of platform errors: share of one API's calls, and a floor so a single failed call of a
# rarely used API (one token refresh an hour) is not a burst.
BURST_RATIO = 0.05
BURST_MIN_PER_MINUTE = 10
RECONNECT_STORM_PER_5M = 10
# Messages the bot received but never accounted for (processed, duplicate, rejected or queued).
UNACCOUNTED_TOLERANCE = 0.01

CPU = "instance:node_cpu_utilisation:rate1m"
MEMORY = "instance:node_memory_utilisation:ratio"
QUANTILE = "job:chatbot_message_processing_seconds:histogram_quantile_rate1m"
LOADGEN_QUANTILE = "job:loadgen_reply_latency_seconds:histogram_quantile_rate1m"
P99 = num(LATENCY_QUANTILE)


def _count(selector: str) -> str:
    """How much a counter grew over RATE, exactly (no extrapolation as in increase()), counting a
    series born inside the window from zero: prometheus_client creates a labelled series at its
    first count, and increase() would miss that first count."""
    return f"({selector} - ({selector} offset {RATE} or {selector} * 0))"


def _quantiles(record: str, metric: str) -> list[Record]:
    return [
        Record(record, f"histogram_quantile({q}, sum by (job, le) (rate({metric}_bucket[{RATE}])))", {"quantile": q})
        for q in ("0.5", "0.9", P99)
    ]


def recording() -> Group:
    """SLIs the dashboards and the report read, so that both show the same numbers."""
    return Group(
        "recording",
        "chatbot-recording",
        (
            # node-mixin's definition: idle, iowait and steal are not work.
            Record(
                CPU,
                "1 - avg without (cpu) (sum without (mode) "
                f'(rate(node_cpu_seconds_total{{mode=~"idle|iowait|steal"}}[{RATE}])))',
            ),
            Record(MEMORY, "1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes"),
            Record(
                "component:harness_process_cpu:rate1m",
                f"sum by (component) (rate(harness_process_cpu_seconds_total[{RATE}]))",
            ),
            Record(
                "job_type:chatbot_messages_received:rate1m",
                f"sum by (job, type) (rate(chatbot_messages_received_total[{RATE}]))",
            ),
            Record(
                "job_outcome:chatbot_messages_processed:rate1m",
                f"sum by (job, outcome) (rate(chatbot_messages_processed_total[{RATE}]))",
            ),
            Record(
                "job_api_status:chatbot_platform_requests:rate1m",
                f"sum by (job, api, status) (rate(chatbot_platform_requests_total[{RATE}]))",
            ),
            Record("job:chatbot_queue_depth:sum", "sum by (job) (chatbot_queue_depth)"),
            *_quantiles(QUANTILE, "chatbot_message_processing_seconds"),
            *_quantiles("job:chatbot_first_reply_seconds:histogram_quantile_rate1m", "chatbot_first_reply_seconds"),
            Record(
                "job_stage:platform_messages:rate1m", f"sum by (job, stage) (rate(platform_messages_total[{RATE}]))"
            ),
            Record(
                "job_outcome:loadgen_replies:rate1m", f"sum by (job, outcome) (rate(loadgen_replies_total[{RATE}]))"
            ),
            *_quantiles(LOADGEN_QUANTILE, "loadgen_reply_latency_seconds"),
        ),
    )


def host() -> Group:
    t = THRESHOLDS
    return Group(
        "host",
        "chatbot-host",
        (
            Alert(
                "HostCpuHigh",
                f"{CPU} > {num(t.cpu_alert)}",
                SEVERITY_PAGE,
                "Host CPU above {} on {{{{ $labels.instance }}}}".format(f"{t.cpu_alert:.0%}"),
                "CPU busy {{ $value | humanizePercentage }} for 1 minute (system alert above "
                f"{t.cpu_alert:.0%}); replies slow down as the bot waits for CPU.",
                SUSTAINED,
            ),
            Alert(
                "HostCpuAboveTarget",
                f"{CPU} > {num(t.cpu_target)}",
                SEVERITY_TICKET,
                "Host CPU above the {} target on {{{{ $labels.instance }}}}".format(f"{t.cpu_target:.0%}"),
                "CPU busy {{ $value | humanizePercentage }} for 1 minute; the resource SLA asks for less than "
                f"{t.cpu_target:.0%}.",
                SUSTAINED,
            ),
            Alert(
                "HostMemoryAboveTarget",
                f"{MEMORY} > {num(t.memory_target)}",
                SEVERITY_TICKET,
                "Host memory above the {} target on {{{{ $labels.instance }}}}".format(f"{t.memory_target:.0%}"),
                "Memory in use {{ $value | humanizePercentage }} for 1 minute; the resource SLA asks for less "
                f"than {t.memory_target:.0%}.",
                SUSTAINED,
            ),
        ),
    )


def security() -> Group:
    failures = 'chatbot_login_attempts_total{outcome="failure"}'
    limit = THRESHOLDS.failed_logins_per_minute
    return Group(
        "security",
        "chatbot-security",
        (
            # An exact count over one minute, so 5 failures stay quiet and 6 fire.
            Alert(
                "AdminLoginFailuresHigh",
                f"sum without (outcome) {_count(failures)} > {limit}",
                SEVERITY_TICKET,
                f"More than {limit} failed admin logins per minute on {{{{ $labels.instance }}}}",
                '{{ printf "%.0f" $value }} failed admin API logins in the last minute (abnormal above '
                f"{limit}): password guessing or a misconfigured client.",
                labels={"category": "security"},
            ),
        ),
    )


def messages() -> Group:
    t = THRESHOLDS
    received = 'sum by (job) (increase(chatbot_messages_received_total{type="CALLBACK"}[5m]))'
    accounted = (
        "sum by (job) (increase(chatbot_messages_duplicate_total[5m]))"
        " + sum by (job) (increase(chatbot_queue_rejected_total[5m]))"
        " + sum by (job) (increase(chatbot_messages_processed_total[5m]))"
        " + sum by (job) (delta(chatbot_queue_depth[5m]))"
    )
    return Group(
        "messages",
        "chatbot-messages",
        (
            Alert(
                "MessageBacklogHigh",
                f"chatbot_queue_depth > {t.backlog_alert}",
                SEVERITY_TICKET,
                f"Message backlog above {t.backlog_alert} on {{{{ $labels.instance }}}}",
                '{{ printf "%.0f" $value }} messages waiting in queue {{ $labels.queue }} for 1 minute '
                f"(business alert above {t.backlog_alert}); the bot drains slower than messages arrive.",
                SUSTAINED,
            ),
            Alert(
                "MessageLatencyP99High",
                f'{QUANTILE}{{quantile="{P99}"}} > {num(t.p99_latency_seconds)}',
                SEVERITY_PAGE,
                f"P99 message processing latency above {t.p99_latency_seconds * 1000:.0f} ms for {{{{ $labels.job }}}}",
                'P99 from frame received to final reply is {{ printf "%.3f" $value }} s over the last minute, '
                f"for 1 minute (SLA: below {num(t.p99_latency_seconds)} s).",
                SUSTAINED,
            ),
            Alert(
                "MessagesLost",
                f"sum by (job, stage) (increase(platform_messages_lost_total[{RATE}])) > 0",
                SEVERITY_PAGE,
                "Messages lost at stage {{ $labels.stage }}",
                "The platform ledger counted {{ $value | humanize }} messages lost at stage {{ $labels.stage }} "
                "in the last minute: users got no answer.",
            ),
            Alert(
                "MessagesUnaccounted",
                f"({received} - ({accounted})) > {num(UNACCOUNTED_TOLERANCE)} * {received}",
                SEVERITY_TICKET,
                "Bot received messages it never processed ({{ $labels.job }})",
                "{{ $value | humanize }} robot messages received in the last 5 minutes were neither processed, "
                f"queued, rejected nor duplicates (tolerance {UNACCOUNTED_TOLERANCE:.0%} of received).",
                "5m",
            ),
            Alert(
                "QueueRejections",
                f"sum by (job, queue) (increase(chatbot_queue_rejected_total[{RATE}])) > 0",
                SEVERITY_TICKET,
                "Inbound queue {{ $labels.queue }} full ({{ $labels.job }})",
                "{{ $value | humanize }} frames refused in the last minute because the buffer was full; the "
                "platform redelivers them later, so replies are late.",
            ),
        ),
    )


def _burst(name: str, status: str, summary: str, meaning: str) -> Alert:
    calls = f"sum by (job, api) (rate(chatbot_platform_requests_total[{RATE}]))"
    errors = f'sum by (job, api) (rate(chatbot_platform_requests_total{{status="{status}"}}[{RATE}]))'
    count = f'sum by (job, api) (increase(chatbot_platform_requests_total{{status="{status}"}}[{RATE}]))'
    return Alert(
        name,
        f"({errors} / {calls} > {num(BURST_RATIO)}) and ({count} > {BURST_MIN_PER_MINUTE})",
        SEVERITY_PAGE if status == "401" else SEVERITY_TICKET,
        summary,
        f"{{{{ $value | humanizePercentage }}}} of {{{{ $labels.api }}}} calls got HTTP {status} over the "
        f"last minute, for 1 minute: {meaning}",
        SUSTAINED,
    )


def _platform_403(name: str, code_re: str, summary: str, meaning: str, severity: str) -> Alert:
    # The bot's own counter, so the alert works in production (no emulator there). Any 403 with the
    # code fires: the first one of a code is a new series, hence _count rather than increase().
    refused = f'chatbot_platform_requests_total{{status="403", code=~"{code_re}"}}'
    return Alert(
        name,
        f"sum by (job, api, code) {_count(refused)} > 0",
        severity,
        summary,
        f"{{{{ $value | humanize }}}} {{{{ $labels.api }}}} calls refused with {{{{ $labels.code }}}} in "
        f"the last minute: {meaning}",
    )


def platform_api() -> Group:
    return Group(
        "platform-api",
        "chatbot-platform-api",
        (
            _burst(
                "PlatformUnauthorizedBurst",
                "401",
                "Platform API answers 401 to {{ $labels.api }}",
                "the access token is invalid or expired, or a signature or secret is wrong.",
            ),
            _burst(
                "PlatformForbiddenBurst",
                "403",
                "Platform API answers 403 to {{ $labels.api }}",
                "a missing permission scope or DingTalk's QPS limit (the code label tells which).",
            ),
            _burst(
                "PlatformRateLimitedBurst",
                "429",
                "Platform API answers 429 to {{ $labels.api }}",
                "the bot calls faster than the platform's QPS limit.",
            ),
            # The error body's code names the 403's cause (Alertmanager inhibits the burst alert for it).
            _platform_403(
                "PlatformPermissionDenied",
                ".*PermissionDenied.*",
                "Bot lacks a permission scope for {{ $labels.api }}",
                "the app is missing a permission scope; no retry helps, grant the scope.",
                SEVERITY_PAGE,
            ),
            _platform_403(
                "PlatformQpsLimited",
                ".*QpsLimit.*",
                "Bot hits the QPS limit of {{ $labels.api }} (403)",
                "DingTalk's rate limit in 403 form; slow down or spread the calls.",
                SEVERITY_TICKET,
            ),
        ),
    )


def stream() -> Group:
    return Group(
        "stream",
        "chatbot-stream",
        (
            Alert(
                "StreamDisconnected",
                "chatbot_stream_connected == 0",
                SEVERITY_PAGE,
                "Bot has no stream connection ({{ $labels.instance }})",
                "No WebSocket stream connection for 1 minute: the platform cannot deliver messages to this bot.",
                SUSTAINED,
            ),
            Alert(
                "StreamReconnectStorm",
                f"sum by (job, instance) (increase(chatbot_stream_reconnects_total[5m])) > {RECONNECT_STORM_PER_5M}",
                SEVERITY_TICKET,
                "Stream reconnect storm ({{ $labels.instance }})",
                "{{ $value | humanize }} stream reconnects in 5 minutes (storm above "
                f"{RECONNECT_STORM_PER_5M}); messages pushed during reconnects may be lost.",
            ),
            Alert(
                "ChatbotMetricsAbsent",
                "absent(chatbot_build_info)",
                SEVERITY_PAGE,
                "No chatbot metrics scraped",
                "chatbot_build_info has been absent for 2 minutes: the bot is down or Prometheus cannot scrape it.",
                "2m",
            ),
            Alert(
                "PlatformBadInput",
                f"sum by (job, side, kind) {_count('platform_bad_input_total')} > 0",
                SEVERITY_TICKET,
                "Platform refused bad input from the {{ $labels.side }} side ({{ $labels.kind }})",
                "The platform refused {{ $value | humanize }} {{ $labels.kind }} from the {{ $labels.side }} side "
                "in the last minute: a client speaks the protocol wrongly, so its frames or messages are dropped.",
            ),
        ),
    )

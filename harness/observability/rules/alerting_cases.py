"""Boundary cases of the threshold alerts (host, security, messages, platform API, stream).

Samples every 15 s; a 1-minute window then holds exactly 5 samples, so increase() is an exact count.
"""

from __future__ import annotations

from harness.core.contract import LATENCY_BUCKETS, THRESHOLDS
from harness.observability.rules import rules
from harness.observability.rules.cases import Case, Expect, counter, rule
from harness.observability.rules.model import le_label

BOT = {"job": "bot", "instance": "bot:9000"}
HOST = {"job": "host", "instance": "host:9100"}
STEP_S = 15
STEPS = 16  # 4 minutes of samples
EVAL = "4m"


def _sel(name: str, labels: dict[str, str]) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return f"{name}{{{inner}}}"


def _cpu(name: str, threshold: float) -> list[Case]:
    def series(u: float) -> dict[str, str]:
        return {
            _sel("node_cpu_seconds_total", {**HOST, "cpu": "0", "mode": "idle"}): counter((STEPS, STEP_S * (1 - u))),
            _sel("node_cpu_seconds_total", {**HOST, "cpu": "0", "mode": "user"}): counter((STEPS, STEP_S * u)),
        }

    above = round(threshold + 0.01, 4)
    return [
        Case(f"{name}: CPU exactly {threshold:.0%} does not fire", name, series(threshold), EVAL),
        Case(f"{name}: CPU {above:.0%} for 1m fires", name, series(above), EVAL, [Expect(rule(name), HOST, above)]),
        Case(f"{name}: CPU {above:.0%} for less than 1m does not fire", name, series(above), "1m"),
    ]


def host() -> list[Case]:
    t = THRESHOLDS
    total = 1000.0

    def memory(used: float) -> dict[str, str]:
        return {
            _sel("node_memory_MemTotal_bytes", HOST): f"{total:g}x{STEPS}",
            _sel("node_memory_MemAvailable_bytes", HOST): f"{total * (1 - used):g}x{STEPS}",
        }

    above = round(t.memory_target + 0.001, 4)
    return [
        *_cpu("HostCpuHigh", t.cpu_alert),
        *_cpu("HostCpuAboveTarget", t.cpu_target),
        Case(
            f"HostMemoryAboveTarget: memory exactly {t.memory_target:.0%} does not fire",
            "HostMemoryAboveTarget",
            memory(t.memory_target),
            EVAL,
        ),
        Case(
            f"HostMemoryAboveTarget: memory {above:.1%} fires",
            "HostMemoryAboveTarget",
            memory(above),
            EVAL,
            [Expect(rule("HostMemoryAboveTarget"), HOST, above)],
        ),
    ]


def security() -> list[Case]:
    limit = THRESHOLDS.failed_logins_per_minute
    name = "AdminLoginFailuresHigh"
    failures = _sel("chatbot_login_attempts_total", {**BOT, "outcome": "failure"})
    burst_at = 9  # failures arrive in one burst at 2m15s; eval 45 s later

    def burst(n: int) -> str:
        return f"0x{burst_at - 1} {n}x{STEPS - burst_at}"

    return [
        Case(f"{name}: {limit} failures in a minute do not fire", name, {failures: burst(limit)}, "3m"),
        Case(
            f"{name}: {limit + 1} failures in a minute fire",
            name,
            {failures: burst(limit + 1)},
            "3m",
            [Expect(rule(name), BOT, limit + 1)],
        ),
        Case(
            f"{name}: {limit + 1} failures spread over 2 minutes do not fire",
            name,
            {failures: counter((STEPS, (limit + 1) / 8))},
            EVAL,
        ),
        Case(
            f"{name}: a new series with {limit + 1} failures fires",
            name,
            {failures: f"_x{burst_at - 1} {limit + 1}x{STEPS - burst_at}"},
            "2m30s",
            [Expect(rule(name), BOT, limit + 1)],
        ),
    ]


def messages() -> list[Case]:
    t = THRESHOLDS
    depth = _sel("chatbot_queue_depth", {**BOT, "queue": "inbound"})
    q_labels = {**BOT, "queue": "inbound"}
    lost = _sel("platform_messages_lost_total", {"job": "platform", "instance": "platform:8000", "stage": "not_acked"})
    rejected = _sel("chatbot_queue_rejected_total", q_labels)
    return [
        Case(
            f"MessageBacklogHigh: backlog {t.backlog_alert} does not fire",
            "MessageBacklogHigh",
            {depth: f"{t.backlog_alert}x{STEPS}"},
            EVAL,
        ),
        Case(
            f"MessageBacklogHigh: backlog {t.backlog_alert + 1} for 1m fires",
            "MessageBacklogHigh",
            {depth: f"{t.backlog_alert + 1}x{STEPS}"},
            EVAL,
            [Expect(rule("MessageBacklogHigh"), q_labels, t.backlog_alert + 1)],
        ),
        Case(
            f"MessageBacklogHigh: backlog {t.backlog_alert + 1} for 45s does not fire",
            "MessageBacklogHigh",
            {depth: f"0x12 {t.backlog_alert + 1}x3"},
            EVAL,
        ),
        *_latency(),
        Case("MessagesLost: no loss does not fire", "MessagesLost", {lost: f"0x{STEPS}"}, EVAL),
        Case(
            "MessagesLost: one lost message fires",
            "MessagesLost",
            {lost: "0x12 1x3"},
            EVAL,
            [Expect(rule("MessagesLost"), {"job": "platform", "stage": "not_acked"}, 1)],
        ),
        *_unaccounted(),
        Case("QueueRejections: no rejection does not fire", "QueueRejections", {rejected: f"0x{STEPS}"}, EVAL),
        Case(
            "QueueRejections: one rejection fires",
            "QueueRejections",
            {rejected: "0x12 1x3"},
            EVAL,
            [Expect(rule("QueueRejections"), {"job": "bot", "queue": "inbound"}, 1)],
        ),
    ]


def _latency() -> list[Case]:
    """P99 exactly at the threshold (1 % of messages slower) vs over it (2 % slower)."""
    name = "MessageLatencyP99High"
    threshold = THRESHOLDS.p99_latency_seconds
    low = max(b for b in LATENCY_BUCKETS if b < threshold)
    high = min(b for b in LATENCY_BUCKETS if b > threshold)
    metric = "chatbot_message_processing_seconds"

    # 150 per 15 s step: the 1-minute rate is a whole number, so the rank 0.99 * rate and the bucket
    # rate compare exactly and 1 % slow puts the P99 exactly on the threshold.
    per_step = 150

    def series(slow_share: float) -> dict[str, str]:
        counts = {low: per_step / 2, threshold: per_step * (1 - slow_share), high: per_step}
        out = {_sel(f"{metric}_bucket", {**BOT, "le": le_label(b)}): counter((STEPS, c)) for b, c in counts.items()}
        out[_sel(f"{metric}_bucket", {**BOT, "le": "+Inf"})] = counter((STEPS, per_step))
        out[_sel(f"{metric}_count", BOT)] = counter((STEPS, per_step))
        return out

    quantile = float(rules.P99)
    slow = round(1 - quantile, 6)
    # Twice the allowed share slower: the rank falls halfway into the bucket above the threshold.
    over = threshold + (high - threshold) * (slow / (2 * slow))
    return [
        Case(
            f"{name}: {slow:.0%} slower than {threshold} s (P99 exactly at it) does not fire", name, series(slow), EVAL
        ),
        Case(
            f"{name}: {2 * slow:.0%} slower than {threshold} s fires",
            name,
            series(2 * slow),
            EVAL,
            [Expect(rule(name), {"job": "bot", "quantile": rules.P99}, over)],
        ),
    ]


def _unaccounted() -> list[Case]:
    name = "MessagesUnaccounted"
    per_step = 1000
    allowed = round(per_step * rules.UNACCOUNTED_TOLERANCE)

    def series(processed: int) -> dict[str, str]:
        return {
            _sel("chatbot_messages_received_total", {**BOT, "type": "CALLBACK"}): counter((40, per_step)),
            _sel("chatbot_messages_duplicate_total", BOT): "0x40",
            _sel("chatbot_queue_rejected_total", {**BOT, "queue": "inbound"}): "0x40",
            _sel("chatbot_messages_processed_total", {**BOT, "outcome": "replied"}): counter((40, processed)),
            _sel("chatbot_queue_depth", {**BOT, "queue": "inbound"}): "0x40",
        }

    return [
        Case(
            f"{name}: {rules.UNACCOUNTED_TOLERANCE:.0%} unaccounted does not fire",
            name,
            series(per_step - allowed),
            "10m",
        ),
        Case(
            f"{name}: {allowed + 1} per {per_step} unaccounted for 5m fires",
            name,
            series(per_step - allowed - 1),
            "10m",
            [Expect(rule(name), {"job": "bot"}, (allowed + 1) * 20)],
        ),
    ]


def platform_api() -> list[Case]:
    cases: list[Case] = []
    api = {**BOT, "api": "card_streaming"}
    for name, status in (
        ("PlatformUnauthorizedBurst", "401"),
        ("PlatformForbiddenBurst", "403"),
        ("PlatformRateLimitedBurst", "429"),
    ):

        def series(ok: float, bad: float, status: str = status) -> dict[str, str]:
            return {
                _sel("chatbot_platform_requests_total", {**api, "status": "200"}): counter((STEPS, ok)),
                _sel("chatbot_platform_requests_total", {**api, "status": status}): counter((STEPS, bad)),
            }

        ratio, floor = rules.BURST_RATIO, rules.BURST_MIN_PER_MINUTE
        per_step = 100
        at = per_step * ratio
        expect = {"job": "bot", "api": "card_streaming"}
        cases += [
            Case(f"{name}: exactly {ratio:.0%} of calls does not fire", name, series(per_step - at, at), EVAL),
            Case(
                f"{name}: {ratio + 0.01:.0%} of calls fires",
                name,
                series(per_step - at - 1, at + 1),
                EVAL,
                [Expect(rule(name), expect, (at + 1) / per_step)],
            ),
            Case(
                f"{name}: every call failing but only {floor} a minute does not fire", name, series(0, floor / 4), EVAL
            ),
            Case(
                f"{name}: every call failing at {floor + 4} a minute fires",
                name,
                series(0, floor / 4 + 1),
                EVAL,
                [Expect(rule(name), expect, 1.0)],
            ),
        ]
    return cases + _platform_403()


# Counter values (one per 15 s step, eval at 4m) for alerts that fire on any count in the last minute.
ONE_IN_LAST_MINUTE = "0x12 1x3"  # +1 at 3m15s
ONE_EXACTLY_A_MINUTE_AGO = "0x11 1x4"  # +1 at 3m00s: outside the window (t - 1m, t]
FIRST_IN_LAST_MINUTE = "_x13 1x2"  # a series born at 3m15s with its first count (prometheus_client)


def _platform_403() -> list[Case]:
    bot = {**BOT, "api": "card_create"}
    permission = "Forbidden.AccessDenied.AccessTokenPermissionDenied"
    qps = "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi"

    def series(status: str, code: str, values: str) -> dict[str, str]:
        ok = _sel("chatbot_platform_requests_total", {**bot, "status": "200", "code": ""})
        return {
            ok: counter((STEPS, 10)),
            _sel("chatbot_platform_requests_total", {**bot, "status": status, "code": code}): values,
        }

    def labels(code: str) -> dict[str, str]:
        return {"job": "bot", "api": "card_create", "code": code}

    cases = []
    for name, own, other in (("PlatformPermissionDenied", permission, qps), ("PlatformQpsLimited", qps, permission)):
        fires = [Expect(rule(name), labels(own), 1)]
        cases += [
            Case(
                f"{name}: 403s with the other code ({other}) do not fire",
                name,
                series("403", other, counter((STEPS, 5))),
                EVAL,
            ),
            Case(
                f"{name}: a {own} 403 exactly a minute ago does not fire",
                name,
                series("403", own, ONE_EXACTLY_A_MINUTE_AGO),
                EVAL,
            ),
            Case(
                f"{name}: one {own} 403 in the last minute fires",
                name,
                series("403", own, ONE_IN_LAST_MINUTE),
                EVAL,
                fires,
            ),
            Case(
                f"{name}: the first {own} 403 (a new series) fires",
                name,
                series("403", own, FIRST_IN_LAST_MINUTE),
                EVAL,
                fires,
            ),
            Case(
                f"{name}: the code on another status (400) does not fire",
                name,
                series("400", own, counter((STEPS, 5))),
                EVAL,
            ),
        ]
    cases += [
        Case(
            "PlatformQpsLimited: 429 Throttling does not fire (PlatformRateLimitedBurst's job)",
            "PlatformQpsLimited",
            series("429", "Throttling", counter((STEPS, 5))),
            EVAL,
        ),
        Case(
            "PlatformPermissionDenied: a code the bot could not label (other) does not fire",
            "PlatformPermissionDenied",
            series("403", "other", counter((STEPS, 5))),
            EVAL,
        ),
    ]
    return cases


def stream() -> list[Case]:
    connected = _sel("chatbot_stream_connected", BOT)
    reconnects = _sel("chatbot_stream_reconnects_total", {**BOT, "reason": "disconnect"})
    storm = rules.RECONNECT_STORM_PER_5M
    return [
        Case("StreamDisconnected: connected does not fire", "StreamDisconnected", {connected: f"1x{STEPS}"}, EVAL),
        Case("StreamDisconnected: down for 45s does not fire", "StreamDisconnected", {connected: "1x12 0x3"}, EVAL),
        Case(
            "StreamDisconnected: down for 1m fires",
            "StreamDisconnected",
            {connected: "1x10 0x5"},
            EVAL,
            [Expect(rule("StreamDisconnected"), BOT, 0)],
        ),
        Case(
            f"StreamReconnectStorm: {storm} reconnects in 5m do not fire",
            "StreamReconnectStorm",
            {reconnects: counter((20, storm / 20), (20, 0))},
            "5m",
        ),
        Case(
            f"StreamReconnectStorm: {storm + 1} reconnects in 5m fire",
            "StreamReconnectStorm",
            {reconnects: counter((20, (storm + 1) / 20), (20, 0))},
            "5m",
            [Expect(rule("StreamReconnectStorm"), BOT, storm + 1)],
        ),
        Case(
            "ChatbotMetricsAbsent: bot scraped does not fire",
            "ChatbotMetricsAbsent",
            {_sel("chatbot_build_info", {**BOT, "version": "1.0.0"}): f"1x{STEPS}"},
            EVAL,
        ),
        Case(
            "ChatbotMetricsAbsent: no bot metrics for 2m fires",
            "ChatbotMetricsAbsent",
            {connected: f"1x{STEPS}"},
            EVAL,
            [Expect(rule("ChatbotMetricsAbsent"), {}, 1)],
        ),
        *_bad_input(),
    ]


def _bad_input() -> list[Case]:
    name = "PlatformBadInput"
    platform = {"job": "platform", "instance": "platform:8000"}

    def series(values: str, side: str = "bot", kind: str = "unknown_ack") -> dict[str, str]:
        return {
            _sel("platform_messages_total", {**platform, "stage": "sent"}): counter((STEPS, 10)),
            _sel("platform_bad_input_total", {**platform, "side": side, "kind": kind}): values,
        }

    def fires(n: float, side: str = "bot", kind: str = "unknown_ack") -> list[Expect]:
        return [Expect(rule(name), {"job": "platform", "side": side, "kind": kind}, n)]

    return [
        Case(f"{name}: no bad input (no series) does not fire", name, series("_x16"), EVAL),
        Case(f"{name}: old bad input flat for the last minute does not fire", name, series(f"3x{STEPS}"), EVAL),
        Case(f"{name}: bad input exactly a minute ago does not fire", name, series(ONE_EXACTLY_A_MINUTE_AGO), EVAL),
        Case(f"{name}: one unknown ACK in the last minute fires", name, series(ONE_IN_LAST_MINUTE), EVAL, fires(1)),
        Case(
            f"{name}: the first bad user frame (a new series) fires",
            name,
            series(FIRST_IN_LAST_MINUTE, "user", "bad_user_frame"),
            EVAL,
            fires(1, "user", "bad_user_frame"),
        ),
        Case(
            f"{name}: 7 oversize frames in the last minute fire with their count",
            name,
            series("0x12 2+2x2 7", kind="oversize_frame"),
            EVAL,
            fires(7, kind="oversize_frame"),
        ),
    ]


def cases() -> dict[str, tuple[str, list[Case]]]:
    interval = f"{STEP_S}s"
    return {
        "host": (interval, host()),
        "security": (interval, security()),
        "messages": (interval, messages()),
        "platform-api": (interval, platform_api()),
        "stream": (interval, stream()),
    }

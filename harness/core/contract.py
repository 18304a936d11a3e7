"""The one source of truth for the facts that bot, rules, dashboards, harness.analysis.report and runbooks share.

Metric names are the interface between the system under test and everything that watches it
(docs/metrics.md documents them for people); SLA thresholds are the defaults scenario files,
alert rules and the report start from. Tests check the other assets against this module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Literal

MetricKind = Literal["counter", "gauge", "histogram"]


@dataclass(frozen=True)
class Metric:
    name: str
    kind: MetricKind
    labels: tuple[str, ...]
    help: str


def _m(name: str, kind: MetricKind, labels: tuple[str, ...], help_text: str) -> Metric:
    return Metric(name, kind, labels, help_text)


# Names are given without the `_total` suffix for counters only where prometheus_client adds it;
# `name` here is always the name as it appears in the exposition (and in PromQL).
METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        # --- the bot under test (reference_bot exports all of these) ---
        _m("chatbot_messages_received_total", "counter", ("type",), "Stream frames received, by frame type."),
        _m("chatbot_messages_duplicate_total", "counter", (), "Robot messages dropped as duplicate msgId."),
        _m(
            "chatbot_messages_processed_total",
            "counter",
            ("outcome",),
            "Messages fully handled, by outcome: replied, failed, rejected, expired (queued past the deadline).",
        ),
        _m(
            "chatbot_message_processing_seconds",
            "histogram",
            (),
            "Frame received to final reply accepted by the platform.",
        ),
        _m("chatbot_first_reply_seconds", "histogram", (), "Frame received to first streamed chunk accepted."),
        _m("chatbot_queue_depth", "gauge", ("queue",), "Messages waiting in the inbound buffer."),
        _m("chatbot_queue_capacity", "gauge", ("queue",), "Capacity of the inbound buffer."),
        _m(
            "chatbot_queue_rejected_total",
            "counter",
            ("queue",),
            "Frames refused because the buffer was full (the platform is told to redeliver).",
        ),
        _m(
            "chatbot_platform_requests_total",
            "counter",
            ("api", "status", "code"),
            "Open-API calls made by the bot, by API, HTTP status and the error body's code.",
        ),
        _m("chatbot_platform_retries_total", "counter", ("api",), "Open-API calls retried by the retry policy."),
        _m(
            "chatbot_platform_pace_per_second",
            "gauge",
            ("api",),
            "Calls per second the bot paces an API to, learned from rate-limit answers; 0: not paced.",
        ),
        _m("chatbot_stream_connected", "gauge", (), "1 while a stream connection is up."),
        _m("chatbot_stream_reconnects_total", "counter", ("reason",), "Stream reconnects, by reason."),
        _m("chatbot_login_attempts_total", "counter", ("outcome",), "Admin API logins: success, failure."),
        _m("chatbot_build_info", "gauge", ("version",), "Always 1; the bot's version as a label."),
        _m(
            "chatbot_event_loop_lag_seconds",
            "histogram",
            (),
            "How late the bot's event loop woke a timer: time it was blocked by CPU work or blocking calls.",
        ),
        _m(
            "chatbot_answer_cache_lookups_total",
            "counter",
            ("result",),
            "Answer-cache lookups: hit, miss, error (Redis unusable: the engine answered). Stays 0 with no cache.",
        ),
        # --- the platform emulator ---
        _m(
            "platform_messages_total",
            "counter",
            ("stage",),
            "Message fates in the ledger: sent, pushed, acked, redelivered, replied, lost.",
        ),
        _m(
            "platform_messages_lost_total",
            "counter",
            ("stage",),
            "Lost messages by the stage where they stopped: not_pushed, not_acked, no_reply, reply_rejected.",
        ),
        _m(
            "platform_api_responses_total",
            "counter",
            ("api", "status", "code"),
            "Open-API responses given by the emulator, by API, HTTP status and error code.",
        ),
        _m("platform_connections", "gauge", ("app",), "Open stream connections per app."),
        _m(
            "platform_login_failures_total",
            "counter",
            ("api",),
            "Failed credential checks (connections/open, accessToken): abnormal login attempts.",
        ),
        _m(
            "platform_refusals_total",
            "counter",
            ("api", "status", "code", "cause"),
            "Every call the emulator refused (a non-2xx answer, or the old API's nonzero errcode), unknown "
            "routes and methods included, by API, HTTP status, error code and cause: bot, injected, harness.",
        ),
        _m(
            "platform_bad_input_total",
            "counter",
            ("side", "kind"),
            "Bad input the emulator refused, by side (bot stream, user socket) and kind (as in the ledger).",
        ),
        # --- the load generator (Locust master exporter) ---
        _m("loadgen_messages_sent_total", "counter", ("outcome",), "User messages sent: ok, error."),
        _m("loadgen_replies_total", "counter", ("outcome",), "Replies awaited: ok, timeout, error."),
        _m("loadgen_late_starts_total", "counter", (), "Sends that started later than their intended time."),
        _m("loadgen_reply_latency_seconds", "histogram", (), "Intended send time to final reply."),
        _m("loadgen_first_chunk_latency_seconds", "histogram", (), "Intended send time to first reply chunk."),
        _m("loadgen_users", "gauge", (), "Simulated users now."),
        _m("loadgen_sim_time_seconds", "gauge", (), "Simulated clock: seconds since Monday 00:00 of the week."),
        # --- host (node-exporter names; from psutil unless a real node exporter runs) ---
        _m("node_cpu_seconds_total", "counter", ("cpu", "mode"), "Host CPU time by mode."),
        _m("node_memory_MemTotal_bytes", "gauge", (), "Host memory."),
        _m("node_memory_MemAvailable_bytes", "gauge", (), "Host memory available."),
        # --- per-process resources of the run's components (harness sampler) ---
        _m("harness_process_cpu_seconds_total", "counter", ("component",), "CPU time of a run component."),
        _m("harness_process_resident_memory_bytes", "gauge", ("component",), "RSS of a run component."),
        _m("harness_process_threads", "gauge", ("component",), "Threads of a run component."),
        _m("harness_process_open_fds", "gauge", ("component",), "Open file descriptors of a run component."),
        _m(
            "harness_process_io_read_bytes_total",
            "counter",
            ("component",),
            "Bytes a run component caused to be read from storage (/proc/<pid>/io read_bytes).",
        ),
        _m(
            "harness_process_io_write_bytes_total",
            "counter",
            ("component",),
            "Bytes a run component caused to be written to storage (/proc/<pid>/io write_bytes).",
        ),
        _m(
            "harness_process_io_written_chars_total",
            "counter",
            ("component",),
            "Bytes a run component passed to write calls, cached or not (/proc/<pid>/io wchar).",
        ),
        _m(
            "harness_process_io_blocked_seconds_total",
            "counter",
            ("component",),
            "Time a run component's threads waited for block I/O (delay accounting; absent where the "
            "kernel does not count it).",
        ),
        # --- host disks (node-exporter names) ---
        _m("node_disk_io_time_seconds_total", "counter", ("device",), "Time a disk was busy with I/O."),
        _m("node_disk_read_bytes_total", "counter", ("device",), "Bytes read from a disk."),
        _m("node_disk_written_bytes_total", "counter", ("device",), "Bytes written to a disk."),
    ]
}

# Latency histogram buckets shared by bot and load generator; 0.5 s must be a boundary so that
# "share of messages under the P99 threshold" is exact in PromQL.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)
# Event-loop lag buckets: 1 ms (scheduling noise) to 5 s (a loop blocked for seconds).
LOOP_LAG_BUCKETS: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Lag P99 above this (a bucket boundary) means the loop itself was blocked, not merely busy.
LOOP_LAG_BLOCKED_SECONDS = 0.1
# The "P99" of the latency SLA: the latency SLO asks this share of messages to be under the threshold.
LATENCY_QUANTILE = 0.99
# The fewest replies a P99 is judged on: below 1 / (1 - q) the P99 of a sample is its slowest reply, so one
# late reply would decide the verdict. Fewer are reported, not judged ("too few") ...
MIN_REPLIES_FOR_QUANTILE = math.ceil(1 / (1 - LATENCY_QUANTILE))
# ... unless so many of them are over the limit that a share of 1 - q or less would give that many with
# a probability under 1 - this (binomial tail): 40 slow of 40 is a breach, 1 of 5 is not evidence.
FEW_REPLIES_BREACH_CONFIDENCE = 0.99


@dataclass(frozen=True)
class Thresholds:
    """SLA and alert thresholds from the source design. Scenario files may override the SLA ones."""

    p99_latency_seconds: float = 0.5
    availability: float = 0.9995
    cpu_target: float = 0.70  # resource-use SLA: CPU < 70 %
    memory_target: float = 0.80  # resource-use SLA: memory < 80 % (of memory_limit_mb)
    memory_limit_mb: float = 0.0  # the target's memory limit; 0: the container's limit, else the host's memory
    refused_calls: float = 0  # open-API calls the platform may refuse the bot (injected faults not counted)
    cpu_alert: float = 0.85  # system alert: CPU > 85 %
    backlog_alert: int = 100  # business alert: backlog > 100 messages
    failed_logins_per_minute: int = 5  # security alert: > 5 abnormal logins per minute

    def as_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class AvailabilitySli:
    """The availability SLI, defined once: good events / all events, judged against `objective`
    (scenario files may override the objective, as `[sla] availability`).

    Two sides count it. The user side is what the simulated users saw, from the load generator's
    windows (windows.jsonl `replies_ok` / `sent`); the report judges the run on it. The bot side is
    the bot's own counter (`chatbot_messages_processed_total` by outcome); the SLO rules and dashboards
    use it, so that a production bot without the load generator is watched as well. The bot side
    cannot see a message lost before it reached the bot, nor a reply that came after the user stopped
    waiting: those count against the user side only (and a lost message against the message-loss SLA).
    """

    name: str = "availability"  # the report's SLA id and the rules' `slo` label
    good: str = "messages with a final reply within the reply timeout"
    total: str = "messages sent"
    objective: float = THRESHOLDS.availability
    # user side: fields of windows.jsonl (summed over the run)
    user_good: str = "replies_ok"
    user_total: str = "sent"
    # bot side: one counter by outcome; good is the final reply accepted by the platform
    bot_metric: str = "chatbot_messages_processed_total"
    bot_good_outcome: str = "replied"
    bot_good: str = "messages the bot processed that it replied to"

    @property
    def definition(self) -> str:
        return f"{self.good} / {self.total}"


AVAILABILITY = AvailabilitySli()

# Connector and replier defaults from the source design.
HEARTBEAT_SECONDS = 30.0
RECONNECT_BACKOFF_CAP_SECONDS = 300.0
QUEUE_CAPACITY = 1000
RETRY_MAX_ATTEMPTS = 3
RETRY_BACKOFF_FACTOR = 1.5
TOKEN_TTL_SECONDS = 3600
TICKET_TTL_SECONDS = 90
# How the platform spreads one app's pushes over its live stream connections (docs/platform.md
# "Routing"): to any of them, or all to the oldest one while it lives (the next oldest takes over).
ROUTING_MODES = ("active-active", "active-standby")
MAX_REPLICAS = 16  # bot processes a run may start on one app's credentials
PERMISSION_SCOPES = ("Card.Streaming.Write", "Card.Instance.Write", "qyapi_robot_sendmsg")
# The permission scope each reply API needs (a 403 names it in accessdenieddetail.requiredScopes).
REQUIRED_SCOPE = {
    "robot_send": "qyapi_robot_sendmsg",
    "card_create": "Card.Instance.Write",
    "card_streaming": "Card.Streaming.Write",
}


class DingTalkCode:
    """Error codes of DingTalk's open API that the emulator answers with and `harness doctor` reads
    (HTTP status and sources in docs/platform.md "App settings")."""

    # 403, naming the missing scope in accessdenieddetail.requiredScopes
    PERMISSION_DENIED = "Forbidden.AccessDenied.AccessTokenPermissionDenied"
    # 403 on an open-API call from an address the app does not whitelist; its message says "request ip=<ip>"
    IP_NOT_WHITELISTED = "Forbidden.AccessDenied.IpNotInWhiteList"
    # 400 "robot 不存在" on robot send: no usable robot with that robotCode
    ROBOT_NOT_FOUND = "resource.not.found"
    # 403 from connections/open for an app not in Stream mode: the emulator's own code (DingTalk's is unknown)
    STREAM_MODE_OFF = "StreamModeNotEnabled"


# Open-API names used as the `api` label by emulator and bot alike.
APIS = (
    "gateway_open",
    "access_token",
    "session_webhook",
    "robot_send",
    "card_create",
    "card_streaming",
    "robot_webhook",
    "media_upload",
)

# Who caused a refused call (platform_refusals_total `cause`, ledger.json `refusals[].cause`): the bot
# side (counts against the run's refused-calls SLA), a fault the scenario injected on purpose (forced
# errors, its QPS limits, its abusive client), or the harness's own side (user socket, admin API).
REFUSAL_CAUSES = ("bot", "injected", "harness")
# The header the harness's own abusive client sends, so that what it provokes counts as injected.
INJECTED_HEADER = "X-Harness-Injected"


@dataclass(frozen=True)
class RigLimits:
    """Rig health: what the harness' own machine must give for a verdict to be about the bot.

    The run measures its rig from its own records (samples.jsonl, windows.jsonl, Prometheus' scrapes).
    Where one of these limits was crossed, the latency, availability and loss measured there may say
    more about the rig than about the bot: an SLA that failed only there is judged INCONCLUSIVE, not
    FAIL (docs/report.md "Rig health"). CPU limits are judged on a mean over a sliding `span_s`.
    """

    span_s: float = 10.0  # wall seconds of the sliding mean the CPU limits are judged on
    host_cpu: float = 0.90  # host CPU, share of all cores: at or above it every process waits for a core
    generator_cpu: float = 0.90  # one load-generator worker, share of one core (gevent runs on one core)
    late_start_share: float = 0.01  # sends of a window that started late; above it the window's P99 holds them
    sampler_gap_s: float = 3.0  # no resource sample for this long (and 3 periods): the harness was starved
    scrape_failure_share: float = 0.05  # failed Prometheus scrapes of a target (alerts only, not the verdict)

    def as_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


RIG = RigLimits()

# The orchestrator's live warning: a worker above RIG.generator_cpu for this many consecutive samples.
GENERATOR_CPU_SAMPLES = 3


@dataclass(frozen=True)
class IoWaitLimits:
    """When `harness diagnose` says a component was waiting on I/O (docs/diagnose.md "Waiting on I/O",
    where the measurements behind these limits are).

    The direct measure is the time a component's threads were blocked on block I/O (/proc/<pid>/stat
    `delayacct_blkio_ticks`), which the kernel counts only with delay accounting on
    (/proc/sys/kernel/task_delayacct = 1). Without it, the sign is write amplification: storage bytes
    written per byte the process passed to write calls (files and sockets alike). Buffered writes reach
    storage once, a page at a time, so a bot's storage writes stay a fraction of all it writes (its
    sockets carry most: 0.07 to 0.09 measured); a small write forced to disk (fsync, O_SYNC) costs a
    whole 4 KiB page each time, so a bot fsyncing its log lines makes storage write more than it wrote
    at all (1.5 to 1.6 measured). All judged on the highest mean over any `span_s` wall seconds.
    """

    span_s: float = 10.0  # wall seconds of the sliding mean the figures are judged on
    # blocked on block I/O for this share of wall time: 20 ms a second on the loop is felt by every reply;
    # the fsynced log took 4 to 10 % of the bot's time (py-spy, idle threads sampled), buffered ~0
    blocked_share: float = 0.02
    write_amplification: float = 0.5  # a factor 3 under the fsynced log's, 5 over the buffered one's
    # storage writes below this rate are too few to wait on (an occasional synced state file); the fsynced
    # log wrote 4 times as much
    write_bytes_per_s: float = 8 * 1024

    def as_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


IO_WAIT = IoWaitLimits()


@dataclass(frozen=True)
class NoiseFloor:
    """The smallest change of an SLI a baseline comparison calls a change (`harness report --baseline`).

    A change counts only when it exceeds both the relative tolerance (default `relative`, the CLI's
    `--tolerance`) and the absolute floor of its unit, judged on the bot's own figures: two identical
    runs on one machine differ by a few milliseconds and points of a core from scheduling alone.
    """

    relative: float = 0.10  # of the baseline's value (availability: of its failure rate)
    latency_s: float = 0.020  # 20 ms
    cpu_cores: float = 0.05  # 5 points of one core
    memory_share: float = 0.02  # 2 points of the memory limit
    availability: float = 0.0005  # 0.05 percentage points of failure rate
    lost_messages: float = 1.0
    confidence: float = 0.95  # bootstrap interval of the difference, where both runs have enough windows
    bootstrap_min_blocks: int = 10  # blocks of windows with messages each run needs for an interval
    bootstrap_resamples: int = 1000


NOISE = NoiseFloor()


@dataclass(frozen=True)
class GrowthLimits:
    """Memory and file-descriptor growth per process (docs/report.md "Growth", docs/diagnose.md).

    A slope is fitted to each process's RSS (and open fds) from samples.jsonl after its warm-up: the
    first `warmup_share` of the run's wall time, never less than `warmup_min_s`, is left out, because
    a healthy process grows while it starts (imports, pools, the dedup window and caches filling up)
    and then levels off. The fit is Theil-Sen (the median of pairwise slopes: a GC pause or a burst
    does not tilt it) over per-`bin_s` means; R^2 says how well a straight line explains the rest.
    """

    warmup_share: float = 0.25
    warmup_min_s: float = 5.0
    bin_s: float = 5.0  # wall seconds per point of the fit
    min_fit_s: float = 15.0  # shorter than this after the warm-up: no slope (too short to tell)
    min_points: int = 4
    # "memory leak" finding: a process whose RSS kept growing in a straight line after its warm-up.
    # All three must hold: a well-fitting line, a growth above what allocator and cache churn make,
    # and a growth that is a real share of the process (so a big process's noise is not a leak).
    leak_min_r2: float = 0.8
    leak_min_growth_mb: float = 10.0
    leak_min_growth_share: float = 0.10  # of the RSS at the start of the fit
    top_sites: int = 10  # growing allocation sites the report and the finding list


GROWTH = GrowthLimits()


@dataclass(frozen=True)
class SoakLimits:
    """The soak verdict (shape kind "soak", docs/report.md "Soak verdict"): slopes after the warm-up
    that the rig and the bot must stay under for a real-time week to be runnable."""

    bot_rss_mb_per_hour: float = 1.0  # the default (reference) bot at steady load
    rig_rss_mb_per_hour: float = 1.0  # the emulator and the load generator: flat
    fds_per_hour: float = 1.0  # every component: open file descriptors flat
    min_fit_s: float = 600.0  # a soak shorter than this after the warm-up gets no verdict (too short)


SOAK = SoakLimits()

# Memory snapshots (docs/run-folder.md "Memory snapshots"): a Python process opts in by reading this
# variable at start (harness.core.memsnap.install_from_env): it names the folder the process writes
# tracemalloc snapshots into, one per MEMORY_SNAPSHOT_SIGNAL the harness sends it.
MEMORY_SNAPSHOT_ENV = "HARNESS_MEMORY_SNAPSHOTS"
MEMORY_SNAPSHOT_SIGNAL = "SIGUSR2"
MEMORY_SNAPSHOT_TIMEOUT_S = 30.0  # the harness waits this long for a requested snapshot

# Where things go. Every service binds to loopback with an ephemeral port unless told otherwise.
DEFAULT_HOST = "127.0.0.1"
RUNS_DIR = "reports"  # default parent of run folders (git-ignored in a checkout)
# The emulator's admin token (Bearer on /admin/*), required when it listens off loopback (docs/platform.md).
ADMIN_TOKEN_ENV = "HARNESS_ADMIN_TOKEN"

# Disk space on the run folder's filesystem (docs/run-folder.md "A full disk"). `harness run` refuses to
# start with less than DISK_MIN_FREE_MB free (--min-free-mb). While it plays it holds DISK_RESERVE_MB in a
# reserve file and stops once less than that is left (or a write meets a full disk); the reserve is then
# deleted, so that stopping still writes the manifest, the ledger and the report.
DISK_MIN_FREE_MB = 256
DISK_RESERVE_MB = 8


class BotEvent:
    """The `event` names of a bot's JSON-lines log (logs/bot.log), their fields in docs/run-folder.md.

    An optional contract: the reference bot writes every one of them; any bot that logs these lines
    adds detail to `harness diagnose`, and a bot without such a log is still measured and diagnosed in
    full from what the platform saw (ledger, refusals, samples). A log in another format is no evidence
    either way: an event it lacks is never read as something the bot did not do.
    """

    # messages
    MESSAGE_RECEIVED = "message_received"  # a message taken from the stream
    REPLY_SENT = "reply_sent"  # the final reply accepted by the platform (seq per conversation)
    REPLY_FAILED = "reply_failed"  # the reply given up
    DUPLICATE_DROPPED = "duplicate_dropped"
    QUEUE_REJECTED = "queue_rejected"  # inbound buffer full, the platform redelivers
    MESSAGE_EXPIRED = "message_expired"  # queued past the bot's deadline: apologised for or dropped
    MESSAGE_REJECTED = "message_rejected"
    HANDLER_CRASHED = "handler_crashed"  # a bug met while taking a frame
    ANSWER_CACHE_READY = "answer_cache_ready"  # the answer cache works (at start, or again after a failure)
    ANSWER_CACHE_UNAVAILABLE = "answer_cache_unavailable"  # Redis unusable: the engine answers meanwhile
    MEMBERSHIP_CHANGED = "membership_changed"
    EVENT_IGNORED = "event_ignored"
    BAD_EVENT = "bad_event"
    BAD_FRAME = "bad_frame"
    UNKNOWN_TOPIC = "unknown_topic"
    # platform open API
    RETRIES_EXHAUSTED = "retries_exhausted"
    PERMISSION_DENIED = "permission_denied"  # read
    ACCESS_TOKEN_REFRESHED = "access_token_refreshed"
    # stream connection
    STREAM_CONNECTED = "stream_connected"
    STREAM_CLOSED = "stream_closed"
    STREAM_ERROR = "stream_error"
    STREAM_CRASHED = "stream_crashed"
    RECONNECT = "reconnect"
    CONNECT_FAILED = "connect_failed"
    DISCONNECT_REQUESTED = "disconnect_requested"
    # the bot's admin API
    LOGIN_OK = "login_ok"
    LOGIN_FAILED = "login_failed"
    LOGIN_LOCKED = "login_locked"  # read
    TOKEN_REJECTED = "token_rejected"
    # life cycle
    BOT_STARTED = "bot_started"
    BOT_STOPPED = "bot_stopped"
    SHUTDOWN_REQUESTED = "shutdown_requested"
    DRAIN_INCOMPLETE = "drain_incomplete"
    CHANNEL_DISABLED = "channel_disabled"
    LOG = "log"  # a plain library log message (`logger`, `message`)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(v for k, v in vars(cls).items() if k.isupper())


class ExitCode:
    """Exit codes of every command (documented in docs/cli.md): `harness run` and `harness report` by
    their verdict, `harness doctor` by its checklist (the same codes under the names it uses)."""

    OK = 0  # every SLA met; doctor: every check passed
    SLA_BREACHED = 1  # the run completed, at least one SLA failed
    USAGE = 2  # bad arguments or a bad scenario / config file (argparse uses 2 as well)
    ABORTED = 3  # run aborted or incomplete: a component died, Ctrl-C, missing data
    HARNESS_ERROR = 4  # the harness itself failed
    CHECK_FAILED = SLA_BREACHED  # doctor: at least one check failed
    CHECKS_UNDECIDED = ABORTED  # doctor: no check failed, but at least one could not be decided (unknown)
    INCONCLUSIVE = 5  # an SLA failed only where the rig broke its own limits (contract.RIG): not a verdict on the bot

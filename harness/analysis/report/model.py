"""The SLA report as a typed model: report.json's content, and what every reader of a report reads.

Pydantic (v2) models, not frozen dataclasses: one declaration of the fields gives report.json's shape
(`model_dump(mode="json")`), its JSON Schema (docs/report.schema.json is generated from it, see
harness.analysis.report.schema) and the reverse check that a report.json has that shape
(`ReportData.model_validate_json`). With dataclasses each of the three would be written by hand
beside the fields and could drift from them. The diagnosis' findings stay the plain dataclasses of
harness.analysis.diagnose.model; pydantic serialises, validates and describes those as they are.

Every model is frozen: a report is built once, and a later fact (the diagnosis, a baseline) makes a
new copy (`model_copy(update=...)`). What is derived from the facts - the overall verdict with its
reasons (`judgement`), its exit code and the summary sentences - is computed from them on access and
is written to report.json, so it can never disagree with them.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    computed_field,
    model_serializer,
    model_validator,
)

from harness.analysis.diagnose.model import Finding
from harness.core.contract import ExitCode, Thresholds

SCHEMA_VERSION: Final = 1


class _Model(BaseModel):
    # extra="forbid": a report.json with a key the model does not know is not of this schema version
    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_serialization_defaults_required=True)

    @model_validator(mode="before")
    @classmethod
    def _computed_fields_are_recomputed(cls, data: Any) -> Any:
        """report.json holds the computed fields too; reading it computes them afresh from the facts."""
        if isinstance(data, dict) and cls.model_computed_fields:
            return {k: v for k, v in data.items() if k not in cls.model_computed_fields}
        return data


class Verdict(str, Enum):
    """The run's overall verdict; its value is what report.json and the pages show. INCONCLUSIVE: an
    SLA failed only where the rig broke its own limits, so the run says nothing about the bot there."""

    PASS = "PASS"
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"
    INCOMPLETE = "INCOMPLETE"

    def __str__(self) -> str:
        return self.value

    @property
    def exit_code(self) -> int:
        return int(_EXIT_CODES[self])


_EXIT_CODES = {
    Verdict.PASS: ExitCode.OK,
    Verdict.FAIL: ExitCode.SLA_BREACHED,
    Verdict.INCONCLUSIVE: ExitCode.INCONCLUSIVE,
    Verdict.INCOMPLETE: ExitCode.ABORTED,
}


class RunInfo(_Model):
    """Which run this is, from the manifest and the folder."""

    scenario: str | None
    scenario_file: str | None
    harness_version: str | None
    started_at: float | str | None  # unix seconds (older manifests: text)
    ended_at: float | str | None
    abort_reason: str | None
    dir: str
    name: str
    status: str


class AlertGap(_Model):
    """A stretch of the run in which Prometheus was down, so no alert rule was evaluated."""

    from_wall_s: float  # seconds after the load started
    from_sim: float | None  # simulated seconds since Monday 00:00
    to_wall_s: float | None  # None: it did not come back before the end of the run
    to_sim: float | None
    reason: str


class ServiceStatus(_Model):
    """A service the orchestrator started or did not (Prometheus, Alertmanager)."""

    available: bool
    reason: str | None = None
    hint: str | None = None
    url: str | None = None
    rules_loaded: bool = True  # Prometheus only: False when it loaded fewer rules than shipped
    gaps: list[AlertGap] = []  # Prometheus only: when it died mid-run and until it was back


class Conditions(_Model):
    """How the run itself went: they do not change the verdict, they change what it means."""

    generator_bound: bool
    prometheus: ServiceStatus | None
    alertmanager: ServiceStatus | None
    alerts_evaluated: bool | None  # False: no Prometheus, so no alert rule ran; None: not known
    warnings: list[str]


Unit = Literal["s", "ratio", "count"]
Op = Literal["<", "<=", ">="]  # the value must satisfy `value op threshold`
SlaStatus = Literal["pass", "fail", "no_data", "too_few"]  # too_few: shown, not judged (see judge_p99)
Change = Literal["worse", "better", "within noise", "no data", "too few"]


class SlaVerdict(_Model):
    """One SLA: measured value, threshold, margin (positive: headroom, negative: breach) and result."""

    id: str
    name: str
    value: float | None
    threshold: float
    unit: Unit
    op: Op
    status: SlaStatus
    margin: float | None
    source: str
    detail: str = ""
    # Rig health (docs/report.md): latency, availability and loss are measured through the rig, and a
    # busy rig can push them over; the bot's own CPU and memory it can only lower.
    rig_sensitive: bool = False
    healthy_value: float | None = None  # the same SLA over the windows where the rig held (when it did not everywhere)
    healthy_status: SlaStatus | None = None
    rig_bound: bool = False  # failed, but not where the rig held: judged INCONCLUSIVE, not FAIL


class LatencySummary(_Model):
    """Count, percentiles and max of a merged latency histogram, in seconds (None without data)."""

    count: int
    p50: float | None
    p90: float | None
    p99: float | None
    p999: float | None
    max: float | None


class LoadTotals(_Model):
    """What the load generator saw, summed over windows."""

    offered: int
    sent: int
    replies_ok: int
    timeouts: int
    errors: int
    late_starts: int
    windows: int
    wall_seconds: float
    users_max: int
    errors_by_kind: dict[str, int]
    availability: float | None


class Load(LoadTotals):
    """The whole run's load, its simulated span and the error budget it used."""

    sim_start: float | None
    sim_end: float | None
    wall_end: float | None
    error_budget_used: float | None


class PeakWindow(_Model):
    """One day's peak window (a `kind: "peak"` segment of timemap.json)."""

    day: int
    label: str
    sim_start: float
    sim_end: float
    wall_start: float
    wall_end: float
    latency: LatencySummary
    totals: LoadTotals


class BotSideLatency(_Model):
    """The bot's own processing time, frame received to final reply accepted, from the histogram it
    exports (chatbot_message_processing_seconds, scraped by the sampler); percentiles interpolated
    within its buckets as Prometheus' histogram_quantile does."""

    count: int
    p50: float | None
    p99: float | None
    source: str


class Latency(_Model):
    reply: LatencySummary
    first_chunk: LatencySummary
    timeouts_counted_at_s: float | None
    peaks: list[PeakWindow]
    bot_processing: BotSideLatency | None = None  # None: the bot exports no processing histogram


class SustainedPeak(_Model):
    """Highest mean over any `sustained_window_wall_s` of wall time (a sliding window; the whole run
    when it is shorter), where that window began, and the highest single sample."""

    sustained_peak: float | None
    sustained_peak_at_sim: float | None
    max: float | None


class Resources(_Model):
    samples: int
    cpu_source: str
    sustained_window_wall_s: float
    cpu: SustainedPeak  # the target's processes, share of one core
    host_cpu: SustainedPeak  # the host, share of all cores
    memory: SustainedPeak  # the host's used memory fraction (shown apart; the SLA judges target_memory)
    backlog_max: float | None
    backlog_max_at_sim: float | None
    bot_rss_max_bytes: float | None
    components_cpu: dict[str, SustainedPeak]
    target_memory: SustainedPeak | None = None  # the target's RSS as a share of memory_limit_bytes
    memory_limit_bytes: float | None = None
    memory_limit_source: str | None = None  # "scenario", "container" or "host"
    others_cpu: SustainedPeak | None = None  # processes outside the run, cores (None: not sampled)


class ComponentIo(_Model):
    """One component's storage I/O (samples.jsonl `procs.<name>.io_*`), in bytes per second."""

    read_bps: SustainedPeak  # bytes it caused to be read from storage
    write_bps: SustainedPeak  # bytes it caused to be written to storage
    # storage bytes written per byte handed to write calls (files and sockets), over the span of the write
    # peak; above 1 only when small writes are forced to disk one by one (fsync, O_SYNC)
    write_amplification_at_peak: float | None
    blocked: SustainedPeak | None = None  # share of wall time blocked on block I/O; None: not offered


class IoSummary(_Model):
    """Storage I/O of the run's components and the host (docs/report.md "I/O")."""

    sustained_window_wall_s: float
    blocked_source: str  # how blocked-on-I/O time was measured, or why it was not
    components: dict[str, ComponentIo]
    host_iowait: SustainedPeak | None  # share of all CPU time idle with I/O outstanding
    disk_busy: SustainedPeak | None  # share of wall time the busiest disk had I/O in flight
    busiest_disk: str | None  # the disk busiest in the most samples


class Slope(_Model):
    """A straight line fitted to one process's samples after its warm-up (docs/report.md "Growth")."""

    per_hour: float  # per wall hour (= per simulated hour in real time)
    per_sim_hour: float | None  # per simulated hour; None: no simulated time passed
    per_10k_messages: float | None  # None: no messages sent
    r2: float | None  # how well a straight line explains the samples; None: they did not vary
    growth: float  # over the fitted span
    start: float  # the line's value where the fit starts


class ProcessGrowth(_Model):
    component: str
    fit_from_wall_s: float  # wall seconds since the run's start; before it: the warm-up
    fit_to_wall_s: float
    points: int  # per-bin means fitted
    rss_mb: Slope  # resident set, MB
    fds: Slope | None  # open file descriptors; None: not sampled
    leak: bool  # the "memory leak" judgement (contract.GrowthLimits)


class GrowingSite(_Model):
    """An allocation site whose traced memory grew between two memory snapshots."""

    file: str
    line: int
    function: str
    growth_bytes: int
    growth_blocks: int
    size_bytes: int  # at the last snapshot


class SnapshotGrowth(_Model):
    component: str
    first_window: str
    last_window: str
    seconds_between: float
    traced_growth_bytes: int  # all memory tracemalloc traced, last minus first
    sites: list[GrowingSite]  # largest growth first


class SoakCheck(_Model):
    component: str
    measure: str
    value: float
    limit: float  # the value must stay under it
    status: Literal["pass", "fail"]


class SoakVerdict(_Model):
    """Shape kind "soak" only: every slope under its limit (contract.SoakLimits). A fail fails the run."""

    status: Literal["pass", "fail", "too_short"]
    checks: list[SoakCheck]
    detail: str


class Growth(_Model):
    limits: dict[str, float]  # contract.GrowthLimits
    processes: list[ProcessGrowth]
    snapshots: list[SnapshotGrowth]
    soak: SoakVerdict | None = None


class ActivitySpan(_Model):
    """How often something was seen in the ledger snapshots, first / last simulated time, peak rate."""

    count: int
    first_sim: float | None
    last_sim: float | None
    peak_per_minute: float


class ApiErrorSpan(ActivitySpan):
    """Non-2xx responses of one open API, status and code."""

    api: str
    status: int | str
    code: str


class RefusalRow(_Model):
    """Calls the platform refused, of one class (the ledger's `refusals`, docs/run-folder.md): who is
    held to them is `cause` (`bot` counts against the refused-calls SLA; `injected` and `harness` do not)."""

    api: str
    method: str
    route: str
    status: int
    code: str
    cause: str
    count: int
    first_sim: float | None
    last_sim: float | None
    reason: str


class ApiResponseCount(_Model):
    """The ledger's count of one API's responses by status and code."""

    api: str
    status: int
    code: str
    count: int


class LedgerFigures(_Model):
    """The final ledger (the emulator's ground truth of each message's fate) and the lost count."""

    source: str | None
    lost: int | None
    messages: dict[str, int] | None
    lost_by_stage: dict[str, int] | None
    api_responses: list[ApiResponseCount] | None
    login_failures: dict[str, int] | None
    connections: dict[str, int] | None
    faults_applied: dict[str, int] | None
    late_replies_by_stage: dict[str, int] | None = None  # lost messages answered after the timeout (newer ledgers)


class Alert(_Model):
    """One interval of one alert (same name and labels) from firing to resolved."""

    alertname: str
    severity: str | None
    labels: dict[str, str]
    started_sim: float | None
    started_wall: float | None
    ended_sim: float | None
    ended_wall: float | None
    still_firing: bool
    duration_sim_s: float | None
    duration_wall_s: float | None
    duration_played_sim_s: float | None
    fast_forwarded_sim_s: float | None
    played_after_fast_forward_sim_s: float | None
    crossed_fast_forward: bool | None


class HotFunction(_Model):
    function: str
    self_samples: int
    inclusive_samples: int
    self_share: float
    inclusive_share: float


class ProfileFiles(_Model):
    """A profile's files, relative to the run folder."""

    svg: str
    speedscope: str
    raw: str


class Profile(_Model):
    """One py-spy recording: a component in a window, and its hot functions."""

    window: str
    component: str
    samples: int
    mode: str
    rate: float | None
    idle: bool = False  # idle threads sampled too (py-spy --idle): blocked calls count, not only CPU
    files: ProfileFiles
    hot: list[HotFunction]
    path: str


class DiffRow(_Model):
    function: str
    self_before: float
    self_after: float
    inclusive_before: float
    inclusive_after: float
    self_delta: float
    inclusive_delta: float


class ProfileDiff(_Model):
    """What got hotter in one component from one profile to another."""

    component: str
    before: str
    after: str
    rows: list[DiffRow]


RigCheckId = Literal["host_cpu", "generator_cpu", "late_starts", "sampler_gaps", "scrape_failures"]


class RigConsumer(_Model):
    """A process that used CPU while a rig limit was crossed."""

    process: str  # a run component ("platform", "loadgen-worker-1"), or "name (pid N)" outside the run
    in_run: bool
    cpu: float  # mean share of one core over the samples where the limit was crossed


class RigSpan(_Model):
    wall_start: float
    wall_end: float
    sim_start: float | None
    sim_end: float | None


class RigCheck(_Model):
    """One limit of the rig (contract.RIG) and whether the run crossed it."""

    id: RigCheckId
    name: str
    limit: float
    unit: Literal["ratio", "s"]
    measured: bool  # False: the run folder holds nothing to judge it by
    worst: float | None
    crossed: bool
    decides_verdict: bool  # False for scrape failures: they change what the alerts mean, not the SLAs
    seconds_crossed: float  # wall seconds over the limit
    spans: list[RigSpan]  # where it was crossed (the first few)
    consumers: list[RigConsumer]  # who used the CPU meanwhile, most first
    detail: str
    advice: str


class RigHealth(_Model):
    """Did the rig hold: the load generator kept its schedule and had CPU, the host had CPU to spare, the
    sampler and Prometheus kept measuring (docs/report.md "Rig health")."""

    held: bool  # no limit that decides the verdict was crossed
    checks: list[RigCheck]
    windows: int  # windows.jsonl windows in which messages were sent
    unhealthy_windows: int  # of those, windows a crossed limit touched
    unhealthy_spans: list[RigSpan]  # those windows, consecutive ones merged (the first few)

    @property
    def crossed(self) -> list[RigCheck]:
        return [c for c in self.checks if c.crossed]


class MessageAccounting(_Model):
    """The load generator's count of messages against the platform ledger's, and what neither measured."""

    generator_sent: int  # windows.jsonl `sent`
    ledger_sent: int | None  # ledger `messages.sent`; None without a ledger
    unmeasured: int  # counted by the ledger and missing from the generator's windows: latency unknown
    unsettled: int  # sent, but neither replied nor failed when the generator wrote its windows
    workers_missing_final: list[str]  # loadgen.json: workers whose last windows never reached the master
    notes: list[str]  # what could not be measured, as sentences


class ComparisonRow(_Model):
    """One SLA now and in the baseline run."""

    id: str
    name: str
    unit: Unit
    value: float | None
    baseline: float | None
    status: SlaStatus
    baseline_status: SlaStatus
    delta: float | None
    relative_worsening: float | None  # how much worse, relative to the baseline; negative is better
    regression: bool
    change: Change = "no data"
    min_difference: float | None = None  # the smallest worsening (in the SLA's unit) called a change
    interval: list[float] | None = None  # bootstrap interval of the worsening (value - baseline in "worse" direction)
    rig_bound: bool = False  # a regression only because the SLA now fails where the rig did not hold
    where_rig_held: bool = False  # value and baseline are over the windows where the rig held (healthy_value)


class Comparison(_Model):
    """The run against a baseline run (`--baseline`)."""

    baseline_dir: str
    baseline_verdict: Verdict
    tolerance: float
    slas: list[ComparisonRow]
    not_in_baseline: list[str]
    mismatches: list[str] = []  # how the two runs differ (scenario, target, duration): compared anyway when allowed

    @computed_field  # type: ignore[prop-decorator]
    @property
    def regressions(self) -> int:
        return len(self.regressed)

    @property
    def regressed(self) -> list[ComparisonRow]:
        return [row for row in self.slas if row.regression and not row.rig_bound]

    @property
    def rig_regressed(self) -> list[ComparisonRow]:
        """Worse beyond the noise, but where the rig did not hold: no verdict on the bot."""
        return [row for row in self.slas if row.regression and row.rig_bound]

    @property
    def baseline_name(self) -> str:
        return Path(self.baseline_dir).name


class Judgement(_Model):
    """The overall verdict and the reasons for it."""

    verdict: Verdict
    breached: list[SlaVerdict]  # SLAs that failed where the rig held (or that a rig cannot push)
    regressed: list[ComparisonRow]  # SLAs worse than the baseline beyond the noise
    incomplete: list[str]  # why the run cannot be fully judged
    rig_bound: list[SlaVerdict] = []  # SLAs that failed only where the rig did not hold
    rig_regressed: list[ComparisonRow] = []  # worse than the baseline, in a run whose rig did not hold
    soak_failed: list[SoakCheck] = []  # a soak's slopes over their limits


def judge(
    slas: list[SlaVerdict], incomplete: list[str], comparison: Comparison | None, soak: SoakVerdict | None = None
) -> Judgement:
    """INCOMPLETE when anything could not be seen; else FAIL on a breach, a regression (a regression
    gates a release like a breach does) measured where the rig held, or a soak's slope over its limit
    (a soak is run for its slopes); else INCONCLUSIVE when something failed only where the rig broke
    its limits; else PASS."""
    breached = [s for s in slas if s.status == "fail" and not s.rig_bound]
    rig_bound = [s for s in slas if s.status == "fail" and s.rig_bound]
    regressed = comparison.regressed if comparison else []
    rig_regressed = comparison.rig_regressed if comparison else []
    soak_failed = [c for c in soak.checks if c.status == "fail"] if soak else []
    if incomplete:
        verdict = Verdict.INCOMPLETE
    elif breached or regressed or soak_failed:
        verdict = Verdict.FAIL
    elif rig_bound or rig_regressed:
        verdict = Verdict.INCONCLUSIVE
    else:
        verdict = Verdict.PASS
    return Judgement(
        verdict=verdict,
        breached=breached,
        regressed=regressed,
        incomplete=incomplete,
        rig_bound=rig_bound,
        rig_regressed=rig_regressed,
        soak_failed=soak_failed,
    )


class IncidentFates(_Model):
    """How the messages of one group of an incident ended (the ledger's `incidents`; harness/platform/
    incidents.py): answered without a redelivery, answered after one, answered after the reply timeout
    (counted lost, then answered), never answered, not final when the ledger was written."""

    replied: int
    redelivered_replied: int
    late: int
    lost: int
    pending: int


class IncidentGroup(_Model):
    count: int
    fates: IncidentFates

    @property
    def answered_in_time(self) -> int:
        return self.fates.replied + self.fates.redelivered_replied


class ProcessFault(_Model):
    """One process fault the run applied to a bot replica (manifest.json `process_faults`) and, for a kill,
    stop or restart of a running replica, what the ledger followed of it (`incidents`)."""

    step: str  # the [[faults]] entry and time, e.g. "faults[0] at Mon 10:00:08"
    process: str  # kill, stop, cont, restart
    replica: int | None
    component: str | None
    pid: int | None  # the process signalled
    new_pid: int | None  # restart: the process started
    serving: bool  # the replica held the connection the platform routed to
    wall: float
    sim: float
    skipped: str | None  # why nothing was done (the replica was not running, ...)
    incident: int | None  # its id in ledger.json `incidents`; None: nothing was in flight to follow
    in_flight: IncidentGroup | None  # pushed to its connection and not answered at the fault (or pushed after)
    sent_during: IncidentGroup | None  # sent from the fault until the recovery + settle_s
    to_next_reply_s: float | None  # fault -> first reply to a message delivered on another connection
    settle_s: float | None
    duplicate_replies: int | None  # replies to its messages already answered
    availability: float | None  # answered in time / all, over both groups
    unaccounted: int | None  # in flight minus the sum of their fates (0 when every message is accounted for)
    lost_msg_ids: list[str]  # the evidence: messages of the incident never answered (at most a sample)


LEADING = ("schema_version", "generated_at", "verdict", "exit_code")  # report.json opens with these


class ReportData(_Model):
    """report.json (docs/report.md)."""

    schema_version: Literal[1] = SCHEMA_VERSION
    generated_at: str
    run: RunInfo
    incomplete_reasons: list[str]
    warnings: list[str]
    conditions: Conditions
    thresholds: Thresholds
    chart_bucket_s: int
    slas: list[SlaVerdict]
    load: Load
    latency: Latency
    resources: Resources
    api_errors: list[ApiErrorSpan]
    login_failures: dict[str, ActivitySpan]
    messages: LedgerFigures
    alerts: list[Alert]
    profiles: list[Profile]
    profile_diffs: list[ProfileDiff]
    manifest: dict[str, Any]  # the run's manifest, secrets masked
    findings: list[Finding] = []
    # every call the platform refused, by class, bot-side first; None: the ledger does not say
    refusals: list[RefusalRow] | None = None
    baseline: Comparison | None = Field(default=None, exclude_if=lambda value: value is None)
    rig: RigHealth | None = None  # None: no samples or windows to judge the rig by
    accounting: MessageAccounting | None = None  # None: no windows.jsonl
    io: IoSummary | None = None  # None: the samples carry no I/O figures (an older run folder)
    growth: Growth | None = None  # None: no process sampled long enough, no snapshots, not a soak
    failover: list[ProcessFault] | None = None  # None: the run applied no process fault

    @property
    def judgement(self) -> Judgement:
        return judge(self.slas, self.incomplete_reasons, self.baseline, self.growth.soak if self.growth else None)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def verdict(self) -> Verdict:
        return self.judgement.verdict

    @computed_field  # type: ignore[prop-decorator]
    @property
    def exit_code(self) -> int:
        return self.verdict.exit_code

    @computed_field  # type: ignore[prop-decorator]
    @property
    def summary(self) -> list[str]:
        """A manager's 30-second read, rendered from the model."""
        from harness.analysis.report.summary import sentences  # it renders this module's models

        return sentences(self)

    @model_serializer(mode="wrap")
    def _verdict_first(self, handler: SerializerFunctionWrapHandler):
        # no return annotation on purpose: pydantic then describes the output by the fields (JSON Schema)
        data = handler(self)
        return {**{k: data[k] for k in LEADING if k in data}, **data}

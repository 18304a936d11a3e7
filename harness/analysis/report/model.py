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
    """The run's overall verdict; its value is what report.json and the pages show."""

    PASS = "PASS"
    FAIL = "FAIL"
    INCOMPLETE = "INCOMPLETE"

    def __str__(self) -> str:
        return self.value

    @property
    def exit_code(self) -> int:
        return int(_EXIT_CODES[self])


_EXIT_CODES = {Verdict.PASS: ExitCode.OK, Verdict.FAIL: ExitCode.SLA_BREACHED, Verdict.INCOMPLETE: ExitCode.ABORTED}


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


class ServiceStatus(_Model):
    """A service the orchestrator started or did not (Prometheus, Alertmanager)."""

    available: bool
    reason: str | None = None
    hint: str | None = None
    url: str | None = None
    rules_loaded: bool = True  # Prometheus only: False when it loaded fewer rules than shipped


class Conditions(_Model):
    """How the run itself went: they do not change the verdict, they change what it means."""

    generator_bound: bool
    prometheus: ServiceStatus | None
    alertmanager: ServiceStatus | None
    alerts_evaluated: bool | None  # False: no Prometheus, so no alert rule ran; None: not known
    warnings: list[str]


Unit = Literal["s", "ratio", "count"]
Op = Literal["<", "<=", ">="]  # the value must satisfy `value op threshold`
SlaStatus = Literal["pass", "fail", "no_data"]


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


class Latency(_Model):
    reply: LatencySummary
    first_chunk: LatencySummary
    timeouts_counted_at_s: float | None
    peaks: list[PeakWindow]


class SustainedPeak(_Model):
    """Highest mean over a wall-clock minute (minutes counted from the run's start), and the highest sample."""

    sustained_peak: float | None
    sustained_peak_at_sim: float | None
    max: float | None


class Resources(_Model):
    samples: int
    cpu_source: str
    sustained_window_wall_s: float
    cpu: SustainedPeak
    host_cpu: SustainedPeak
    memory: SustainedPeak
    backlog_max: float | None
    backlog_max_at_sim: float | None
    bot_rss_max_bytes: float | None
    components_cpu: dict[str, SustainedPeak]


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


class Comparison(_Model):
    """The run against a baseline run (`--baseline`)."""

    baseline_dir: str
    baseline_verdict: Verdict
    tolerance: float
    slas: list[ComparisonRow]
    not_in_baseline: list[str]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def regressions(self) -> int:
        return len(self.regressed)

    @property
    def regressed(self) -> list[ComparisonRow]:
        return [row for row in self.slas if row.regression]

    @property
    def baseline_name(self) -> str:
        return Path(self.baseline_dir).name


class Judgement(_Model):
    """The overall verdict and the reasons for it."""

    verdict: Verdict
    breached: list[SlaVerdict]  # SLAs that failed
    regressed: list[ComparisonRow]  # SLAs worse than the baseline beyond the tolerance
    incomplete: list[str]  # why the run cannot be fully judged


def judge(slas: list[SlaVerdict], incomplete: list[str], comparison: Comparison | None) -> Judgement:
    """INCOMPLETE when anything could not be seen; else FAIL on a breach or a regression (a regression
    gates a release like a breach does); else PASS."""
    breached = [s for s in slas if s.status == "fail"]
    regressed = comparison.regressed if comparison else []
    if incomplete:
        verdict = Verdict.INCOMPLETE
    elif breached or regressed:
        verdict = Verdict.FAIL
    else:
        verdict = Verdict.PASS
    return Judgement(verdict=verdict, breached=breached, regressed=regressed, incomplete=incomplete)


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

    @property
    def judgement(self) -> Judgement:
        return judge(self.slas, self.incomplete_reasons, self.baseline)

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

"""An experiment's statistics: each arm's SLIs with bootstrap confidence intervals, and each arm's
difference from the control, read from the run folders only (like the SLA report).

The unit of resampling is a window of windows.jsonl (messages by intended send time) inside its run.
A bootstrap replicate draws the arm's runs with replacement, then the windows of each drawn run with
replacement, so drift between runs and noise within a run both widen the interval. Percentiles come
from the drawn windows' merged histograms, never from averaged percentiles; a timed-out message counts
at the reply timeout, as in the SLA report. The arms are resampled independently, so the replicates of
a difference are the differences of the arms' replicates. Bot CPU and the answer-cache hit rate are
taken per window from samples.jsonl (the sampler's one-second readings of the bot).

A run only counts when it was healthy (`run_health`): it completed with a verdict that judges the bot
(not INCOMPLETE, not INCONCLUSIVE), the load generator was not the bottleneck, and the answer cache
it asked for was there.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
from hdrh.histogram import HdrHistogram
from pydantic import BaseModel, ConfigDict

from harness.core import histograms
from harness.core.runfolder.reader import RunFolder

SCHEMA_VERSION: Final = 1
UNHEALTHY_VERDICTS = ("INCOMPLETE", "INCONCLUSIVE")

Unit = Literal["s", "ratio", "cores"]


@dataclass(frozen=True)
class Sli:
    id: str
    name: str
    unit: Unit
    better: Literal["lower", "higher"]
    quantile: float | None = None  # latency SLIs: which percentile of which histogram
    histogram: str = ""
    sentence: bool = False  # stated in the summary sentences


SLIS = (
    Sli("reply_p50", "reply latency P50", "s", "lower", 0.50, "reply", sentence=True),
    Sli("reply_p90", "reply latency P90", "s", "lower", 0.90, "reply"),
    Sli("reply_p99", "reply latency P99", "s", "lower", 0.99, "reply", sentence=True),
    Sli("first_chunk_p99", "first reply chunk P99", "s", "lower", 0.99, "first_chunk"),
    Sli("availability", "availability", "ratio", "higher"),
    Sli("bot_cpu", "bot CPU", "cores", "lower", sentence=True),
    Sli("cache_hit_rate", "answer-cache hit rate", "ratio", "higher"),
)


# --- the experiment.json model --------------------------------------------------------------------
class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RunRecord(_Model):
    """One run of one arm, and whether it counts."""

    arm: str
    repetition: int
    dir: str
    exit_code: int | None
    verdict: str | None
    healthy: bool
    discarded_because: str | None
    load_average_before: list[float]
    load_average_after: list[float]
    wall_s: float


class Estimate(_Model):
    value: float | None
    low: float | None
    high: float | None


class ArmValue(_Model):
    arm: str
    runs: int
    windows: int
    estimate: Estimate


class Difference(_Model):
    """An arm minus the control: absolute, and relative to the control's value."""

    arm: str
    control: str
    absolute: Estimate
    relative: Estimate
    clear: bool  # the interval of the difference excludes 0


class SliResult(_Model):
    id: str
    name: str
    unit: Unit
    better: Literal["lower", "higher"]
    arms: list[ArmValue]
    differences: list[Difference]


class ArmInfo(_Model):
    name: str
    label: str
    scenario: dict[str, Any]
    bot: dict[str, Any]


class ExperimentReport(_Model):
    """experiment.json (docs/experiments.md)."""

    schema_version: Literal[1] = SCHEMA_VERSION
    generated_at: str
    name: str
    description: str
    claim: str
    experiment_file: str
    scenario_file: str
    repetitions: int
    confidence: float
    bootstrap_samples: int
    seed: int
    arms: list[ArmInfo]
    runs: list[RunRecord]
    slis: list[SliResult]
    sentences: list[str]
    problems: list[str]  # why the comparison is incomplete (an arm without a healthy run ...)

    @property
    def complete(self) -> bool:
        return not self.problems


# --- health ---------------------------------------------------------------------------------------
def run_health(run_dir: Path, exit_code: int | None) -> tuple[str | None, str | None]:
    """The run's verdict, and None when the run counts, else why it is discarded (one line)."""
    try:
        report = json.loads((run_dir / "report.json").read_text())
    except (OSError, ValueError):
        return None, f"no readable report.json (exit code {exit_code})"
    verdict = report.get("verdict")
    if verdict in UNHEALTHY_VERDICTS:
        reasons = report.get("incomplete_reasons") or []
        return verdict, f"verdict {verdict}" + (f": {reasons[0]}" if reasons else "")
    if (report.get("conditions") or {}).get("generator_bound"):
        return (
            verdict,
            "generator-bound: a load generator worker ran out of CPU, so the bot was not what limited the run",
        )
    cache = (report.get("manifest") or {}).get("answer_cache") or {}
    if cache.get("available") is False:
        return verdict, f"the answer cache it asked for was not there ({cache.get('reason')})"
    return verdict, None


# --- reading run folders into windows -------------------------------------------------------------
@dataclass
class RunWindows:
    """The windows of one run that carried load, as arrays the bootstrap can weigh."""

    dir: str
    hists: dict[str, list[dict[int, int]]] = field(default_factory=lambda: {"reply": [], "first_chunk": []})
    sent: list[float] = field(default_factory=list)
    replies_ok: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)
    cpu_span_s: list[float] = field(default_factory=list)
    cache_hits: list[float] = field(default_factory=list)
    cache_lookups: list[float] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.sent)


def _counts(hist: HdrHistogram | None) -> dict[int, int]:
    if hist is None:
        return {}
    return {int(item.value_iterated_to): int(item.count_at_value_iterated_to) for item in hist.get_recorded_iterator()}


def _decode(text: str | None) -> HdrHistogram | None:
    return histograms.decode(text) if text else None


def read_run(run_dir: Path) -> RunWindows:
    folder = RunFolder.open(run_dir)
    timeout_s = folder.manifest.get("reply_timeout_s")
    timeout_us = int(float(timeout_s) * 1_000_000) if timeout_s else histograms.HIGHEST_US
    window_s = float(folder.manifest.get("window_s") or 10.0)
    run = RunWindows(str(run_dir))
    index_of: dict[int, int] = {}
    for w in folder.iter_jsonl("windows.jsonl"):
        if not int(w.get("sent", 0)):
            continue  # the drain after the load, or an idle window: no message to judge
        reply = _decode(w.get("reply_hist"))
        timeouts = int(w.get("timeouts", 0))
        if timeouts:  # a message without a reply counts at the reply timeout (a lower bound of its latency)
            reply = reply or histograms.new_histogram()
            reply.record_value(timeout_us, timeouts)
        run.hists["reply"].append(_counts(reply))
        run.hists["first_chunk"].append(_counts(_decode(w.get("first_chunk_hist"))))
        run.sent.append(float(w["sent"]))
        run.replies_ok.append(float(w.get("replies_ok", 0)))
        index_of[int(float(w["wall_start"]) // window_s)] = run.size - 1
    run.cpu_s, run.cpu_span_s = [0.0] * run.size, [0.0] * run.size
    run.cache_hits, run.cache_lookups = [0.0] * run.size, [0.0] * run.size
    previous_t: float | None = None
    cache_before = {"hit": 0.0, "miss": 0.0, "error": 0.0}
    for sample in folder.iter_jsonl("samples.jsonl", required=False):
        t, wall = sample.get("t"), sample.get("wall")
        span = None if previous_t is None or t is None else float(t) - previous_t
        previous_t = None if t is None else float(t)
        cache = sample.get("answer_cache")
        at = None if wall is None or float(wall) < 0 else index_of.get(int(float(wall) // window_s))
        if cache:
            delta = {k: float(cache.get(k, 0.0)) - cache_before[k] for k in cache_before}
            cache_before = {k: float(cache.get(k, 0.0)) for k in cache_before}
            if at is not None:
                run.cache_hits[at] += delta["hit"]
                run.cache_lookups[at] += sum(delta.values())
        bot = (sample.get("procs") or {}).get("bot")
        if at is not None and bot is not None and span is not None and span > 0:
            run.cpu_s[at] += float(bot["cpu"]) * span
            run.cpu_span_s[at] += span
    return run


# --- the bootstrap --------------------------------------------------------------------------------
def replicate_weights(run_sizes: list[int], samples: int, rng: np.random.Generator) -> np.ndarray:
    """(samples, all windows) counts: how often each window is drawn in each replicate, runs first."""
    picks = rng.integers(0, len(run_sizes), size=(samples, len(run_sizes)))
    columns = []
    for r, n in enumerate(run_sizes):
        times = (picks == r).sum(axis=1)  # how often run r was drawn in each replicate
        columns.append(rng.multinomial(times * n, np.full(n, 1.0 / n)))  # its windows, n draws per time
    return np.concatenate(columns, axis=1).astype(float)


def weighted_quantile(weights: np.ndarray, counts: list[dict[int, int]], quantile: float) -> np.ndarray:
    """The quantile of the histogram merged from the windows, weighted; one value per row of weights
    (seconds; NaN for an empty merge). Same rule as HdrHistogram: the first value whose cumulative
    count reaches round(q * total), at least 1."""
    values = np.array(sorted({v for window in counts for v in window}), dtype=float)
    if not len(values):
        return np.full(weights.shape[0], np.nan)
    position = {v: i for i, v in enumerate(values.astype(int))}
    matrix = np.zeros((len(counts), len(values)))
    for row, window in enumerate(counts):
        for value, n in window.items():
            matrix[row, position[value]] += n
    cumulative = np.cumsum(weights @ matrix, axis=1)
    total = cumulative[:, -1]
    target = np.maximum(np.floor(quantile * total + 0.5), 1.0)
    found = values[(cumulative >= target[:, None]).argmax(axis=1)] / 1_000_000
    return np.where(total > 0, found, np.nan)


def weighted_ratio(weights: np.ndarray, numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    top, bottom = weights @ numerator, weights @ denominator
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1.0), np.nan)


def sli_values(sli: Sli, runs: list[RunWindows], weights: np.ndarray) -> np.ndarray:
    def joined(name: str) -> np.ndarray:
        return np.concatenate([np.asarray(getattr(r, name), dtype=float) for r in runs])

    if sli.quantile is not None:
        return weighted_quantile(weights, [w for r in runs for w in r.hists[sli.histogram]], sli.quantile)
    if sli.id == "availability":
        return weighted_ratio(weights, joined("replies_ok"), joined("sent"))
    if sli.id == "bot_cpu":
        return weighted_ratio(weights, joined("cpu_s"), joined("cpu_span_s"))
    return weighted_ratio(weights, joined("cache_hits"), joined("cache_lookups"))


@dataclass
class ArmSamples:
    """One arm's point estimate and bootstrap replicates of every SLI."""

    arm: str
    runs: int
    windows: int
    point: dict[str, float] = field(default_factory=dict)
    replicates: dict[str, np.ndarray] = field(default_factory=dict)


def resample_arm(arm: str, runs: list[RunWindows], samples: int, rng: np.random.Generator) -> ArmSamples:
    runs = [r for r in runs if r.size]
    result = ArmSamples(arm, len(runs), sum(r.size for r in runs))
    if not runs:
        return result
    point = np.ones((1, result.windows))
    weights = replicate_weights([r.size for r in runs], samples, rng)
    for sli in SLIS:
        result.point[sli.id] = float(sli_values(sli, runs, point)[0])
        result.replicates[sli.id] = sli_values(sli, runs, weights)
    return result


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def interval(point: float, replicates: np.ndarray | None, confidence: float) -> Estimate:
    if replicates is None:
        return Estimate(value=_finite(point), low=None, high=None)
    finite = replicates[np.isfinite(replicates)]
    if not finite.size or not math.isfinite(point):
        return Estimate(value=_finite(point), low=None, high=None)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return Estimate(value=float(point), low=float(low), high=float(high))


def difference(arm: ArmSamples, control: ArmSamples, sli: str, confidence: float) -> Difference:
    a, c = arm.point.get(sli, math.nan), control.point.get(sli, math.nan)
    ra, rc = arm.replicates.get(sli), control.replicates.get(sli)
    absolute_reps = relative_reps = None
    if ra is not None and rc is not None:
        absolute_reps = ra - rc
        with np.errstate(invalid="ignore", divide="ignore"):
            relative_reps = np.where(rc != 0, ra / np.where(rc != 0, rc, 1.0) - 1, np.nan)
    absolute = interval(a - c, absolute_reps, confidence)
    relative = interval(a / c - 1 if c else math.nan, relative_reps, confidence)
    clear = absolute.low is not None and absolute.high is not None and (absolute.low > 0 or absolute.high < 0)
    return Difference(arm=arm.arm, control=control.arm, absolute=absolute, relative=relative, clear=clear)


# --- sentences ------------------------------------------------------------------------------------
def _span(low: float, high: float) -> str:
    """Two shares as one range: '33-49 %'."""
    return f"{low * 100:.0f}-{high * 100:.0f} %"


def sentence(called: str, sli: Sli, diff: Difference, confidence: float, hit_rate: float | None) -> str | None:
    """'the cache cut reply latency P99 by 41 % (95 % CI 33-49 %) at a 62 % hit rate'."""
    rel = diff.relative
    if rel.value is None or rel.low is None or rel.high is None:
        return None
    level = f"{confidence * 100:.0f} % CI"
    tail = f" at a {hit_rate * 100:.0f} % hit rate" if hit_rate is not None else ""
    if rel.high < 0:
        text = f"{called} cut {sli.name} by {-rel.value * 100:.0f} % ({level} {_span(-rel.high, -rel.low)})"
    elif rel.low > 0:
        text = f"{called} raised {sli.name} by {rel.value * 100:.0f} % ({level} {_span(rel.low, rel.high)})"
    else:
        text = (
            f"{called} made no clear difference to {sli.name}: {rel.value * 100:+.0f} % "
            f"({level} {rel.low * 100:+.0f} % to {rel.high * 100:+.0f} %)"
        )
    return text + tail


# --- the whole comparison -------------------------------------------------------------------------
@dataclass
class ArmRuns:
    info: ArmInfo
    run_dirs: list[Path]  # the healthy runs only


def compare_arms(
    arms: list[ArmRuns], confidence: float, samples: int, seed: int
) -> tuple[list[SliResult], list[str], list[str]]:
    """SLI results, sentences and problems; the first arm is the control."""
    rng = np.random.default_rng(seed)
    resampled = [resample_arm(a.info.name, [read_run(d) for d in a.run_dirs], samples, rng) for a in arms]
    problems = [f"arm {a.arm!r} has no healthy run with load: it cannot be compared" for a in resampled if not a.runs]
    control = resampled[0]
    has_cache = any(
        a.point.get("cache_hit_rate") is not None and math.isfinite(a.point["cache_hit_rate"]) for a in resampled
    )
    results: list[SliResult] = []
    sentences: list[str] = []
    by_sli: dict[str, list[Difference]] = {}
    for sli in SLIS:
        if sli.id == "cache_hit_rate" and not has_cache:
            continue
        values = [
            ArmValue(
                arm=a.arm,
                runs=a.runs,
                windows=a.windows,
                estimate=interval(a.point.get(sli.id, math.nan), a.replicates.get(sli.id), confidence),
            )
            for a in resampled
        ]
        diffs = [difference(a, control, sli.id, confidence) for a in resampled[1:] if a.runs and control.runs]
        by_sli[sli.id] = diffs
        results.append(
            SliResult(id=sli.id, name=sli.name, unit=sli.unit, better=sli.better, arms=values, differences=diffs)
        )
    for arm_runs, samples_of in zip(arms[1:], resampled[1:], strict=True):
        hit = _finite(samples_of.point.get("cache_hit_rate", math.nan))
        for sli in (s for s in SLIS if s.sentence):
            diff = next((d for d in by_sli.get(sli.id, []) if d.arm == samples_of.arm), None)
            text = (
                None
                if diff is None
                else sentence(arm_runs.info.label or arm_runs.info.name, sli, diff, confidence, hit)
            )
            if text:
                sentences.append(text[0].upper() + text[1:] + ".")
    return results, sentences, problems


def now_text() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")

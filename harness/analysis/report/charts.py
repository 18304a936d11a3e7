"""The report's charts, drawn with matplotlib as SVG and embedded as data URIs (no network to view).

Every x axis is simulated time (day names and hours); the threshold lines are the run's thresholds.
Series points are the run's chart buckets: an hour of simulated time for a week, less for short runs.
Each function returns None when the run has no data for its chart, so the page can say so instead.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot is imported: no display, SVG only
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MultipleLocator, NullFormatter

from harness.analysis.report.model import Alert, PeakWindow
from harness.core.contract import Thresholds
from harness.core.simclock import DAY_S, format_sim

plt.rcParams.update(
    {
        "svg.fonttype": "none",
        "font.size": 9,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "svg.hashsalt": "report",
    }
)
LIMIT_STYLE: dict[str, Any] = {"color": "#c0392b", "linestyle": "--", "linewidth": 1}


def to_data_uri(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


TICK_STEPS_S = (60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, DAY_S)


def _sim_axis(ax: Axes, start: float, end: float) -> None:
    span = max(end - start, 1.0)
    step = next((t for t in TICK_STEPS_S if span / t <= 9), DAY_S)
    ax.xaxis.set_major_locator(MultipleLocator(step))
    # within one day the day name adds nothing: 'HH:MM' only
    short = span < DAY_S and int(start // DAY_S) == int((end - 1) // DAY_S)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: format_sim(x, end=x >= end, day=not short)))
    ax.set_xlim(start, end)
    ax.set_xlabel("simulated time")


def _shade_peaks(ax: Axes, peaks: list[PeakWindow]) -> None:
    for i, p in enumerate(peaks):
        ax.axvspan(p.sim_start, p.sim_end, color="#f5b041", alpha=0.25, label="peak window" if i == 0 else None)


def _figure(height: float = 3.0) -> tuple[Figure, Axes]:
    fig, ax = plt.subplots(figsize=(10, height))
    return fig, ax


def week_load(series: list[dict[str, Any]], peaks: list[PeakWindow], span: tuple[float, float]) -> str | None:
    if not series:
        return None
    fig, ax = _figure()
    sims = [p["sim"] for p in series]
    ax.step(sims, [p["offered_rate"] for p in series], where="post", label="offered msg/s")
    ax.step(sims, [p["achieved_rate"] for p in series], where="post", label="replied msg/s")
    _shade_peaks(ax, peaks)
    ax.set_ylabel("messages per wall second")
    users = ax.twinx()
    users.plot(sims, [p["users"] for p in series], color="#7f8c8d", linewidth=0.8, label="users")
    users.set_ylabel("users")
    users.grid(False)
    _sim_axis(ax, *span)
    handles = ax.get_legend_handles_labels()[0] + users.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="upper right", fontsize=8)
    return to_data_uri(fig)


def _latency_lines(ax: Axes, points: list[dict[str, Any]], limit: float) -> None:
    sims = [p["sim"] for p in points]
    for key, label in (("p50", "P50"), ("p90", "P90"), ("p99", "P99"), ("max", "max")):
        ax.plot(
            sims,
            [float(p[key]) if p.get(key) is not None else float("nan") for p in points],
            label=label,
            linewidth=1.3 if key == "p99" else 0.8,
        )
    ax.axhline(limit, label=f"P99 SLA {limit * 1000:.0f} ms", **LIMIT_STYLE)
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _pos: f"{y * 1000:.0f} ms" if y < 1 else f"{y:g} s"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylabel("reply latency")


def week_latency(
    series: list[dict[str, Any]], peaks: list[PeakWindow], span: tuple[float, float], limit: float
) -> str | None:
    if not any(p.get("p99") is not None for p in series):
        return None
    fig, ax = _figure()
    _latency_lines(ax, series, limit)
    _shade_peaks(ax, peaks)
    _sim_axis(ax, *span)
    ax.legend(loc="upper right", fontsize=8, ncol=3)
    return to_data_uri(fig)


def peak_zooms(peaks: list[tuple[PeakWindow, list[dict[str, Any]]]], limit: float) -> str | None:
    peaks = [(p, pts) for p, pts in peaks if pts]
    if not peaks:
        return None
    cols = min(len(peaks), 4)
    rows = -(-len(peaks) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(10, 2.6 * rows), squeeze=False, sharey=True)
    for ax in axes.flat[len(peaks) :]:
        ax.set_visible(False)
    for i, (ax, (peak, points)) in enumerate(zip(axes.flat, peaks, strict=False)):
        _latency_lines(ax, points, limit)
        _sim_axis(ax, peak.sim_start, peak.sim_end)
        ax.set_xlabel("")
        if i % cols:
            ax.set_ylabel("")
        p99 = peak.latency.p99
        breached = p99 is not None and p99 >= limit
        ax.tick_params(axis="x", labelsize=7, rotation=30)
        ax.set_title(
            f"{peak.label}  P99 {_ms(p99)}",
            fontsize=9,
            color=LIMIT_STYLE["color"] if breached else "black",
        )
    axes.flat[0].legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    return to_data_uri(fig)


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 1000:.0f} ms"


def errors_by_status(
    status_series: list[dict[str, Any]],
    statuses: list[str],
    series: list[dict[str, Any]],
    span: tuple[float, float],
    bucket_s: float,
) -> str | None:
    has_loadgen = any(p["timeouts"] or p["errors"] for p in series)
    if not status_series and not has_loadgen:
        return None
    fig, ax = _figure()
    width = bucket_s * 0.9
    bottom: dict[float, float] = {}
    for status in statuses:
        xs = [p["sim"] for p in status_series]
        ys = [p.get(status, 0) for p in status_series]
        ax.bar(xs, ys, width=width, align="edge", bottom=[bottom.get(x, 0) for x in xs], label=f"API HTTP {status}")
        for x, y in zip(xs, ys, strict=True):
            bottom[x] = bottom.get(x, 0) + y
    if has_loadgen:
        ax.plot(
            [p["sim"] for p in series],
            [p["timeouts"] + p["errors"] for p in series],
            color="black",
            linewidth=0.9,
            label="user-side timeouts + errors",
        )
    ax.set_ylabel("per chart bucket")
    _sim_axis(ax, *span)
    ax.legend(loc="upper right", fontsize=8)
    return to_data_uri(fig)


def backlog(resources: list[dict[str, Any]], limit: float, span: tuple[float, float]) -> str | None:
    points = [p for p in resources if "backlog" in p]
    if not points:
        return None
    fig, ax = _figure(2.6)
    sims = [p["sim"] for p in points]
    ax.plot(sims, [p["backlog_max"] for p in points], label="backlog (max per bucket)")
    ax.plot(sims, [p["backlog"] for p in points], linewidth=0.8, label="backlog (mean)")
    ax.axhline(limit, label=f"alert line {limit:.0f}", **LIMIT_STYLE)
    ax.set_ylabel("messages waiting")
    _sim_axis(ax, *span)
    ax.legend(loc="upper right", fontsize=8)
    return to_data_uri(fig)


def _percent_chart(
    points: list[dict[str, Any]],
    keys: list[tuple[str, str]],
    limits: list[tuple[float, str, str]],
    span: tuple[float, float],
) -> str | None:
    keys = [(k, label) for k, label in keys if any(k in p for p in points)]
    if not keys:
        return None
    fig, ax = _figure()
    for key, label in keys:
        pts = [p for p in points if key in p]
        ax.plot([p["sim"] for p in pts], [p[key] * 100 for p in pts], linewidth=1, label=label)
    for limit, text, color in limits:
        ax.axhline(limit * 100, label=f"{text} {limit:.0%}", **{**LIMIT_STYLE, "color": color})
    ax.set_ylabel("% used")
    ax.set_ylim(0, max(105, *(p[k] * 105 for k, _ in keys for p in points if k in p)))
    _sim_axis(ax, *span)
    ax.legend(loc="upper right", fontsize=7, ncol=2)
    return to_data_uri(fig)


def target_resources(points: list[dict[str, Any]], thresholds: Thresholds, span: tuple[float, float]) -> str | None:
    """What the resource SLAs judge: the bot's CPU (share of one core) and memory (share of its limit),
    each as its 1-minute sliding mean (highest per bucket), against the SLA lines."""
    return _percent_chart(
        points,
        [
            ("bot_cpu_sustained_max", "bot CPU, 1-minute mean (of one core)"),
            ("bot_mem_sustained_max", "bot memory, 1-minute mean (of its limit)"),
        ],
        [(thresholds.cpu_target, "CPU SLA", "#e67e22"), (thresholds.memory_target, "memory SLA", "#27ae60")],
        span,
    )


def host_resources(points: list[dict[str, Any]], thresholds: Thresholds, span: tuple[float, float]) -> str | None:
    """The host as a whole (every process, the run's and others'): not what the SLAs judge, what rig
    health and the host alerts watch."""
    return _percent_chart(
        points,
        [("host_cpu_max", "host CPU, max (of all cores)"), ("host_mem_max", "host memory, max")],
        [(thresholds.cpu_alert, "host CPU alert", "#c0392b")],
        span,
    )


def alert_timeline(alerts: list[Alert], span: tuple[float, float]) -> str | None:
    started = [(a, a.started_sim) for a in alerts if a.started_sim is not None]
    if not started:
        return None
    names = sorted({a.alertname for a, _ in started})
    fig, ax = _figure(0.5 + 0.35 * len(names))
    colors = {"critical": "#c0392b", "warning": "#e67e22"}
    for a, start in started:
        end = a.ended_sim if a.ended_sim is not None else span[1]
        color, row = colors.get(a.severity or "", "#2980b9"), names.index(a.alertname)
        # solid: the duration the table counts; faded: after a fast-forward it crossed (not counted)
        counted = a.duration_played_sim_s
        counted_end = min(start + counted, end) if a.crossed_fast_forward and counted is not None else end
        ax.barh(row, max(counted_end - start, span[1] / 2000), left=start, color=color, height=0.6)
        if counted_end < end:
            ax.barh(row, end - counted_end, left=counted_end, color=color, alpha=0.2, height=0.6)
    ax.set_yticks(range(len(names)), names)
    _sim_axis(ax, *span)
    return to_data_uri(fig)


def ledger_fates(messages: dict[str, Any] | None, lost_by_stage: dict[str, Any] | None) -> str | None:
    if not messages:
        return None
    fig, ax = _figure(2.6)
    fates = ("sent", "pushed", "acked", "redelivered", "first_chunk", "replied", "pending")
    order = [k for k in fates if k in messages]
    ax.barh(order, [messages[k] for k in order], color="#2980b9")
    lost = lost_by_stage or {}
    stages = list(lost)
    ax.barh([f"lost: {s}" for s in stages], [lost[s] for s in stages], color="#c0392b")
    for y, value in enumerate([messages[k] for k in order] + [lost[s] for s in stages]):
        ax.annotate(f"{value:,}", (value, y), xytext=(3, -3), textcoords="offset points", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("messages")
    return to_data_uri(fig)

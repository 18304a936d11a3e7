"""Write report.md, junit.xml and report.html from an analysed Report.

Templates are Jinja2 (harness.analysis.report/templates/); junit.xml is built with ElementTree so that escaping is
never hand-written. The html embeds its charts and styles: it opens with no network.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jinja2

from harness.analysis.report import charts
from harness.analysis.report.model import ComparisonRow, RigCheck
from harness.analysis.report.result import Report
from harness.analysis.report.summary import (
    GENERATOR_BOUND_TEXT,
    OP_TEXT,
    alert_gaps_text,
    bucket_label,
    fmt_delta,
    fmt_margin,
    fmt_value,
    not_evaluated_text,
    rig_check_line,
)
from harness.core.simclock import format_sim

TEMPLATES = Path(__file__).parent / "templates"
FAST_FORWARD_MARK = "\u2020"
FAST_FORWARD_NOTE = (
    f"{FAST_FORWARD_MARK} Crossed a fast-forward: still active when off-peak hours were skipped "
    "through in seconds of wall time, less than the alert rules' wall-time windows. Counted: the "
    "played time from firing to that fast-forward. Not counted: the skipped hours, and later peaks "
    "it stayed active through on the earlier data. Resolved time as logged; wall duration as "
    "Prometheus saw it."
)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _when(value: object) -> str:
    """Manifest times are unix seconds (or already text)."""
    if isinstance(value, (int, float)):
        return dt.datetime.fromtimestamp(value, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return "?" if value is None else str(value)


def _bytes_per_s(value: float | None) -> str:
    if value is None:
        return "n/a"
    for unit, size in (("MiB/s", 1024 * 1024), ("KiB/s", 1024)):
        if value >= size:
            return f"{value / size:.1f} {unit}"
    return f"{value:.0f} B/s"


def _labels(labels: dict[str, str]) -> str:
    """The labels that tell two intervals of one alert apart (not its name, severity or scrape target)."""
    skip = {"alertname", "severity", "job", "instance"}
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k not in skip)


def _rig_limit(check: RigCheck) -> str:
    return f"{check.limit:g} s" if check.unit == "s" else f"{check.limit:.0%}"


def _rig_worst(check: RigCheck) -> str:
    if check.worst is None:
        return "not measured" if not check.measured else "n/a"
    return f"{check.worst:.1f} s" if check.unit == "s" else f"{check.worst:.1%}"


def _noise(row: ComparisonRow) -> str:
    """'min 20 ms; 95 % interval +3 to +41 ms': what the change had to clear."""
    if row.min_difference is None:
        return ""
    scale, unit = {"s": (1000, " ms"), "ratio": (100, " pp" if row.id == "availability" else " points")}.get(
        row.unit, (1, "")
    )
    text = f"min {row.min_difference * scale:.3g}{unit}"
    if row.interval is not None:
        low, high = (v * scale for v in row.interval)
        text += f"; 95 % interval {low:+.3g} to {high:+.3g}{unit}"
    return text


def _environment(html: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=html,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters.update(
        fmt=fmt_value,
        margin=fmt_margin,
        when=_when,
        labels=_labels,
        op=lambda op: OP_TEXT[op],
        duration=_duration,
        delta=fmt_delta,
        noise=_noise,
        rig_limit=_rig_limit,
        rig_worst=_rig_worst,
        rig_line=rig_check_line,
        sim=lambda s: "n/a" if s is None else format_sim(s),
        pct=lambda v: "n/a" if v is None else f"{v:.1%}",
        bps=_bytes_per_s,
        status_md=lambda s: {"pass": "pass", "fail": "**FAIL**", "no_data": "no data", "too_few": "too few"}[s],
    )
    return env


def _context(report: Report) -> dict[str, Any]:
    """The templates' names: the report model's fields and computed fields, and the texts only pages show."""
    data = report.data
    conditions = data.conditions
    crossed = any(a.crossed_fast_forward for a in data.alerts)
    return {
        **{name: getattr(data, name) for name in (*type(data).model_fields, *type(data).model_computed_fields)},
        "per": "per " + bucket_label(data.chart_bucket_s),
        "ff_mark": FAST_FORWARD_MARK,
        "ff_note": FAST_FORWARD_NOTE if crossed else None,
        "generator_bound_text": GENERATOR_BOUND_TEXT if conditions.generator_bound else None,
        "alerts_not_evaluated": not_evaluated_text(conditions) if conditions.alerts_evaluated is False else None,
        "alert_gaps": alert_gaps_text(conditions) if conditions.alerts_evaluated is not False else None,
    }


def write_markdown(report: Report) -> Path:
    text = _environment(html=False).get_template("report.md.j2").render(_context(report))
    report.md_path.write_text(text)
    return report.md_path


def write_junit(report: Report) -> Path:
    slas = report.data.slas
    suite = ET.Element(
        "testsuite",
        name=f"sla.{report.data.run.name}",
        tests=str(len(slas)),
        failures=str(sum(s.status == "fail" for s in slas)),
        errors=str(sum(s.status == "no_data" for s in slas)),
    )
    for sla in slas:
        case = ET.SubElement(suite, "testcase", classname="sla", name=sla.id)
        measured = (
            f"{fmt_value(sla.value, sla.unit)} (target {OP_TEXT[sla.op]} "
            f"{fmt_value(sla.threshold, sla.unit)}, margin {fmt_margin(sla)})"
        )
        if sla.status == "fail":
            ET.SubElement(case, "failure", message=f"{sla.name}: {measured}").text = sla.source
        elif sla.status == "no_data":
            ET.SubElement(case, "error", message=f"{sla.name}: no data").text = "; ".join(
                report.data.incomplete_reasons
            )
        elif sla.status == "too_few":
            ET.SubElement(case, "skipped", message=f"{sla.name}: {sla.detail}")
        ET.SubElement(case, "system-out").text = f"{sla.name}: {measured}; {sla.detail}"
    root = ET.Element("testsuites")
    root.append(suite)
    tree = ET.ElementTree(root)
    ET.indent(tree)
    tree.write(report.junit_path, encoding="utf-8", xml_declaration=True)
    return report.junit_path


def _charts(report: Report) -> dict[str, str | None]:
    data, series = report.data, report.series
    th, peaks = data.thresholds, data.latency.peaks
    span = (data.load.sim_start or 0.0, data.load.sim_end or 1.0)
    return {
        "week_load": charts.week_load(series.load, peaks, span),
        "week_latency": charts.week_latency(series.load, peaks, span, th.p99_latency_seconds),
        "peak_zooms": charts.peak_zooms(list(zip(peaks, series.peak_zooms, strict=True)), th.p99_latency_seconds),
        "errors": charts.errors_by_status(series.api_errors, series.statuses, series.load, span, data.chart_bucket_s),
        "backlog": charts.backlog(series.resources, th.backlog_alert, span),
        "target_resources": charts.target_resources(series.resources, th, span),
        "host_resources": charts.host_resources(series.resources, th, span),
        "alerts": charts.alert_timeline(data.alerts, span),
        "ledger": charts.ledger_fates(data.messages.messages, data.messages.lost_by_stage),
    }


def write_html(report: Report) -> Path:
    context = _context(report)
    context["charts"] = _charts(report)
    text = _environment(html=True).get_template("report.html.j2").render(context)
    report.html_path.write_text(text)
    return report.html_path


def write_all(report: Report) -> None:
    report.paths["md"] = write_markdown(report)
    report.paths["junit"] = write_junit(report)
    report.paths["html"] = write_html(report)

"""experiment.json, experiment.md and experiment.html from an ExperimentReport (Jinja2 templates in
harness/analysis/templates/; the html needs no network)."""

from __future__ import annotations

import json
from pathlib import Path

import jinja2

from harness.analysis.experiment import Estimate, ExperimentReport

TEMPLATES = Path(__file__).parent / "templates"


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "s":
        ms = value * 1000
        return f"{ms:.1f} ms" if abs(ms) < 10 else f"{ms:.0f} ms"
    if unit == "ratio":
        return f"{value * 100:.2f} %"
    return f"{value:.3f} cores"


def fmt_interval(estimate: Estimate, unit: str) -> str:
    if estimate.low is None or estimate.high is None:
        return "n/a"
    return f"{fmt(estimate.low, unit)} to {fmt(estimate.high, unit)}"


def fmt_relative(estimate: Estimate) -> str:
    if estimate.value is None:
        return "n/a"
    text = f"{estimate.value * 100:+.1f} %"
    if estimate.low is not None and estimate.high is not None:
        text += f" ({estimate.low * 100:+.1f} % to {estimate.high * 100:+.1f} %)"
    return text


def fmt_delta(estimate: Estimate, unit: str) -> str:
    if estimate.value is None:
        return "n/a"
    text = ("+" if estimate.value >= 0 else "") + fmt(estimate.value, unit)
    if estimate.low is not None and estimate.high is not None:
        text += f" ({fmt_interval(estimate, unit)})"
    return text


def _environment(html: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=html,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters.update(fmt=fmt, interval=fmt_interval, relative=fmt_relative, delta=fmt_delta)
    return env


def write_pages(report: ExperimentReport, folder: Path) -> dict[str, Path]:
    paths = {"json": folder / "experiment.json", "md": folder / "experiment.md", "html": folder / "experiment.html"}
    paths["json"].write_text(json.dumps(report.model_dump(mode="json"), indent=2) + "\n")
    context = {"r": report, "runs_by_arm": {a.name: [r for r in report.runs if r.arm == a.name] for a in report.arms}}
    paths["md"].write_text(_environment(False).get_template("experiment.md.j2").render(**context))
    paths["html"].write_text(_environment(True).get_template("experiment.html.j2").render(**context))
    return paths

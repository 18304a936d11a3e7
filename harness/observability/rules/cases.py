"""promtool unit tests for every alert: a firing and a quiet case at each threshold, written from the
same contract numbers as the rules (so moving a threshold moves its boundary tests with it).

A Case is one promtool test group with one alert check. Expected annotations are rendered here from
the rule's templates, so the tests also prove that summaries and descriptions carry the right value.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.observability.rules.model import Alert

RULE_FILES_FROM_TESTS = "../rules/"


@dataclass(frozen=True)
class Expect:
    rule: Alert
    labels: dict[str, str]  # labels the expression yields (series labels after aggregation)
    value: float  # the alert's $value, for the annotations


@dataclass(frozen=True)
class Case:
    name: str
    alertname: str
    series: dict[str, str]  # series selector -> promtool values notation
    eval_time: str
    expect: list[Expect] = field(default_factory=list)
    interval: str = "15s"

    def to_dict(self, runbook_base: str) -> dict[str, Any]:
        return {
            "name": self.name,
            "interval": self.interval,
            "input_series": [{"series": s, "values": v} for s, v in self.series.items()],
            "alert_rule_test": [
                {
                    "eval_time": self.eval_time,
                    "alertname": self.alertname,
                    "exp_alerts": [_expected(e, runbook_base) for e in self.expect],
                }
            ],
        }


def counter(*segments: tuple[int, float], start: float = 0) -> str:
    """Values of a counter that grows by `inc` per step for `steps` steps, segment after segment."""
    parts, value = [f"{start:g}"], start
    for steps, inc in segments:
        if steps <= 0:
            continue
        parts.append(f"{value + inc:g}+{inc:g}x{steps - 1}")
        value += inc * steps
    return " ".join(parts)


def rule(name: str, **labels: str) -> Alert:
    """The generated alerting rule called `name` whose labels include `labels`."""
    from harness.observability.rules import alerts

    found = [a for a in alerts() if a.name == name and labels.items() <= a.all_labels().items()]
    if len(found) != 1:
        raise LookupError(f"{len(found)} rules named {name} with labels {labels}")
    return found[0]


def _expected(e: Expect, runbook_base: str) -> dict[str, Any]:
    labels = {**e.labels, **e.rule.all_labels()}
    return {
        "exp_labels": labels,
        "exp_annotations": {
            "summary": render(e.rule.summary, labels, e.value),
            "description": render(e.rule.description, labels, e.value),
            "runbook_url": f"{runbook_base}{e.rule.name}.md",
        },
    }


def _humanize(value: float) -> str:
    if value != 0 and not 1 <= abs(value) < 1000:
        raise ValueError(f"humanize: only 0 and 1..999 are rendered here, got {value}")
    return f"{value:.4g}"


_FILTERS: dict[str, Callable[[float], str]] = {
    "$value | humanizePercentage": lambda v: f"{v * 100:.4g}%",
    "$value | humanize": _humanize,
    'printf "%.0f" $value': lambda v: f"{v:.0f}",
    'printf "%.3f" $value': lambda v: f"{v:.3f}",
}


def render(template: str, labels: dict[str, str], value: float) -> str:
    """The subset of Prometheus' alert templating the rules use, as Go renders it."""

    def one(match: re.Match[str]) -> str:
        expr = match.group(1).strip()
        if expr.startswith("$labels."):
            return labels.get(expr.removeprefix("$labels."), "")
        if expr in _FILTERS:
            return _FILTERS[expr](value)
        raise ValueError(f"template expression not supported by the test renderer: {expr!r}")

    return re.sub(r"{{(.*?)}}", one, template)


def all_cases() -> dict[str, tuple[str, list[Case]]]:
    """Rule file name -> (evaluation interval, cases)."""
    from harness.observability.rules import alerting_cases, slo_cases

    return {**alerting_cases.cases(), **slo_cases.cases()}


def test_documents(runbook_base: str) -> dict[str, dict[str, Any]]:
    from harness.observability.rules import groups

    files = [f"{RULE_FILES_FROM_TESTS}{g.file}.yml" for g in groups()]
    return {
        name: {
            "rule_files": files,
            "evaluation_interval": interval,
            "tests": [c.to_dict(runbook_base) for c in cases],
        }
        for name, (interval, cases) in all_cases().items()
    }

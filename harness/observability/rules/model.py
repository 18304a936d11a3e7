"""Building blocks of the generated Prometheus rules: recording rules, alerts, and their YAML shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Where `runbook_url` points. Relative to the repository root by default; `harness dashboards
# generate --runbook-base URL` points it at a docs site instead.
DEFAULT_RUNBOOK_BASE = "runbooks/"

SEVERITY_PAGE = "critical"  # routed to the paging receiver
SEVERITY_TICKET = "warning"  # routed to the ticket queue


@dataclass(frozen=True)
class Record:
    record: str
    expr: str
    labels: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"record": self.record, "expr": self.expr}
        if self.labels:
            out["labels"] = dict(self.labels)
        return out


@dataclass(frozen=True)
class Alert:
    """One alerting rule. Several rules may share a name (e.g. the window pairs of a burn-rate alert)."""

    name: str
    expr: str
    severity: str
    summary: str  # Go template; may use {{ $labels.x }} and the value filters of harness.observability.rules.render
    description: str
    for_: str = "0m"
    labels: dict[str, str] = field(default_factory=dict)

    def all_labels(self) -> dict[str, str]:
        return {"severity": self.severity, **self.labels}

    def to_dict(self, runbook_base: str) -> dict[str, Any]:
        out: dict[str, Any] = {"alert": self.name, "expr": self.expr}
        if self.for_ != "0m":
            out["for"] = self.for_
        out["labels"] = self.all_labels()
        out["annotations"] = {
            "summary": self.summary,
            "description": self.description,
            "runbook_url": f"{runbook_base}{self.name}.md",
        }
        return out


@dataclass(frozen=True)
class Group:
    """A rule group, written to dashboards/prometheus/rules/<file>.yml."""

    file: str
    name: str
    rules: tuple[Record | Alert, ...]
    interval: str | None = None

    def alerts(self) -> list[Alert]:
        return [r for r in self.rules if isinstance(r, Alert)]

    def to_dict(self, runbook_base: str) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.interval:
            out["interval"] = self.interval
        out["rules"] = [r.to_dict(runbook_base) if isinstance(r, Alert) else r.to_dict() for r in self.rules]
        return out


def num(value: float) -> str:
    """A threshold as PromQL text: short and exact for the decimal it was written as (0.85, not 0.8500000001)."""
    return f"{value:.12g}"


def le_label(value: float) -> str:
    """A bucket bound as prometheus_client writes the `le` label (0.5 -> "0.5", 1 -> "1.0")."""
    return repr(float(value))

"""What a runbook-as-code produces: findings with evidence, likely cause, action and a runbook link."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Severity = Literal["critical", "warning"]
SEVERITY_ORDER = {"critical": 0, "warning": 1}


@dataclass(frozen=True)
class Evidence:
    text: str  # a fact with its numbers and, where known, its simulated time
    source: str  # the file (and field) or query it came from


@dataclass
class Finding:
    id: str  # stable, for tools and tests: "loss.not_acked", "api.429.card_streaming", ...
    title: str
    severity: Severity
    what: str  # what happened, in one or two sentences
    cause: str  # the likely cause, as far as the evidence goes
    action: str  # what to do
    runbook: str  # runbooks/<page>.md
    evidence: list[Evidence] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def ordered(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (SEVERITY_ORDER[f.severity], f.id))

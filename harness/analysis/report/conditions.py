"""How the run itself went, from the manifest: was the load generator the bottleneck, did Prometheus
and Alertmanager run (so were alerts evaluated at all), and what the orchestrator warned about.

These do not change the verdict, but they change what it means: a generator-bound run measured the
load generator more than the bot, and "no alert fired" means nothing when no Prometheus was running.
"""

from __future__ import annotations

from typing import Any

from harness.analysis.report.model import AlertGap, Conditions, ServiceStatus


def _service(value: Any) -> ServiceStatus | None:
    """A manifest service entry; None when the manifest does not say. Older manifests wrote a bare boolean."""
    if isinstance(value, bool):
        return ServiceStatus(available=value)
    if not isinstance(value, dict) or "available" not in value:
        return None
    return ServiceStatus(
        available=bool(value["available"]),
        reason=value.get("reason"),
        hint=value.get("hint"),
        url=value.get("url"),
        gaps=[AlertGap.model_validate(gap) for gap in value.get("gaps") or []],
    )


def _rules_missing(prometheus: Any) -> str | None:
    """What the manifest says Prometheus did not load of the shipped rules; None when all were loaded
    (or the manifest predates the count)."""
    rules = prometheus.get("rules") if isinstance(prometheus, dict) else None
    if not isinstance(rules, dict):
        return None
    if rules.get("missing") or not rules.get("rules_loaded"):
        return f"{rules.get('rules_loaded', 0)} of {rules.get('rules_shipped', '?')} loaded"
    return None


def run_conditions(manifest: dict[str, Any]) -> Conditions:
    """report.json `conditions`: generator_bound, prometheus, alertmanager, alerts_evaluated, warnings."""
    prometheus = _service(manifest.get("prometheus"))
    rules_missing = _rules_missing(manifest.get("prometheus"))
    if prometheus is not None and rules_missing:
        prometheus = prometheus.model_copy(update={"reason": rules_missing, "rules_loaded": False})
    warnings = manifest.get("warnings") or []
    return Conditions(
        generator_bound=bool(manifest.get("generator_bound")),
        prometheus=prometheus,
        alertmanager=_service(manifest.get("alertmanager")),
        # alerts.jsonl is Prometheus' record: without Prometheus, or without its rules, no alert rule ran
        alerts_evaluated=None if prometheus is None else prometheus.available and prometheus.rules_loaded,
        warnings=[str(w) for w in warnings] if isinstance(warnings, list) else [str(warnings)],
    )

"""Prometheus rules and their promtool tests, generated from harness.core.contract.

The committed files under dashboards/prometheus/ are this package's output; `harness dashboards
generate` rewrites them and `harness dashboards check` fails when they are stale, so the thresholds
in the rules, in the rule tests and in the report always come from one place.
"""

from __future__ import annotations

from pathlib import Path

from harness.core import assets
from harness.observability.rules import rules, slo
from harness.observability.rules.model import DEFAULT_RUNBOOK_BASE, Alert, Group
from harness.observability.rules.render import dump


def groups() -> list[Group]:
    return [
        rules.recording(),
        rules.host(),
        rules.security(),
        rules.messages(),
        rules.platform_api(),
        rules.stream(),
        *(slo.slo_group(s) for s in slo.SLOS),
    ]


def alerts() -> list[Alert]:
    return [a for g in groups() for a in g.alerts()]


def alert_names() -> list[str]:
    return sorted({a.name for a in alerts()})


def rule_files(runbook_base: str = DEFAULT_RUNBOOK_BASE) -> dict[Path, str]:
    """Rule file path -> YAML text."""
    return {assets.rules_dir() / f"{g.file}.yml": dump({"groups": [g.to_dict(runbook_base)]}) for g in groups()}


def test_files(runbook_base: str = DEFAULT_RUNBOOK_BASE) -> dict[Path, str]:
    """promtool test file path -> YAML text (one file per rule file that has alerts)."""
    from harness.observability.rules.cases import test_documents

    folder = assets.rule_tests_dir()
    return {folder / f"{name}.test.yml": dump(doc) for name, doc in test_documents(runbook_base).items()}


def generated(runbook_base: str = DEFAULT_RUNBOOK_BASE) -> dict[Path, str]:
    from harness.observability.rules.doc_table import doc_file

    root = assets.source_root()  # docs/alerts.md exists only in a checkout
    docs = doc_file(root, alerts()) if root else {}
    return {**rule_files(runbook_base), **test_files(runbook_base), **docs}


def stale(runbook_base: str = DEFAULT_RUNBOOK_BASE) -> list[Path]:
    """Generated files whose committed copy differs from what the generator writes now."""
    return [p for p, text in generated(runbook_base).items() if not p.exists() or p.read_text() != text]


def write(runbook_base: str = DEFAULT_RUNBOOK_BASE) -> list[Path]:
    written = []
    for path, text in generated(runbook_base).items():
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            written.append(path)
    return written

"""SLA report builder: run folder -> verdicts -> report.json / report.html / report.md / junit.xml."""

from __future__ import annotations

from typing import Any

__all__ = ["Report", "build_report"]


def __getattr__(name: str) -> Any:
    # Lazy: harness.diagnose reads reports.runfolder, and the builder imports harness.diagnose; importing
    # the builder here eagerly would make `import harness.diagnose` circular.
    if name in __all__:
        from reports import builder

        return getattr(builder, name)
    raise AttributeError(f"module 'reports' has no attribute {name!r}")

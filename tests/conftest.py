"""Suite-wide rules: every test belongs to exactly one tier, and in CI a missing tool fails instead of skipping.

Tiers (pyproject.toml registers the markers; `make test-fast` runs `-m "not e2e"`):
  unit         pure, in one process: no sockets, no child processes
  integration  starts real servers (loopback sockets) or processes (subprocesses, promtool, chromium, ...)
  e2e          whole harness runs or the installed package; everything under tests/e2e/ is e2e
A module declares unit or integration with a module-level `pytestmark`; a test without a tier is a
collection error, so a new module cannot slip out of the tier selection unnoticed.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

import pytest

from tests.tools import REQUIRE_TOOLS_ENV, TOOL_MISSING, tools_required

TIERS = ("unit", "integration", "e2e")
E2E_DIR = Path(__file__).parent / "e2e"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    untiered: set[str] = set()
    for item in items:
        if E2E_DIR in item.path.parents:
            item.add_marker(pytest.mark.e2e)
        tiers = {tier for tier in TIERS if item.get_closest_marker(tier)}
        if len(tiers) != 1:
            untiered.add(f"{item.path.relative_to(config.rootpath)} ({', '.join(sorted(tiers)) or 'no tier'})")
    if untiered:
        raise pytest.UsageError(
            "every test module needs exactly one tier marker (pytestmark = pytest.mark.unit or "
            "pytest.mark.integration; tests/e2e/ is e2e): " + "; ".join(sorted(untiered))
        )


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    return str(longrepr[2]) if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.skipped and tools_required():
        reason = _skip_reason(report)
        if TOOL_MISSING in reason:
            report.outcome = "failed"
            report.longrepr = (
                f"{reason.removeprefix('Skipped: ')}: {REQUIRE_TOOLS_ENV} is set, so a missing tool fails the "
                "test (scripts/install-system-deps.sh installs the tools)"
            )
    return report

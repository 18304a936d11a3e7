"""Suite-wide rules: every test belongs to exactly one tier, and in CI a missing tool fails instead of skipping.

Tiers (pyproject.toml registers the markers; `make test-fast` runs `-m "not e2e"`):
  unit         pure, in one process: no sockets, no child processes
  integration  starts real servers (loopback sockets) or processes (subprocesses, promtool, chromium, ...)
  e2e          whole harness runs or the installed package; everything under tests/e2e/ is e2e
A module declares unit or integration with a module-level `pytestmark`; a test without a tier is a
collection error, so a new module cannot slip out of the tier selection unnoticed.

`make test` runs the e2e tier in two passes: two at a time (pytest-xdist, one module per worker), then
the `solo` tests one at a time, as they need the machine to themselves (heavy load, rig health, figures
compared between runs). A session fixture is made once per xdist worker, so the shared runs
(tests/e2e/conftest.py) may only serve solo tests: that is checked here too.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

import pytest

from tests.tools import REQUIRE_TOOLS_ENV, TOOL_MISSING, tools_required

TIERS = ("unit", "integration", "e2e")
E2E_DIR = Path(__file__).parent / "e2e"
SHARED_RUNS = ("week_run", "faults_run")  # session fixtures of tests/e2e/conftest.py


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    untiered: set[str] = set()
    misplaced: set[str] = set()
    for item in items:
        if E2E_DIR in item.path.parents:
            item.add_marker(pytest.mark.e2e)
        where = item.path.relative_to(config.rootpath)
        tiers = {tier for tier in TIERS if item.get_closest_marker(tier)}
        if len(tiers) != 1:
            untiered.add(f"{where} ({', '.join(sorted(tiers)) or 'no tier'})")
        solo = item.get_closest_marker("solo") is not None
        shared = sorted(set(SHARED_RUNS) & set(getattr(item, "fixturenames", ())))
        if solo and "e2e" not in tiers:
            misplaced.add(f"{where}: solo is for e2e tests")
        elif shared and not solo:
            misplaced.add(f"{where}: uses {', '.join(shared)}, so it must be marked solo")
    if untiered:
        raise pytest.UsageError(
            "every test module needs exactly one tier marker (pytestmark = pytest.mark.unit or "
            "pytest.mark.integration; tests/e2e/ is e2e): " + "; ".join(sorted(untiered))
        )
    if misplaced:
        raise pytest.UsageError("; ".join(sorted(misplaced)))


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

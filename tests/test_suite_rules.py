"""The suite's own rules (tests/conftest.py): HARNESS_REQUIRE_TOOLS=1 turns a "tool missing" skip into a
failure and leaves every other skip alone; a test without exactly one tier marker stops the collection."""

import pytest

from tests.tools import REQUIRE_TOOLS_ENV, TOOL_MISSING

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.unit

SUITE = """
import pytest
from tests.tools import needs_tool, skip_missing

pytestmark = pytest.mark.unit

@needs_tool("no-such-tool-on-any-path")
def test_marked():
    pass

def test_found_missing_at_run_time():
    skip_missing("no-such-service")

@pytest.mark.skip(reason="not applicable here")
def test_other_skip():
    pass

def test_plain():
    pass
"""


CONFTEST = "from tests.conftest import pytest_collection_modifyitems, pytest_runtest_makereport  # noqa: F401\n"
# the inner runs do not read pyproject.toml: keep Locust's plugin (gevent patching) out as the outer run does
INNER = ("-p", "no:locust", "-p", "no:cacheprovider", "-rs")


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_suite=SUITE)
    return pytester


def test_without_the_variable_missing_tools_skip(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REQUIRE_TOOLS_ENV, raising=False)
    result = suite.runpytest(*INNER)
    result.assert_outcomes(passed=1, skipped=3)
    result.stdout.fnmatch_lines([f"*{TOOL_MISSING} no-such-tool-on-any-path*"])


def test_with_the_variable_missing_tools_fail(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(REQUIRE_TOOLS_ENV, "1")
    result = suite.runpytest(*INNER)
    # a skipif marker fails in setup (an error), a skip from the test body fails the call
    result.assert_outcomes(passed=1, skipped=1, errors=1, failed=1)
    result.stdout.fnmatch_lines([f"*{TOOL_MISSING} no-such-tool-on-any-path: {REQUIRE_TOOLS_ENV} is set*"])
    result.stdout.fnmatch_lines(["*not applicable here*"])


def test_zero_means_not_required(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(REQUIRE_TOOLS_ENV, "0")
    suite.runpytest(*INNER).assert_outcomes(passed=1, skipped=3)


@pytest.mark.parametrize(
    ("marks", "complaint"),
    [("", "test_untiered.py (no tier)"), ("[pytest.mark.unit, pytest.mark.integration]", "(integration, unit)")],
)
def test_a_test_needs_exactly_one_tier(pytester: pytest.Pytester, marks: str, complaint: str) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_untiered=f"import pytest\n\npytestmark = {marks or '[]'}\n\ndef test_a():\n    pass\n")
    result = pytester.runpytest(*INNER)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*exactly one tier marker*{complaint}*"])

"""System tools some tests need (Prometheus, promtool, amtool, Alertmanager, Chromium, the right to attach
py-spy). A test that cannot run without one skips through these helpers, with a reason that starts with
TOOL_MISSING. With HARNESS_REQUIRE_TOOLS=1 (what .ci/run sets) tests/conftest.py turns exactly those
skips into failures, so CI cannot go green by quietly skipping what it was meant to check.
"""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest

REQUIRE_TOOLS_ENV = "HARNESS_REQUIRE_TOOLS"
TOOL_MISSING = "tool missing:"


def tools_required() -> bool:
    return os.environ.get(REQUIRE_TOOLS_ENV, "") not in ("", "0")


def missing_reason(what: str) -> str:
    return f"{TOOL_MISSING} {what}"


def needs(available: bool, what: str) -> pytest.MarkDecorator:
    """Skip unless `available`; `what` names the tool or permission (it becomes the skip reason)."""
    return pytest.mark.skipif(not available, reason=missing_reason(what))


def needs_tool(*names: str) -> pytest.MarkDecorator:
    """Skip unless one of the programs `names` is on PATH (or, for a path, is an executable file)."""
    return needs(any(shutil.which(name) for name in names), " or ".join(names))


def skip_missing(what: str) -> NoReturn:
    """Skip from inside a test or fixture, for a tool found missing only at run time."""
    pytest.skip(missing_reason(what))


def needs_pyspy_attach() -> pytest.MarkDecorator:
    """Skip unless Linux lets this process attach py-spy to another (root, CAP_SYS_PTRACE or ptrace_scope 0)."""
    from harness.profiling import pyspy

    permitted, why = pyspy.attach_permitted()
    return needs(permitted, f"permission to attach py-spy ({why})")

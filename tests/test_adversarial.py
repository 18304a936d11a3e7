"""The adversarial run of docs/hardening.md, small: every defence holds and no good message is lost."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]


def test_the_quick_adversarial_run_breaks_nothing():
    result = subprocess.run(
        [sys.executable, "-m", "harness.bench.adversarial", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "0 defence(s) failed" in result.stdout and "lost 0" in result.stdout

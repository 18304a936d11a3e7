"""Runs locuststats_check.py in a process of its own: importing Locust monkey-patches the whole
interpreter with gevent, which must not happen to the pytest process the asyncio tests share."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

CHECKS = Path(__file__).with_name("locuststats_check.py")


def test_batched_locust_statistics_in_a_process_of_their_own():
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(CHECKS)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and " failed" not in result.stdout

"""The official Node SDK for the tests: installed by scripts/install-node-sdk.sh (make test) into .node/."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent
SDK = ROOT / ".node" / "node_modules" / "dingtalk-stream"


def require_node_sdk() -> str:
    """The node binary; skips the test (fails it in CI) when node or the SDK is not installed."""
    node = shutil.which("node")
    missing = (
        "node is not installed"
        if node is None
        else "the Node SDK is not installed: run `make node-sdk` (scripts/install-node-sdk.sh)"
        if not (SDK / "package.json").exists() or not (HERE / "node_modules").exists()
        else ""
    )
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(missing)
        pytest.skip(missing)
    assert node is not None
    return node

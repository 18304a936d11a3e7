"""Pointing the official DingTalk SDKs at the emulator (docs/sdk-python.md, docs/sdk-node.md).

The Python SDK reads its base URL from DINGTALK_OPENAPI_ENDPOINT. The Node SDK hard-codes DingTalk's
hosts, so the harness ships a preload module (dingtalk_preload.cjs, loaded with
`NODE_OPTIONS=--require <path>`) that sends the requests to those hosts to DINGTALK_OPENAPI_ENDPOINT.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

ENDPOINT_ENV = "DINGTALK_OPENAPI_ENDPOINT"


def node_preload() -> Path:
    """The preload module's path on disk (node needs a file)."""
    path = Path(str(files("harness.platform").joinpath("dingtalk_preload.cjs")))
    if not path.exists():
        raise FileNotFoundError(f"{path}: the Node SDK preload is missing from the installation")
    return path


def node_options(existing: str = "") -> str:
    """NODE_OPTIONS with the preload added (kept once; a path with spaces quoted as node reads it)."""
    path = str(node_preload())
    require = f'--require "{path}"' if " " in path else f"--require {path}"
    return existing if path in existing else f"{existing} {require}".strip()

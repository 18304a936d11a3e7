"""The run folder (docs/run-folder.md): its layout and the manifest (JSON-lines files: jsonlines.py)."""

from __future__ import annotations

import json
import os
import platform
import socket
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from harness import __version__
from harness.core.contract import RUNS_DIR

RUN_SUBFOLDERS = ("logs", "locust", "prometheus", "profiles")


def new_run_dir(scenario_name: str, base: str | Path = RUNS_DIR, subfolders: tuple[str, ...] = RUN_SUBFOLDERS) -> Path:
    """reports/<YYYYmmdd-HHMMSS>-<scenario>/ (a suffix keeps two runs in the same second apart), with
    `subfolders` made inside (a run's, by default)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    root = Path(base)
    for n in range(100):
        path = root / (f"{stamp}-{scenario_name}" + (f"-{n}" if n else ""))
        try:
            path.mkdir(parents=True)
        except FileExistsError:
            continue
        for sub in subfolders:
            (path / sub).mkdir()
        return path
    raise RuntimeError(f"could not create a run folder under {root}")


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    os.replace(tmp, path)


def machine_info() -> dict[str, Any]:
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpus": psutil.cpu_count(),
        "memory_bytes": psutil.virtual_memory().total,
    }


class Manifest:
    """manifest.json, rewritten atomically whenever something worth knowing changes."""

    def __init__(self, path: Path, **fields: Any):
        self.path = path
        self.data: dict[str, Any] = {
            "harness_version": __version__,
            "machine": machine_info(),
            "started_at": time.time(),
            "ended_at": None,
            "status": "running",
            "abort_reason": None,
            "components": {},
            "warnings": [],
            **fields,
        }
        self.save()

    def update(self, **fields: Any) -> None:
        self.data.update(fields)
        self.save()

    def component(self, name: str, **fields: Any) -> None:
        self.data["components"].setdefault(name, {}).update(fields)
        self.save()

    def warn(self, text: str) -> None:
        if text not in self.data["warnings"]:
            self.data["warnings"].append(text)
            self.save()

    def save(self) -> None:
        write_json_atomic(self.path, self.data)

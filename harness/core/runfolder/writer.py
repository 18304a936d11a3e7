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
from harness.core.runfolder.diskspace import is_disk_full

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
    """Write `path` whole or not at all: a failed write (say, a full disk) leaves the old file and no .tmp."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(data, indent=1, default=str))
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


CGROUP_ROOT = Path("/sys/fs/cgroup")


def container_memory_limit(
    cgroup_root: Path = CGROUP_ROOT, self_cgroup: Path = Path("/proc/self/cgroup")
) -> int | None:
    """The memory limit of this process' cgroup (v2 memory.max, v1 memory.limit_in_bytes) when one is
    set below the host's memory; None outside a container or without a limit. The run's processes are
    this process' children and share it."""
    try:
        lines = self_cgroup.read_text().splitlines()
    except OSError:
        return None
    candidates: list[Path] = []
    for line in lines:
        _, controllers, path = [*line.split(":", 2), "", ""][:3]
        relative = path.lstrip("/")
        if controllers == "":  # cgroup v2
            candidates += [cgroup_root / relative / "memory.max", cgroup_root / "memory.max"]
        elif "memory" in controllers.split(","):  # cgroup v1
            candidates += [
                cgroup_root / "memory" / relative / "memory.limit_in_bytes",
                cgroup_root / "memory" / "memory.limit_in_bytes",
            ]
    host = psutil.virtual_memory().total
    for candidate in candidates:
        try:
            text = candidate.read_text().strip()
        except OSError:
            continue
        if text.isdigit() and 0 < int(text) < host:
            return int(text)
        if text.isdigit() or text == "max":
            return None  # found, and no tighter than the host
    return None


def machine_info() -> dict[str, Any]:
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpus": psutil.cpu_count(),
        "memory_bytes": psutil.virtual_memory().total,
        "memory_limit_bytes": container_memory_limit(),  # None: no container limit below the host's
    }


class Manifest:
    """manifest.json, rewritten atomically whenever something worth knowing changes.

    On a full disk the manifest stays in memory: `unsaved` holds the error, and the next save that
    finds room writes it whole. Other write errors are raised."""

    def __init__(self, path: Path, **fields: Any):
        self.path = path
        self.unsaved: OSError | None = None
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
        try:
            write_json_atomic(self.path, self.data)
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            self.unsaved = exc
        else:
            self.unsaved = None

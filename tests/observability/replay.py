"""A real Prometheus serving the TSDB a finished run left in its folder, for queries after the fact.

The run's data directory is copied first, so replaying never changes the run folder.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from harness.core import procs
from harness.core.readiness import NotReady, wait_http_ready


class PromQLError(RuntimeError):
    pass


class ReplayPrometheus:
    def __init__(self, run_dir: Path, workdir: Path, binary: str = "prometheus") -> None:
        self.source = run_dir / "prometheus" / "data"
        self.workdir = workdir
        self.binary = procs.find_binary(binary) or binary
        self.url = ""
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ReplayPrometheus:
        data = self.workdir / "data"
        shutil.copytree(self.source, data, ignore=shutil.ignore_patterns("lock", "queries.active"))
        config = self.workdir / "prometheus.yml"
        config.write_text("global: {scrape_interval: 1m}\n")
        port = procs.free_port()
        self.url = f"http://127.0.0.1:{port}"
        log = self.workdir / "prometheus.log"
        self._proc = procs.start(
            [
                self.binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={data}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
                "--storage.tsdb.retention.time=3650d",
            ],
            log,
        )
        try:
            wait_http_ready(f"{self.url}/-/ready", self._proc, 60)
        except NotReady as exc:
            self.__exit__()
            raise RuntimeError(f"prometheus over the run's TSDB: {exc}: {log.read_text()[-2000:]}") from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            procs.stop(self._proc, grace=15)
        self._proc = None

    def _get(self, path: str, params: dict[str, str]) -> Any:
        url = f"{self.url}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=30) as r:
                body = json.load(r)
        except urllib.error.HTTPError as exc:
            body = json.load(exc)
        if body.get("status") != "success":
            raise PromQLError(f"{body.get('errorType')}: {body.get('error')} in {params.get('query')!r}")
        return body["data"]["result"]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        return self._get(
            "/api/v1/query_range", {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        )

    def query(self, expr: str, at: float) -> list[dict[str, Any]]:
        return self._get("/api/v1/query", {"query": expr, "time": f"{at:.3f}"})

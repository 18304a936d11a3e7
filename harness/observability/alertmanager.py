"""A real Alertmanager for a run, whose notifications land in <run_dir>/notifications.jsonl.

The routing tree, grouping and inhibition come unchanged from dashboards/alertmanager/alertmanager.yml;
only the receivers are swapped for webhooks to a recorder inside this process (one URL path per
receiver), and the grouping timers are shortened so a run of a few minutes sees its notifications.

    am = AlertmanagerProcess(run_dir)
    url = am.start()          # give `url` to Prometheus (alerting.alertmanagers)
    ...
    am.stop()                 # notifications.jsonl is complete

Each notifications.jsonl line: {"received_at": unix seconds, "receiver", "status", "group_labels",
"alerts": [{"status", "labels", "annotations", "startsAt", "endsAt"}]}.
"""

from __future__ import annotations

import json
import logging
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from harness.core import assets, procs
from harness.core.contract import DEFAULT_HOST
from harness.core.readiness import NotReady, wait_http_ready

log = logging.getLogger("harness.observability.alertmanager")

BINARIES = ("alertmanager", "prometheus-alertmanager")  # upstream name, Debian's name
# Compressed runs: a day's peak lasts about a minute, so production's 30 s / 5 min grouping would
# hide most of a run. Routing and inhibition are untouched.
RUN_TIMERS = {"group_wait": "2s", "group_interval": "10s", "repeat_interval": "1h"}


class AlertmanagerError(RuntimeError):
    pass


def receiver_names(config: dict[str, Any]) -> list[str]:
    return [r["name"] for r in config.get("receivers", [])]


def run_config(config: dict[str, Any], recorder_url: str) -> dict[str, Any]:
    """The shipped config with every receiver replaced by a webhook to `recorder_url`/<receiver>."""
    derived = json.loads(json.dumps(config))  # deep copy of plain YAML data
    derived["receivers"] = [
        {"name": name, "webhook_configs": [{"url": f"{recorder_url}/{name}", "send_resolved": True}]}
        for name in receiver_names(config)
    ]
    _shorten_timers(derived["route"])
    return derived


def _shorten_timers(route: dict[str, Any], root: bool = True) -> None:
    """Set the run timers on the root route and wherever a child route overrides one."""
    for key, value in RUN_TIMERS.items():
        if root or key in route:
            route[key] = value
    for child in route.get("routes", []):
        _shorten_timers(child, root=False)


class NotificationRecorder:
    """Webhook receiver: appends every notification Alertmanager sends to a JSON-lines file."""

    def __init__(self, path: Path, receivers: list[str]) -> None:
        self.path = path
        self.receivers = set(receivers)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.count = 0

    def start(self) -> str:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver = self.path.strip("/")
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length))
                except ValueError:
                    self.send_error(400, "body is not JSON")
                    return
                if receiver not in recorder.receivers:
                    self.send_error(404, f"unknown receiver {receiver!r}")
                    return
                recorder.record(receiver, body)
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("recorder: " + format, *args)

        self._server = ThreadingHTTPServer((DEFAULT_HOST, 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="am-recorder", daemon=True)
        self._thread.start()
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def record(self, receiver: str, body: dict[str, Any]) -> None:
        line = {
            "received_at": time.time(),
            "receiver": receiver,
            "status": body.get("status"),
            "group_labels": body.get("groupLabels", {}),
            "alerts": [
                {k: a.get(k) for k in ("status", "labels", "annotations", "startsAt", "endsAt")}
                for a in body.get("alerts", [])
            ],
        }
        with self._lock, self.path.open("a") as out:
            out.write(json.dumps(line, sort_keys=True) + "\n")
            self.count += 1

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class AlertmanagerProcess:
    def __init__(self, run_dir: Path | str, config_file: Path | None = None, binary: str = "") -> None:
        """`binary`: a path or a name on PATH; "" looks for BINARIES on PATH (self.binary is None if none)."""
        self.run_dir = Path(run_dir)
        self.config_file = config_file or assets.alertmanager_config()
        self.binary = procs.find_binary(*BINARIES, configured=binary)
        self.notifications_path = self.run_dir / "notifications.jsonl"
        self.dir = self.run_dir / "alertmanager"
        self.url: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._recorder: NotificationRecorder | None = None

    def start(self, timeout: float = 30.0) -> str:
        if self.binary is None:
            raise AlertmanagerError(
                f"no Alertmanager binary on PATH (looked for {', '.join(BINARIES)}); "
                "install it with `apt-get install prometheus-alertmanager`"
            )
        config = yaml.safe_load(self.config_file.read_text())
        self.dir.mkdir(parents=True, exist_ok=True)
        self.notifications_path.touch()
        self._recorder = NotificationRecorder(self.notifications_path, receiver_names(config))
        recorder_url = self._recorder.start()
        config_path = self.dir / "alertmanager.yml"
        config_path.write_text(yaml.safe_dump(run_config(config, recorder_url), sort_keys=False))
        try:
            self._launch(config_path, timeout)
        except BaseException:
            self.stop()
            raise
        assert self.url is not None
        return self.url

    def _launch(self, config_path: Path, timeout: float) -> None:
        for _attempt in range(3):  # the free port may be taken between probing and binding
            port = procs.free_port()
            # procs.start ties it to this process: a SIGKILLed harness does not leave it running
            self._proc = procs.start(
                [
                    str(self.binary),
                    f"--config.file={config_path}",
                    f"--storage.path={self.dir / 'data'}",
                    f"--web.listen-address={DEFAULT_HOST}:{port}",
                    "--cluster.listen-address=",
                    "--log.level=info",
                ],
                self.dir / "alertmanager.log",
            )
            url = f"http://{DEFAULT_HOST}:{port}"
            try:
                wait_http_ready(f"{url}/-/ready", self._proc, timeout)
            except NotReady as exc:
                log.warning("alertmanager not ready: %s", exc)
                self._terminate()
                continue
            self.url = url
            log.info("alertmanager ready at %s, notifications -> %s", url, self.notifications_path)
            return
        raise AlertmanagerError(f"Alertmanager did not become ready; see {self.dir / 'alertmanager.log'}")

    def _terminate(self) -> None:
        if self._proc is None:
            return
        procs.stop(self._proc, grace=10)
        self._proc = None

    def stop(self) -> None:
        """Stop Alertmanager, then the recorder (so notifications in flight still land)."""
        self._terminate()
        if self._recorder is not None:
            self._recorder.stop()
            self._recorder = None

    def notifications(self) -> list[dict[str, Any]]:
        return read_notifications(self.notifications_path)

    def __enter__(self) -> AlertmanagerProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def read_notifications(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

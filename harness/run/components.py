"""The argv, environment and log of each process a run starts (what, not when: see orchestrator)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

from harness.core.contract import ADMIN_TOKEN_ENV
from harness.core.scenario.schema import Scenario
from harness.platform import sdk
from harness.run.processes import Component

APP_ID = "harness-app"
REPLICA_ENV = "HARNESS_REPLICA"  # which replica a bot process is (1, 2, ...): a command bot picks its ports by it


def locustfile() -> str:
    """Path of harness/loadgen/locustfile.py, found without importing it (it would pull in gevent)."""
    spec = importlib.util.find_spec("harness.loadgen.locustfile")
    if spec is None or spec.origin is None:
        raise RuntimeError("harness.loadgen.locustfile is missing from the installation")
    return spec.origin


PYTHON = sys.executable


def default_workers(bot_cores: int = 1) -> int:
    """One Locust worker per core, minus what the bot needs; at least one."""
    return max(1, (os.cpu_count() or 1) - bot_cores)


def platform(
    run_dir: Path,
    ready: Path,
    scenario: Scenario,
    app_secret: str,
    host: str,
    config: Path | None = None,
    drain: bool = True,
    admin_token: str = "",
) -> Component:
    """The emulator with the run's app (APP_ID, `app_secret`), or with the apps of a platform TOML `config`.
    `drain`: on stop it waits up to the reply timeout for messages in flight, so that the ledger counts
    their fate (a run's accounting); without, it stops at once. `admin_token` guards its /admin/* routes."""
    apps = ["--config", str(config)] if config else ["--app", APP_ID]
    argv = [
        PYTHON,
        "-m",
        "harness",
        "platform",
        "--host",
        host,
        *apps,
        "--ready-file",
        str(ready),
        "--ledger-file",
        str(run_dir / "ledger.json"),
        "--refusals-file",
        str(run_dir / "refusals.jsonl"),
        "--reply-timeout",
        f"{scenario.load.reply_timeout_s:g}",
        "--drain",
        f"{scenario.load.reply_timeout_s if drain else 0:g}",
        "--routing",
        scenario.target.mode,
    ]
    return Component(
        "platform",
        argv,
        run_dir / "logs" / "platform.log",
        env={
            **({} if config else {"HARNESS_APP_SECRET": app_secret}),
            **({ADMIN_TOKEN_ENV: admin_token} if admin_token else {}),
        },
        ready_file=ready,
        stop_grace_s=scenario.load.reply_timeout_s + 10,
    )


def bot_env(
    platform_url: str, app_secret: str, admin_password: str, scenario: Scenario, app_id: str = APP_ID
) -> dict[str, str]:
    """The bot's environment: the emulator's URL for the Python SDK (DINGTALK_OPENAPI_ENDPOINT) and, for
    a bot on node, the preload that points the Node SDK there too (NODE_OPTIONS; other programs ignore it)."""
    node_options = scenario.target.env.get("NODE_OPTIONS", os.environ.get("NODE_OPTIONS", ""))
    return {
        **scenario.target.env,
        sdk.ENDPOINT_ENV: platform_url,
        "NODE_OPTIONS": sdk.node_options(node_options),
        "DINGTALK_CLIENT_ID": app_id,
        "DINGTALK_CLIENT_SECRET": app_secret,
        "BOT_ADMIN_PASSWORD": admin_password,
    }


def bot_name(replica: int) -> str:
    """The component name of a bot replica: "bot" for the first (so a one-replica run, its profiling
    windows, its Prometheus job and the report's bot figures read as before), then "bot-2", "bot-3"."""
    return "bot" if replica <= 1 else f"bot-{replica}"


def reference_bot(
    run_dir: Path,
    ready: Path,
    platform_url: str,
    env: dict[str, str],
    scenario: Scenario,
    host: str,
    app_id: str = APP_ID,
    settings: dict[str, Any] | None = None,
    replica: int = 1,
    admin_port: int = 0,
) -> Component:
    """`settings`: config fields by dotted name, each passed as `--set FIELD=<JSON value>` (default: the
    scenario's target.config). `replica`: which of the scenario's replicas (its name and log files);
    `admin_port`: 0 = ephemeral (a replica that is restarted keeps the port it was given)."""
    name = bot_name(replica)
    argv = [
        PYTHON,
        "-m",
        "harness",
        "bot",
        "--platform",
        platform_url,
        "--client-id",
        app_id,
        "--admin-host",
        host,
        "--ready-file",
        str(ready),
        "--log-file",
        str(run_dir / "logs" / f"{name}.log"),
        *(["--admin-port", str(admin_port)] if admin_port else []),
    ]
    for key, value in scenario.target.engine.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    for field, value in (scenario.target.bot_settings() if settings is None else settings).items():
        argv += ["--set", f"{field}={json.dumps(value)}"]
    return Component(name, argv, run_dir / "logs" / f"{name}.out.log", env=env, ready_file=ready, stop_grace_s=20)


def target_problem(scenario: Scenario) -> str | None:
    """Why `target.command` cannot be started, in one line naming the field; None when it can, as far as
    can be told before starting it: the program is found (on PATH, or as a path) and executable, and
    every script argument (`*.py`) exists."""
    if scenario.target.kind != "command":
        return None
    program, *args = scenario.target.command
    if os.sep in program:
        if not Path(program).is_file():
            return f"target.command: program {program!r} does not exist"
        if not os.access(program, os.X_OK):
            return f"target.command: program {program!r} is not executable"
    elif shutil.which(program, path=scenario.target.env.get("PATH", os.environ.get("PATH"))) is None:
        return f"target.command: program {program!r} not found on PATH"
    for arg in args:
        if arg.endswith(".py") and not arg.startswith("-") and " " not in arg and not Path(arg).is_file():
            return f"target.command: script {arg!r} does not exist (relative to {Path.cwd()})"
    return None


def command_bot(run_dir: Path, env: dict[str, str], scenario: Scenario, replica: int = 1) -> Component:
    name = bot_name(replica)
    return Component(name, scenario.target.command, run_dir / "logs" / f"{name}.log", env=env, stop_grace_s=20)


def locust_master(
    run_dir: Path, ready: Path, host: str, port: int, workers: int, platform_url: str, bot_admin_url: str
) -> Component:
    argv = [
        PYTHON,
        "-m",
        "locust",
        "-f",
        locustfile(),
        "--master",
        "--master-bind-host",
        host,
        "--master-bind-port",
        str(port),
        "--expect-workers",
        str(workers),
        "--headless",
        "--only-summary",
        "--csv",
        str(run_dir / "locust" / "stats"),
        "--exit-code-on-error",
        "0",
        "--stop-timeout",
        "5",
        "--harness-scenario",
        str(run_dir / "scenario.toml"),
        "--harness-run-dir",
        str(run_dir),
        "--harness-platform-url",
        platform_url,
        "--harness-bot-admin-url",
        bot_admin_url,
        "--harness-app-key",
        APP_ID,
        "--harness-ready-file",
        str(ready),
    ]
    # SIGINT: the harness locustfile turns it into the shape's drain (workers ship their last windows, the
    # master writes loadgen.json and its stats), bounded by FINAL_FLUSH_TIMEOUT_S; SIGTERM would quit at once
    return Component(
        "loadgen-master",
        argv,
        run_dir / "logs" / "loadgen-master.log",
        ready_file=ready,
        stop_grace_s=30,
        stop_signal=signal.SIGINT,
    )


# A worker machine finds the same locustfile in its own installation of the project (shell syntax).
REMOTE_LOCUSTFILE = (
    """$(python -c 'import importlib.util as u; print(u.find_spec("harness.loadgen.locustfile").origin)')"""
)


def remote_worker_command(host: str, port: int) -> str:
    return f'python -m locust -f "{REMOTE_LOCUSTFILE}" --worker --master-host {host} --master-port {port}'


def locust_worker(run_dir: Path, index: int, host: str, port: int) -> Component:
    argv = [
        PYTHON,
        "-m",
        "locust",
        "-f",
        locustfile(),
        "--worker",
        "--master-host",
        host,
        "--master-port",
        str(port),
        "--only-summary",
        # as the master: a failed request is a measurement (windows.jsonl), not a reason to exit non-zero,
        # which the orchestrator would read as the worker dying and abort an overloaded run at random
        "--exit-code-on-error",
        "0",
    ]
    return Component(f"loadgen-worker-{index}", argv, run_dir / "logs" / f"loadgen-worker-{index}.log", stop_grace_s=15)

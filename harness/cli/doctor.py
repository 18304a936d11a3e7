"""`harness doctor`: the source design's setup checklist against the emulator or a real platform."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from harness.core.contract import ExitCode

if TYPE_CHECKING:
    from harness.run.doctor.rig import DoctorOptions, Targets

HELP = "Check an app's setup (credentials, Stream mode, permissions, bot, IP whitelist, /test) on a platform"
SECRET_ENV = "DINGTALK_CLIENT_SECRET"
CLIENT_ID_ENV = "DINGTALK_CLIENT_ID"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        f"Against a real platform the app's secret comes from ${SECRET_ENV}, never a flag, and is never printed. "
        "Docs: docs/doctor.md. Exit codes: docs/cli.md."
    )
    parser.add_argument(
        "--platform",
        metavar="URL",
        default="",
        help="check the app on this platform (https://api.dingtalk.com, or a running emulator) instead of "
        f"an emulator doctor starts; the app is ${CLIENT_ID_ENV} / ${SECRET_ENV}",
    )
    parser.add_argument("--client-id", metavar="ID", help=f"with --platform: the app (default ${CLIENT_ID_ENV})")
    parser.add_argument(
        "--robot-code", metavar="CODE", help="with --platform: the robot's robotCode (default: the app)"
    )
    parser.add_argument(
        "--config",
        metavar="TOML",
        type=Path,
        help="without --platform: the started emulator's settings (docs/platform.md), e.g. a misconfigured "
        "app to rehearse; doctor checks its first app",
    )
    parser.add_argument(
        "--target",
        choices=("reference", "command", "none"),
        help="without --platform: the bot started to answer /test: the reference bot (default), your "
        "--bot-command, or none",
    )
    parser.add_argument(
        "--bot-command",
        metavar="CMD",
        help="the command that starts your bot (implies --target command); it gets "
        "DINGTALK_OPENAPI_ENDPOINT, DINGTALK_CLIENT_ID and DINGTALK_CLIENT_SECRET for the emulator",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="seconds the bot may take to start, and the /test reply to come (default 30)",
    )
    parser.add_argument("--json", action="store_true", help="print the checks as JSON instead of lines")


class UsageProblem(ValueError):
    pass


def _options(args: argparse.Namespace) -> DoctorOptions:
    """DoctorOptions from the flags; UsageProblem says which flags do not go together."""
    from harness.run.doctor.checks import Credentials
    from harness.run.doctor.rig import DoctorOptions

    if args.timeout <= 0:
        raise UsageProblem("--timeout must be > 0")
    if args.platform:
        given = {"--config": args.config, "--target": args.target, "--bot-command": args.bot_command}
        extra = [flag for flag, value in given.items() if value]
        if extra:
            raise UsageProblem(f"{', '.join(extra)}: only without --platform (doctor starts no bot against a platform)")
        client_id = args.client_id or os.environ.get(CLIENT_ID_ENV, "")
        secret = os.environ.get(SECRET_ENV, "")
        if not client_id or not secret:
            raise UsageProblem(f"--platform needs the app: --client-id (or ${CLIENT_ID_ENV}) and ${SECRET_ENV}")
        creds = Credentials(client_id, secret, args.robot_code or "")
        return DoctorOptions(platform_url=args.platform, credentials=creds, timeout_s=args.timeout)
    if args.client_id or args.robot_code:
        raise UsageProblem(
            "--client-id and --robot-code: only with --platform (the emulator's app comes from --config)"
        )
    target: Targets = args.target or ("command" if args.bot_command else "reference")
    if (target == "command") != bool(args.bot_command):
        raise UsageProblem("--target command and --bot-command go together")
    command = shlex.split(args.bot_command or "")
    return DoctorOptions(config=args.config, target=target, bot_command=command, timeout_s=args.timeout)


def run(args: argparse.Namespace) -> int:
    from harness.core.config import ConfigError
    from harness.run.doctor.checks import exit_code
    from harness.run.doctor.rig import DoctorError, run_checklist

    try:
        options = _options(args)
    except UsageProblem as exc:
        print(f"harness doctor: {exc}", file=sys.stderr)
        return int(ExitCode.USAGE)
    say = (lambda text: print(text, file=sys.stderr)) if args.json else print
    if options.credentials is not None:
        say(f"checking app {options.credentials.client_id} at {options.platform_url}")
    try:
        checks = run_checklist(options, say)
    except ConfigError as exc:
        print(f"harness doctor: {exc}", file=sys.stderr)
        return int(ExitCode.USAGE)
    except DoctorError as exc:
        print(f"harness doctor: {exc}", file=sys.stderr)
        return int(ExitCode.HARNESS_ERROR)
    if args.json:
        print(json.dumps([dataclasses.asdict(c) for c in checks], indent=2, ensure_ascii=False))
    else:
        for check in checks:
            print(check.line())
        counts = {s: sum(c.status == s for c in checks) for s in ("pass", "fail", "unknown")}
        print(f"{counts['pass']} passed, {counts['fail']} failed, {counts['unknown']} unknown")
    return exit_code(checks)

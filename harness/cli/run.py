"""`harness run [SCENARIO]`: play a scenario against a bot and leave a reported run folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.core.contract import DISK_MIN_FREE_MB, RUNS_DIR, ExitCode

HELP = "Play a scenario (default: the 7-day peak-hour week) against a bot and write the run folder"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "scenario",
        nargs="?",
        default="week",
        help="scenario TOML file, or the name of one in scenarios/ (default: week)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="local Locust workers (default: the scenario's, else one per core minus one for the bot)",
    )
    parser.add_argument("--runs-dir", default=RUNS_DIR, help=f"where run folders go (default: {RUNS_DIR}/)")
    parser.add_argument(
        "--min-free-mb",
        type=float,
        default=DISK_MIN_FREE_MB,
        metavar="MB",
        help=f"refuse to start with less free disk space than this where run folders go (default {DISK_MIN_FREE_MB}; "
        "0: no check)",
    )
    parser.add_argument("--prometheus", default="", help="Prometheus binary (default: the scenario's, else PATH)")
    parser.add_argument("--no-prometheus", action="store_true", help="run without Prometheus (alerts not evaluated)")
    parser.add_argument(
        "--listen",
        default="127.0.0.1",
        metavar="ADDR",
        help="address the emulator, bot admin API and Locust master bind to (default 127.0.0.1); "
        "an address of this machine that --remote-workers can reach",
    )
    parser.add_argument(
        "--remote-workers",
        type=int,
        default=0,
        metavar="N",
        help="also wait for N Locust workers started on other machines (docs/scaling.md)",
    )
    parser.add_argument(
        "--master-port",
        type=int,
        default=0,
        metavar="PORT",
        help="Locust master port (default: ephemeral, or 5557 with --remote-workers)",
    )
    parser.add_argument(
        "--progress-every", type=float, default=5.0, metavar="S", help="seconds between progress lines (default 5)"
    )
    parser.add_argument(
        "--hours",
        type=float,
        default=None,
        metavar="H",
        help="smoke / spike / soak: play for H hours (replaces [shape] duration_s; e.g. `harness run soak "
        "--hours 168` for a real-time week)",
    )
    parser.add_argument("--check", action="store_true", help="validate the scenario, print its plan and exit")
    parser.add_argument(
        "--schema", action="store_true", help="print the JSON Schema of scenario files (for editors) and exit"
    )
    parser.epilog = "Scenario files: docs/scenarios.md. Run folder: docs/run-folder.md. Exit codes: docs/cli.md."


def run(args: argparse.Namespace) -> int:
    from harness.core.runfolder import diskspace
    from harness.core.scenario.config import ScenarioError, json_schema_text, load_scenario
    from harness.loadgen.shapes import build_plan
    from harness.run.components import target_problem
    from harness.run.orchestrator import Run, RunOptions

    if args.schema:
        sys.stdout.write(json_schema_text())
        return int(ExitCode.OK)
    if args.workers < 0 or args.remote_workers < 0 or not args.min_free_mb >= 0:
        print("--workers, --remote-workers and --min-free-mb must be >= 0", file=sys.stderr)
        return int(ExitCode.USAGE)
    try:
        scenario = load_scenario(args.scenario, hours=args.hours)
        plan = build_plan(scenario)
    except ScenarioError as exc:
        print(f"bad scenario: {exc}", file=sys.stderr)
        return int(ExitCode.USAGE)
    problem = target_problem(scenario)
    if problem:
        print(f"bad scenario: {problem}", file=sys.stderr)
        return int(ExitCode.USAGE)
    if args.check:
        print(
            f"{scenario.name}: valid; {plan.duration_s:.0f} s wall ({plan.play_s:.0f} s played + "
            f"{scenario.load.drain_s:.0f} s drain), {len(plan.timemap.peaks)} peak windows"
        )
        return int(ExitCode.OK)
    no_room = diskspace.start_problem(Path(args.runs_dir), args.min_free_mb)
    if no_room:
        print(f"harness run: {no_room}", file=sys.stderr)
        return int(ExitCode.ABORTED)
    options = RunOptions(
        runs_dir=Path(args.runs_dir),
        workers=args.workers,
        prometheus=args.prometheus,
        no_prometheus=args.no_prometheus,
        progress_every_s=args.progress_every,
        listen=args.listen,
        remote_workers=args.remote_workers,
        master_port=args.master_port or (5557 if args.remote_workers else 0),
    )
    try:
        run = Run(scenario, options)
    except OSError as exc:  # the run folder cannot be made: the user's --runs-dir (or a full disk), not a harness bug
        if diskspace.is_disk_full(exc):
            print(f"harness run: disk full: {exc}", file=sys.stderr)
            return int(ExitCode.ABORTED)
        print(f"cannot create a run folder under {args.runs_dir}: {exc.strerror or exc}", file=sys.stderr)
        return int(ExitCode.USAGE)
    try:
        return run.execute()
    except OSError as exc:  # the run could not even be started for lack of disk space
        if not diskspace.is_disk_full(exc):
            raise
        print(f"harness run: disk full: {exc}", file=sys.stderr)
        return int(ExitCode.ABORTED)

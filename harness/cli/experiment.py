"""`harness experiment EXP.toml`: play a scenario for each arm, interleaved and repeated, and compare."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.core.contract import RUNS_DIR, ExitCode

HELP = "Play a scenario for each arm of an experiment (A B A B ...) and compare the arms with confidence intervals"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "experiment", help="experiment TOML file, or the name of a shipped one (scenarios/experiments/)"
    )
    parser.add_argument(
        "--repetitions", type=int, default=0, metavar="N", help="runs per arm (default: the experiment file's)"
    )
    parser.add_argument(
        "--runs-dir", default=RUNS_DIR, help=f"parent of experiments/<stamp>-<name>/ (default: {RUNS_DIR}/)"
    )
    parser.add_argument(
        "--workers", type=int, default=0, help="local Locust workers per run (default: as `harness run`)"
    )
    parser.add_argument("--prometheus", default="", help="Prometheus binary (default: the scenario's, else PATH)")
    parser.add_argument("--no-prometheus", action="store_true", help="run without Prometheus (alerts not evaluated)")
    parser.add_argument(
        "--progress-every", type=float, default=15.0, metavar="S", help="seconds between progress lines (default 15)"
    )
    parser.add_argument("--check", action="store_true", help="validate the experiment, print its plan and exit")
    parser.epilog = "Experiment files and the comparison: docs/experiments.md. Exit codes: docs/cli.md."


def run(args: argparse.Namespace) -> int:
    from harness.core.experiment import ExperimentError, load_experiment
    from harness.run.experiment import ExperimentOptions, ExperimentRun

    if args.repetitions < 0 or args.workers < 0:
        print("--repetitions and --workers must be >= 0", file=sys.stderr)
        return int(ExitCode.USAGE)
    try:
        experiment = load_experiment(args.experiment)
    except ExperimentError as exc:
        print(f"bad experiment: {exc}", file=sys.stderr)
        return int(ExitCode.USAGE)
    options = ExperimentOptions(
        runs_dir=Path(args.runs_dir),
        repetitions=args.repetitions,
        workers=args.workers,
        prometheus=args.prometheus,
        no_prometheus=args.no_prometheus,
        progress_every_s=args.progress_every,
    )
    runner = ExperimentRun(experiment, options)
    if args.check:
        arms = ", ".join(a.name for a in experiment.arms)
        print(
            f"{experiment.name}: valid; arms {arms} (control: {experiment.arms[0].name}); "
            f"{runner.repetitions} repetitions each; about {runner.planned_s() / 60:.0f} min"
        )
        return int(ExitCode.OK)
    return runner.execute()

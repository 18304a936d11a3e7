"""`harness experiment`: play every arm's scenario, interleaved and repeated (A B A B ...) so that a drift
of the machine (other work, heat, a filling disk) falls on every arm alike; keep only the healthy runs;
write one comparison report (harness.analysis.experiment) into the experiment's own folder:

    reports/experiments/<stamp>-<name>/experiment.{json,md,html}
    reports/experiments/<stamp>-<name>/runs/<stamp>-<name>-<arm>/      one run folder per run
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from harness.analysis.experiment import (
    ArmInfo,
    ArmRuns,
    ExperimentReport,
    RunRecord,
    compare_arms,
    now_text,
    run_health,
)
from harness.analysis.experiment_pages import write_pages
from harness.core import procs
from harness.core.contract import RUNS_DIR, ExitCode
from harness.core.experiment import Arm, Experiment
from harness.core.runfolder.writer import new_run_dir
from harness.core.scenario.schema import Scenario
from harness.loadgen.shapes import build_plan
from harness.run import redis
from harness.run.orchestrator import ANSWER_CACHE, Run, RunOptions
from harness.run.progress import emit

STARTUP_S = 15.0  # about what starting and stopping a run's processes adds to its planned time here


@dataclass
class ExperimentOptions:
    runs_dir: Path = Path(RUNS_DIR)
    repetitions: int = 0  # 0: the experiment file's
    workers: int = 0
    prometheus: str = ""
    no_prometheus: bool = False
    progress_every_s: float = 15.0
    out: TextIO = field(default_factory=lambda: sys.stdout)


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


class ExperimentRun:
    def __init__(self, experiment: Experiment, options: ExperimentOptions):
        self.experiment = experiment
        self.options = options
        self.repetitions = options.repetitions or experiment.file.repetitions
        self.records: list[RunRecord] = []
        self.interrupted = False

    def say(self, text: str) -> None:
        emit(self.options.out, text)

    def planned_s(self) -> float:
        """Wall seconds the runs should take, start-up included."""
        runs = sum(build_plan(s).duration_s + STARTUP_S for s in self.experiment.scenarios.values())
        return runs * self.repetitions

    def needs_redis(self) -> list[str]:
        """The arms that turn the reference bot's answer cache on."""
        return [a.name for a in self.experiment.arms if self._scenario(a).target.bot_settings().get(ANSWER_CACHE)]

    def _scenario(self, arm: Arm) -> Scenario:
        return self.experiment.scenarios[arm.name]

    def execute(self) -> int:
        exp = self.experiment
        missing_redis = self.needs_redis()
        if missing_redis and procs.find_binary("redis-server") is None:
            self.say(
                f"experiment {exp.name}: arm(s) {', '.join(missing_redis)} turn the answer cache on, and "
                f"redis-server is not installed: {redis.INSTALL_HINT}"
            )
            return int(ExitCode.HARNESS_ERROR)
        folder = new_run_dir(exp.name, self.options.runs_dir / "experiments", subfolders=("runs",))
        total = self.repetitions * len(exp.arms)
        self.say(f"experiment folder: {folder}")
        self.say(
            f"experiment {exp.name}: {len(exp.arms)} arms x {self.repetitions} repetitions = {total} runs, "
            f"about {self.planned_s() / 60:.0f} min; load average {load_average()}"
        )
        try:
            for repetition in range(1, self.repetitions + 1):
                for arm in exp.arms:
                    self._play(folder, arm, repetition, total)
                    if self.interrupted:
                        raise KeyboardInterrupt
        except KeyboardInterrupt:
            self.interrupted = True
            self.say(f"experiment interrupted after {len(self.records)} of {total} runs; comparing what there is")
        return self._compare(folder)

    def _play(self, folder: Path, arm: Arm, repetition: int, total: int) -> None:
        number = len(self.records) + 1
        self.say(f"--- run {number}/{total}: arm {arm.name!r}, repetition {repetition}")
        before, started = load_average(), time.monotonic()
        options = self.options
        run = Run(
            self._scenario(arm),
            RunOptions(
                runs_dir=folder / "runs",
                workers=options.workers,
                prometheus=options.prometheus,
                no_prometheus=options.no_prometheus,
                progress_every_s=options.progress_every_s,
                out=options.out,
            ),
        )
        code = run.execute()
        self.interrupted = run.interrupted
        verdict, reason = run_health(run.run_dir, code)
        if run.interrupted:
            reason = "interrupted (Ctrl-C)"
        self.records.append(
            RunRecord(
                arm=arm.name,
                repetition=repetition,
                dir=str(run.run_dir),
                exit_code=code,
                verdict=verdict,
                healthy=reason is None,
                discarded_because=reason,
                load_average_before=before,
                load_average_after=load_average(),
                wall_s=round(time.monotonic() - started, 1),
            )
        )
        if reason is not None:
            self.say(f"run {number} is DISCARDED, not counted: {reason}")

    def _compare(self, folder: Path) -> int:
        exp, spec = self.experiment, self.experiment.file
        infos = [ArmInfo(name=a.name, label=a.called, scenario=a.scenario, bot=a.bot) for a in exp.arms]
        arms = [
            ArmRuns(info, [Path(r.dir) for r in self.records if r.arm == info.name and r.healthy]) for info in infos
        ]
        slis, sentences, problems = compare_arms(arms, spec.confidence, spec.bootstrap_samples, spec.seed)
        if self.interrupted:
            problems.insert(0, f"interrupted after {len(self.records)} of {self.repetitions * len(exp.arms)} runs")
        report = ExperimentReport(
            generated_at=now_text(),
            name=exp.name,
            description=spec.description,
            claim=spec.claim,
            experiment_file=exp.source,
            scenario_file=next(iter(exp.scenarios.values())).source,
            repetitions=self.repetitions,
            confidence=spec.confidence,
            bootstrap_samples=spec.bootstrap_samples,
            seed=spec.seed,
            arms=infos,
            runs=self.records,
            slis=slis,
            sentences=sentences,
            problems=problems,
        )
        paths = write_pages(report, folder)
        self.say(f"experiment {exp.name}: {sum(r.healthy for r in self.records)} of {len(self.records)} runs counted")
        for line in [*sentences, *(f"incomplete: {p}" for p in problems)]:
            self.say(line)
        for path in paths.values():
            self.say(f"wrote {path}")
        return int(ExitCode.OK if report.complete else ExitCode.ABORTED)

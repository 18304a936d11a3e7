"""Bot replicas and process faults with real processes: a real emulator and two reference bots started
by the run's own code, then stop / cont / kill / restart applied as the fault schedule would."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import psutil
import pytest

from harness.core.faults import FaultStep
from harness.core.scenario.config import parse_scenario
from harness.run import components
from harness.run.orchestrator import Run, RunOptions
from harness.run.pollers import http_json
from tests.platform.helpers import User

pytestmark = pytest.mark.integration

DEADLINE_S = 30.0


def step(process: str, replica: int | str, entry: int = 0) -> FaultStep:
    return FaultStep(0.0, {}, f"faults[{entry}] {process}", (), entry, process, replica)


def wait_until(predicate, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@contextlib.contextmanager
def started(tmp_path: Path, data: dict, name: str) -> Iterator[Run]:
    """A run's emulator and bot replicas, started by the run's own code; everything stopped after."""
    scenario = parse_scenario(data, name)
    run = Run(scenario, RunOptions(runs_dir=tmp_path / "runs", out=io.StringIO()))
    try:
        platform = components.platform(
            run.run_dir,
            run.ready_dir / "platform.json",
            scenario,
            run.app_secret,
            "127.0.0.1",
            admin_token=run.admin_token,
        )
        run.platform_url = run._launch(platform, 60)["http"]
        run._start_bots()
        assert run.replicas is not None
        yield run
    finally:
        if run.replicas is not None:
            run.replicas.continue_all()
        for comp in reversed(run.components):
            comp.stop()
        shutil.rmtree(run.ready_dir, ignore_errors=True)


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Run]:
    with started(tmp_path, {"target": {"replicas": 2, "mode": "active-standby"}}, "replicas") as run:
        yield run


def test_replicas_get_their_own_names_logs_and_ports_and_the_first_serves(run: Run):
    assert run.replicas is not None
    names = [r.component.name for r in run.replicas.replicas]
    assert names == ["bot", "bot-2"]
    ports = [int(r.component.argv[r.component.argv.index("--admin-port") + 1]) for r in run.replicas.replicas]
    assert len(set(ports)) == 2
    assert (run.run_dir / "logs" / "bot.log").exists() and (run.run_dir / "logs" / "bot-2.log").exists()
    state = run.replicas.final_state()
    assert [(s["component"], s["serving"]) for s in state] == [("bot", True), ("bot-2", False)]
    assert all(s["connection"] for s in state)
    assert "--routing" in run.components[0].argv and "active-standby" in run.components[0].argv


def test_stop_cont_kill_and_restart_are_applied_and_recorded(run: Run):
    assert run.replicas is not None
    first, second = run.replicas.replicas
    stopped = run.replicas.apply(step("stop", "serving"))
    assert (stopped["replica"], stopped["serving"], stopped["pid"]) == (1, True, first.component.pid)
    assert stopped["incident"] == 1 and stopped["in_flight"] == 0
    assert psutil.Process(first.component.pid).status() == psutil.STATUS_STOPPED
    assert run.replicas.apply(step("stop", 1))["skipped"] == "already stopped"
    run.replicas.apply(step("cont", "", entry=0))  # an `until`: the replica its entry's `at` acted on
    wait_until(lambda: psutil.Process(first.component.pid).status() != psutil.STATUS_STOPPED, "SIGCONT")

    killed = run.replicas.apply(step("kill", 2, entry=1))
    assert killed["component"] == "bot-2" and killed["serving"] is False and killed["incident"] == 2
    assert second.component.exit_code() == -9 and not second.component.died()  # expected: no abort
    assert run.replicas.apply(step("kill", 2, entry=2))["skipped"] == "not running"
    restarted = run.replicas.apply(step("restart", "", entry=1))
    assert restarted["pid"] == killed["pid"] and restarted["new_pid"] == second.component.pid != killed["pid"]
    wait_until(lambda: run.replicas.final_state()[1]["connection"] is not None, "the restarted replica's connection")

    state = run.replicas.final_state()
    assert [(s["running"], s["serving"], len(s["pids"])) for s in state] == [(True, True, 1), (True, False, 2)]
    manifest = json.loads((run.run_dir / "manifest.json").read_text())
    assert [f["process"] for f in manifest["process_faults"]] == ["stop", "stop", "cont", "kill", "kill", "restart"]
    assert manifest["components"]["bot-2"]["pid"] == restarted["new_pid"]
    assert all("unix" in f and "sim" in f and "wall" in f for f in manifest["process_faults"])


def test_each_replica_knows_its_number(run: Run):
    assert run.replicas is not None
    assert [r.component.env[components.REPLICA_ENV] for r in run.replicas.replicas] == ["1", "2"]


def test_a_single_bot_restarted_mid_load_has_every_message_accounted_for(tmp_path: Path):
    """The chaos case 'bot restarted mid-run': SIGKILL + start of the only replica while a user sends.
    Messages sent while no bot is connected wait for the new connection; the unACKed ones of the dead
    connection are redelivered to it; with ACK-after-answer nothing is lost."""
    data = {
        "target": {
            "config": {"buffer": {"ack": "after_answer"}},
            "engine": {"first_token_seconds": 0.05, "tokens_per_second": 400, "reply_tokens": 10},
        },
        "load": {"reply_timeout_s": 20},
    }
    with started(tmp_path, data, "restart") as run:
        assert run.replicas is not None
        halfway = threading.Event()
        user = threading.Thread(target=lambda: asyncio.run(send(run.platform_url, 40, halfway)), daemon=True)
        user.start()
        assert halfway.wait(DEADLINE_S), "the user did not send"
        # from this thread: a child dies with the thread that started it (procs.start)
        restarted = run.replicas.apply(step("restart", 1))
        user.join(DEADLINE_S)
        assert not user.is_alive()
        ledger_url = run.platform_url + "/admin/ledger"
        wait_until(lambda: http_json(ledger_url, token=run.admin_token)["messages"]["pending"] == 0, "every fate")
        ledger = http_json(ledger_url, token=run.admin_token)
        assert ledger["messages"]["sent"] == 40 and ledger["messages"]["replied"] == 40, ledger["messages"]
        assert ledger["messages"]["lost"] == 0
        [incident] = ledger["incidents"]
        assert incident["id"] == restarted["incident"]
        for group in ("in_flight", "sent_during"):
            assert incident[group]["count"] == sum(incident[group]["fates"].values())
            assert incident[group]["fates"]["lost"] == incident[group]["fates"]["pending"] == 0
        assert restarted["new_pid"] != restarted["pid"]


async def send(url: str, messages: int, halfway: threading.Event) -> None:
    """A user sends `messages` at about 20 a second, saying when half of them are out."""
    async with aiohttp.ClientSession() as http:
        user = await User.connect(http, url)
        for i in range(messages):
            await user.send(f"question {i}", conversation=f"cid-{i % 8}")  # one sender's are answered in turn
            if i == messages // 2:
                halfway.set()
            await asyncio.sleep(0.05)
        await user.ws.close()

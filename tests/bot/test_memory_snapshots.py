"""Memory snapshots from a real reference-bot process (harness.core.memsnap through the harness's
ProfilingSchedule): the leak switch's function is the growing allocation site; a process that did not
opt in is never signalled."""

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.core import procs
from harness.core.contract import MEMORY_SNAPSHOT_ENV
from harness.core.readiness import wait_ready_file
from harness.run.profiler import ProfilingSchedule
from tests.bot.helpers import ADMIN_PASSWORD, JWT_KEY, SECRET, User
from tests.bot.test_cli import HARNESS, ROOT, child_env

pytestmark = pytest.mark.integration
LEAK_BYTES = 1024 * 1024
MESSAGES = 6


def _schedule(run: Path, warnings: list[str], filed: list[dict]) -> ProfilingSchedule:
    (run / "profiles").mkdir(parents=True, exist_ok=True)
    return ProfilingSchedule(
        [], run / "profiles", lambda _c: None, lambda _d: None, warnings.append, on_snapshot=filed.append
    )


def _snapshot(schedule: ProfilingSchedule, filed: list[dict], window: str, pid: int) -> dict:
    before = len(filed)
    schedule.request_snapshot(window, "bot", pid)
    deadline = time.monotonic() + 30
    while len(filed) == before and time.monotonic() < deadline:
        schedule.collect_snapshots()
        time.sleep(0.05)  # polling a file the bot writes, bounded by the deadline
    assert len(filed) == before + 1, "no snapshot filed"
    return json.loads((schedule.profiles_dir.parent / filed[-1]["file"]).read_text())


def test_snapshots_of_a_leaking_bot_name_the_leaking_function(tmp_path: Path) -> None:
    warnings: list[str] = []
    filed: list[dict] = []
    schedule = _schedule(tmp_path / "run", warnings, filed)
    platform_cmd = [*HARNESS, "platform", "--app", "app-mem", "--ready-file", str(tmp_path / "platform.ready")]
    with procs.child(
        platform_cmd, tmp_path / "platform.out", env=child_env(HARNESS_APP_SECRET=SECRET), cwd=ROOT
    ) as platform:
        platform_url = wait_ready_file(tmp_path / "platform.ready", platform, timeout=60)["http"]
        bot_cmd = [
            *HARNESS, "bot", "--client-id", "app-mem", "--ready-file", str(tmp_path / "bot.ready"),
            "--log-file", str(tmp_path / "bot.log"), "--first-token-seconds", "0", "--reply-tokens", "4",
            "--set", f"leak_demo.bytes_per_message={LEAK_BYTES}",
        ]  # fmt: skip
        env = child_env(
            DINGTALK_OPENAPI_ENDPOINT=platform_url,
            DINGTALK_CLIENT_SECRET=SECRET,
            BOT_JWT_SECRET=JWT_KEY,
            BOT_ADMIN_PASSWORD=ADMIN_PASSWORD,
            **schedule.snapshot_env_for("bot"),
        )
        with procs.child(bot_cmd, tmp_path / "bot.out", env=env, cwd=ROOT) as bot:
            wait_ready_file(tmp_path / "bot.ready", bot, timeout=60)
            first = _snapshot(schedule, filed, "first", bot.pid)

            async def converse() -> None:
                async with User.connect(platform_url) as user:
                    for i in range(MESSAGES):
                        await user.until(await user.send(f"question {i}"))

            asyncio.run(asyncio.wait_for(converse(), 60))
            last = _snapshot(schedule, filed, "last", bot.pid)
            assert bot.poll() is None  # the signal did not end it
    assert warnings == []
    assert [f["file"] for f in filed] == ["profiles/first/bot.memory.json", "profiles/last/bot.memory.json"]
    assert first["pid"] == last["pid"] and (first["seq"], last["seq"]) == (1, 2)
    before = {(s["file"], s["line"]): s["size"] for s in first["sites"]}
    grown = sorted(last["sites"], key=lambda s: before.get((s["file"], s["line"]), 0) - s["size"])
    top = grown[0]
    assert top["function"] == "LeakDemo.remember_for_leak_demo" and top["file"].endswith("reference_bot/leak_demo.py")
    assert top["size"] - before.get((top["file"], top["line"]), 0) >= MESSAGES * LEAK_BYTES
    assert not list((tmp_path / "run" / "memory" / "bot").glob("snapshot-*"))  # every snapshot filed


def test_a_process_that_did_not_opt_in_is_not_signalled(tmp_path: Path) -> None:
    warnings: list[str] = []
    schedule = _schedule(tmp_path / "run", warnings, [])
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as child:
        try:
            schedule.request_snapshot("w", "bot", child.pid)
            assert child.poll() is None and schedule.snapshots == []
            assert "did not opt in" in warnings[0] and MEMORY_SNAPSHOT_ENV in warnings[0]
        finally:
            child.kill()

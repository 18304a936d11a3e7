"""`harness bot` / `python -m reference_bot` as real processes: start-up errors, a full conversation
through a real `harness platform` process, JSON-lines log, clean SIGTERM shutdown, no secrets logged."""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from harness.core import procs
from harness.core.readiness import wait_ready_file
from tests.bot.helpers import ADMIN_PASSWORD, JWT_KEY, SECRET, User

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
HARNESS = [sys.executable, "-m", "harness"]
BOT = [sys.executable, "-m", "reference_bot"]


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DINGTALK_", "BOT_"))}
    env.update(PYTHONPATH=str(ROOT), **extra)
    return env


def test_bad_config_stops_start_up_naming_the_field(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"channels": {"enterprise_chat": {"stream_mode": "polling"}}}))
    done = subprocess.run(
        [*BOT, "--config", str(config), "--client-id", "a"],
        env=child_env(DINGTALK_CLIENT_SECRET="s"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert 'channels.enterprise_chat.stream_mode: must be "websocket", got "polling"' in done.stderr


def test_missing_secret_and_bad_flag_values_are_usage_errors():
    done = subprocess.run(
        [*HARNESS, "bot", "--client-id", "a", "--reply-tokens", "0"],
        env=child_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "engine.reply_tokens: must be between 1 and 1000000, got 0" in done.stderr
    done = subprocess.run(
        [*HARNESS, "bot", "--client-id", "a"], env=child_env(), cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "DINGTALK_CLIENT_SECRET" in done.stderr


def test_a_taken_admin_port_is_a_clear_start_up_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [*BOT, "--client-id", "a", "--admin-port", str(port), "--platform", "http://127.0.0.1:9"],
            env=child_env(DINGTALK_CLIENT_SECRET="s"),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2 and "cannot start" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.timeout(120)
def test_bot_process_answers_through_a_platform_process_and_stops_cleanly(tmp_path):
    secret_file = tmp_path / "client-secret"
    secret_file.write_text(SECRET + "\n")
    platform_cmd = [*HARNESS, "platform", "--app", "app-cli", "--ready-file", str(tmp_path / "platform.ready")]
    with procs.child(
        platform_cmd, tmp_path / "platform.out", env=child_env(HARNESS_APP_SECRET=SECRET), cwd=ROOT
    ) as platform:
        platform_url = wait_ready_file(tmp_path / "platform.ready", platform, timeout=60)["http"]
        bot_cmd = [
            *HARNESS,
            "bot",
            "--client-id",
            "app-cli",
            "--client-secret-file",
            str(secret_file),
            "--ready-file",
            str(tmp_path / "bot.ready"),
            "--log-file",
            str(tmp_path / "bot.log"),
            "--first-token-seconds",
            "0",
            "--reply-tokens",
            "8",
            "--set",
            "reconnect.jitter=0.1",
        ]
        env = child_env(
            DINGTALK_OPENAPI_ENDPOINT=platform_url, BOT_JWT_SECRET=JWT_KEY, BOT_ADMIN_PASSWORD=ADMIN_PASSWORD
        )
        with procs.child(bot_cmd, tmp_path / "bot.out", env=env, cwd=ROOT) as bot:
            admin_url = wait_ready_file(tmp_path / "bot.ready", bot, timeout=60)["http"]
            assert admin_url.startswith("http://127.0.0.1:")

            async def converse() -> list[dict]:
                async with User.connect(platform_url) as user:
                    first = await user.until(await user.send("/test"))
                    second = await user.until(await user.send("tell me something"))
                    return [first[-1], second[-1]]

            version, answer = asyncio.run(asyncio.wait_for(converse(), 60))
            assert "reference-bot version" in version["content"] and answer["via"] == "card"
            bot.send_signal(signal.SIGTERM)
            assert bot.wait(30) == 0
    log_text = (tmp_path / "bot.log").read_text()
    lines = [json.loads(line) for line in log_text.splitlines()]
    assert all({"ts", "level", "event"} <= set(line) for line in lines)
    events = [line["event"] for line in lines]
    for name in (
        "bot_started",
        "stream_connected",
        "message_received",
        "reply_sent",
        "shutdown_requested",
        "bot_stopped",
    ):
        assert name in events, name
    assert [line["seq"] for line in lines if line["event"] == "reply_sent"] == [1, 2]
    for secret in (SECRET, JWT_KEY, ADMIN_PASSWORD):
        assert secret not in log_text and secret not in (tmp_path / "bot.out").read_text()

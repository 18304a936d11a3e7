"""`harness doctor` end to end: the checklist against a platform URL, or against an emulator it starts on
127.0.0.1 with a bot to answer /test, started the way `harness run` starts its components."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from harness.core.config import ConfigError
from harness.core.contract import DEFAULT_HOST
from harness.core.readiness import NotReady
from harness.core.scenario.schema import Load, Messages, Scenario, Target
from harness.platform.config import load_toml
from harness.run import components
from harness.run.doctor.checks import Check, Credentials, check_platform, round_trip
from harness.run.processes import Component

PLATFORM_READY_TIMEOUT_S = 60.0
Targets = Literal["reference", "command", "none"]


class DoctorError(Exception):
    """The harness could not run the checklist (the emulator did not start)."""


@dataclass
class DoctorOptions:
    platform_url: str = ""  # "": start an emulator
    credentials: Credentials | None = None  # the app at platform_url (from the environment)
    config: Path | None = None  # the started emulator's settings: a platform TOML whose first app is checked
    target: Targets = "reference"  # the bot started against the emulator to answer /test
    bot_command: list[str] = field(default_factory=list)
    timeout_s: float = 30.0  # for the /test round trip, the bot's start included


def emulator_credentials(config: Path | None) -> tuple[Credentials, str]:
    """The app an emulator started by doctor serves, and its secret for the emulator (ConfigError if the
    TOML is bad or has no app)."""
    if config is None:
        secret = secrets.token_urlsafe(32)
        return Credentials(components.APP_ID, secret), secret
    settings, _ = load_toml(config)
    if not settings.apps:
        raise ConfigError(f"{config}: no [[apps]]: doctor checks the first app of the emulator's TOML")
    app = settings.apps[0]
    return Credentials(app.app_id, app.secret, app.robot_code), app.secret


def run_checklist(options: DoctorOptions, say: Callable[[str], None]) -> list[Check]:
    """Every checklist item, in the order of checks.ITEMS. Raises DoctorError, ConfigError."""
    if options.platform_url:
        assert options.credentials is not None
        return asyncio.run(_at_url(options.platform_url, options.credentials, options.timeout_s))
    return _with_emulator(options, say)


def _blocked(checks: list[Check]) -> str:
    """Why no /test can reach a bot, given the platform's checks; "" when it may."""
    status = {c.item: c.status for c in checks}
    if status["stream"] != "pass":
        return "needs a stream connection (see stream connection)"
    if status["bot_enabled"] == "fail":
        return "a disabled robot gets no messages (see bot enabled)"
    return ""


async def _at_url(url: str, creds: Credentials, timeout_s: float) -> list[Check]:
    checks = await check_platform(url, creds)
    blocked = _blocked(checks)
    smoke = Messages()
    last = (
        Check("test_round_trip", "unknown", blocked)
        if blocked
        else await round_trip(url, creds.client_id, smoke.smoke_text, smoke.smoke_expect, timeout_s)
    )
    return [*checks, last]


def _with_emulator(options: DoctorOptions, say: Callable[[str], None]) -> list[Check]:
    creds, secret = emulator_credentials(options.config)
    scenario = Scenario(
        target=Target(
            kind="command" if options.target == "command" else "reference",
            command=options.bot_command,
            ready_timeout_s=options.timeout_s,
        ),
        load=Load(reply_timeout_s=options.timeout_s),
    )
    work = Path(tempfile.mkdtemp(prefix="harness-doctor-"))
    keep = False
    emulator = components.platform(
        work, work / "platform.json", scenario, secret, DEFAULT_HOST, options.config, drain=False
    )
    emulator.start()
    try:
        try:
            url = emulator.wait_ready(PLATFORM_READY_TIMEOUT_S)["http"]
        except NotReady as exc:
            keep = True
            raise DoctorError(f"the emulator did not start: {exc}") from None
        say(f"emulator started by doctor at {url}, app {creds.client_id}")
        checks = asyncio.run(check_platform(url, creds))
        blocked = _blocked(checks)
        if options.target == "none":
            last = Check("test_round_trip", "unknown", "no bot started (--target none)")
        elif blocked:
            last = Check("test_round_trip", "unknown", blocked)
        else:
            say(f"starting the {'reference bot' if options.target == 'reference' else 'bot command'} to answer /test")
            last = _round_trip_with_bot(url, creds, scenario, work)
            if last.status == "fail":
                keep = True
                last = dataclasses.replace(last, fix=f"{last.fix} (logs kept in {work / 'logs'})")
        return [*checks, last]
    finally:
        emulator.stop()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def _round_trip_with_bot(url: str, creds: Credentials, scenario: Scenario, work: Path) -> Check:
    env = components.bot_env(url, creds.client_secret, secrets.token_urlsafe(16), scenario, app_id=creds.client_id)
    bot: Component
    if scenario.target.kind == "reference":
        bot = components.reference_bot(work, work / "bot.json", url, env, scenario, DEFAULT_HOST, creds.client_id)
    else:
        bot = components.command_bot(work, env, scenario)
    bot.start()
    try:
        if bot.ready_file is not None:
            try:
                bot.wait_ready(scenario.target.ready_timeout_s)
            except NotReady as exc:
                return Check("test_round_trip", "fail", f"the reference bot did not start: {exc}", "see its log")

        def gone() -> str:
            code = bot.exit_code()
            return "" if code is None else f"the bot exited with code {code} (log: {bot.log_path})"

        smoke = scenario.messages
        return asyncio.run(
            round_trip(
                url, creds.client_id, smoke.smoke_text, smoke.smoke_expect, scenario.target.ready_timeout_s, gone
            )
        )
    finally:
        bot.stop()

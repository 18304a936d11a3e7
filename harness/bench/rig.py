"""An emulator and reference bots as separate processes in one folder, for the benchmarks that attack
or shake them (adversarial, chaos): started ready, stopped bots first so the emulator drains and
writes its ledger last."""

from __future__ import annotations

import json
import os
import secrets
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core import procs
from harness.core.contract import ADMIN_TOKEN_ENV

# a cheap engine: the benches measure the platform side and resilience, not the answer
QUICK_ENGINE = ("--first-token-seconds", "0.01", "--tokens-per-second", "0", "--reply-tokens", "5")


@dataclass
class ProcessRig:
    folder: Path
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    admin_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    procs: list[Any] = field(default_factory=list)

    def start_platform(self, settings: str, apps: Sequence[str]) -> str:
        """`harness platform` with `settings` (lines of its [settings] table) serving `apps`; its URL."""
        toml = self.folder / "platform.toml"
        toml.write_text("[settings]\n" + settings)
        env = {**os.environ, "HARNESS_APP_SECRET": self.secret, ADMIN_TOKEN_ENV: self.admin_token}
        platform, urls = procs.start_ready(
            [
                *(sys.executable, "-m", "harness", "platform", "--config", str(toml), "--drain", "30"),
                *(arg for app in apps for arg in ("--app", app)),
                *("--ready-file", str(self.folder / "platform.ready")),
                *("--ledger-file", str(self.folder / "ledger.json")),
            ],
            self.folder / "platform.ready",
            self.folder / "platform.log",
            env=env,
        )
        self.procs.append(platform)
        return str(urls["http"])

    def start_bot(self, name: str, app: str, platform_url: str, admin_password: str, extra: Sequence[str] = ()) -> str:
        """A reference bot named `name` (its files in the folder) on `app` through `platform_url`; its admin URL."""
        env = {
            **os.environ,
            "DINGTALK_CLIENT_SECRET": self.secret,
            "BOT_ADMIN_PASSWORD": admin_password,
            "BOT_JWT_SECRET": secrets.token_urlsafe(32),
        }
        bot, urls = procs.start_ready(
            [
                *(sys.executable, "-m", "harness", "bot", "--platform", platform_url, "--client-id", app),
                *("--ready-file", str(self.folder / f"{name}.ready"), "--log-file", str(self.folder / f"{name}.log")),
                *QUICK_ENGINE,
                *extra,
            ],
            self.folder / f"{name}.ready",
            self.folder / f"{name}.out.log",
            env=env,
        )
        self.procs.append(bot)
        return str(urls["http"])

    def stop(self) -> dict[str, Any]:
        """Stop the bots, then the emulator (which drains and writes its ledger); the final ledger."""
        for proc in reversed(self.procs):
            procs.stop(proc, grace=45)
        ledger = self.folder / "ledger.json"
        return json.loads(ledger.read_text()) if ledger.exists() else {}

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

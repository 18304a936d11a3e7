"""Emulator settings: apps with credentials and scopes, protocol timings, limits, and TOML loading.

Every bad value is reported with the name of the field it came from (harness.core.config), so a typo
in a platform TOML file fails fast with a message that says where to look.
"""

from __future__ import annotations

import hmac
import ipaddress
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from harness.core.config import ConfigError, ConfigModel, FieldProblem, PositiveSeconds, Seconds, load
from harness.core.contract import (
    ADMIN_TOKEN_ENV,
    DEFAULT_HOST,
    HEARTBEAT_SECONDS,
    PERMISSION_SCOPES,
    ROUTING_MODES,
    TICKET_TTL_SECONDS,
    TOKEN_TTL_SECONDS,
)
from harness.core.faults import QPS_MODES, Api, FaultsTable, Qps
from harness.platform.adminauth import MIN_TOKEN_LENGTH, is_loopback

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

Scope = Literal[PERMISSION_SCOPES]

__all__ = ["AppConfig", "ConfigError", "RobotWebhook", "Settings", "load_toml", "settings_from_mapping"]


class AppConfig(ConfigModel):
    """One robot application: its AppKey (clientId), AppSecret and the permission scopes granted, and
    how its setup in the developer console stands (each setting off reproduces a misconfiguration that
    `harness doctor` names; docs/platform.md "App settings")."""

    app_id: str = Field(min_length=1)  # clientId / appKey
    secret: str = Field(min_length=1, repr=False)  # clientSecret / appSecret
    # permission scopes granted; default: all three
    scopes: tuple[Scope, ...] = Field(PERMISSION_SCOPES, strict=False)
    robot_code: str = ""  # robotCode; default: app_id
    stream_mode: bool = True  # Stream mode is the robot's message receiving mode; false: connections/open refuses
    bot_enabled: bool = True  # the robot is enabled; false: robot send finds no robot, users' messages are refused
    # server egress IPs (or networks) allowed to call the open API; empty: any address
    ip_whitelist: tuple[str, ...] = Field((), strict=False)
    secret_reset: bool = False  # the secret was reset in the console: `secret`, the copy bots hold, is refused

    @field_validator("ip_whitelist")
    @classmethod
    def _networks(cls, entries: tuple[str, ...]) -> tuple[str, ...]:
        for entry in entries:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network (e.g. 203.0.113.7, 10.0.0.0/8)") from None
        return entries

    @property
    def code(self) -> str:
        return self.robot_code or self.app_id

    def accepts_secret(self, secret: str) -> bool:
        """Whether `secret` is this app's secret as the platform holds it now."""
        return not self.secret_reset and hmac.compare_digest(self.secret.encode(), secret.encode())

    def allows_ip(self, address: str | None) -> bool:
        """Whether the open API takes calls from `address` (the whitelist is empty, or lists it)."""
        if not self.ip_whitelist:
            return True
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        return any(ip in ipaddress.ip_network(entry, strict=False) for entry in self.ip_whitelist)


class RobotWebhook(ConfigModel):
    """A custom (group) robot reachable at /robot/send?access_token=..., signed with `secret`."""

    access_token: str = Field(min_length=1, repr=False)
    secret: str = Field(min_length=1, repr=False)
    conversation_id: str = ""  # whose members get what it posts


class Timings(ConfigModel):
    """The `[settings]` table: where to bind, protocol timings and limits."""

    host: str = DEFAULT_HOST
    port: int = Field(0, ge=0, le=65535)
    # the base URL clients are given (stream endpoint, sessionWebhook); default: the bound address
    public_url: str = ""
    ticket_ttl_s: Seconds = float(TICKET_TTL_SECONDS)
    token_ttl_s: Seconds = float(TOKEN_TTL_SECONDS)
    reply_timeout_s: Seconds = 60.0  # no final reply within this -> the message is lost
    ack_timeout_s: Seconds = 5.0  # no ACK within this -> redeliver (if redeliveries are left)
    redeliver_max: int = Field(3, ge=0, le=1000)  # redeliveries per message after the first push
    redeliver_delay_s: Seconds = 0.0  # extra wait before a redelivery after a timeout or a 500 ACK
    disconnect_grace_s: Seconds = 10.0  # SYSTEM disconnect -> close after this
    ping_interval_s: Seconds = HEARTBEAT_SECONDS  # the server's SYSTEM ping; 0 turns it off
    # close a connection after this many pings in a row got no ACK; 0 = never
    ping_miss_limit: int = Field(3, ge=0, le=1000)
    session_webhook_ttl_s: Seconds = 90 * 60.0
    # WS frames and HTTP bodies larger than this are refused
    max_payload_bytes: int = Field(64 * 1024, ge=256, le=1 << 30)
    qps_mode: Literal[QPS_MODES] = "429"  # "429" (Throttling) or "403" (DingTalk's QpsLimitForAppkeyAndApi)
    # how one app's pushes spread over its connections: any at random, or the oldest (docs/platform.md)
    routing: Literal[ROUTING_MODES] = "active-active"  # type: ignore[valid-type]
    lost_sample_size: int = Field(200, ge=0, le=100_000)
    # a final message's id and a finished card are remembered this long (at least the reply timeout):
    # late, duplicate and card updates within it are told apart, later ones are `forgotten_replies`
    final_memory_s: PositiveSeconds = 600.0
    signature_window_s: Seconds = 3600.0  # robot webhook timestamps accepted within this of now
    # TCP connections (harness/platform/sockets.py): at most this many open at once
    max_connections: int = Field(10_000, ge=1, le=1_000_000)
    # a connection is closed if its first request head is not complete this long after it was accepted
    header_timeout_s: PositiveSeconds = 10.0
    # a kept-alive HTTP connection with no request in progress is closed after this
    idle_timeout_s: PositiveSeconds = 60.0

    @field_validator("public_url")
    @classmethod
    def _http(cls, url: str) -> str:
        if url and not url.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https://, got {url!r}")
        return url


class Settings(Timings):
    """Everything the emulator is configured with: `[settings]` plus apps, robots and QPS limits."""

    apps: tuple[AppConfig, ...] = Field((), strict=False)
    robots: tuple[RobotWebhook, ...] = Field((), strict=False)
    qps_limits: dict[Api, Qps] = Field(default_factory=dict)  # calls per second per app and API
    # required by /admin/* as a bearer token; must be set when `host` is not a loopback address
    admin_token: str = Field("", repr=False)

    @model_validator(mode="after")
    def _apps_once(self) -> Settings:
        ids = [a.app_id for a in self.apps]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise FieldProblem("apps", f"app_id {twice[0]!r} is defined twice")
        return self

    @model_validator(mode="after")
    def _admin_token_off_loopback(self) -> Settings:
        if self.admin_token and len(self.admin_token) < MIN_TOKEN_LENGTH:
            raise FieldProblem("admin_token", f"must be at least {MIN_TOKEN_LENGTH} characters")
        if not self.admin_token and not is_loopback(self.host):
            raise FieldProblem(
                "admin_token",
                f"is required when the emulator listens on {self.host or 'every address'!r}, which is not a loopback "
                f"address (harness platform reads it from {ADMIN_TOKEN_ENV})",
            )
        return self

    def app(self, app_id: str) -> AppConfig | None:
        return next((a for a in self.apps if a.app_id == app_id), None)

    def with_changes(self, **changes: Any) -> Settings:
        """A validated copy with `changes` (ConfigError names a bad field)."""
        return load(Settings, {**dict(self), **changes})


class PlatformFile(ConfigModel):
    """A platform TOML file (docs/platform.md "TOML file")."""

    settings: Timings = Timings()
    apps: list[AppConfig] = Field(default_factory=list)  # one per robot application
    robots: list[RobotWebhook] = Field(default_factory=list)  # custom group robots (webhook + signing secret)
    qps_limits: dict[Api, Qps] = Field(default_factory=dict)  # calls per second per app, per API label
    # fault switches at start and their schedule (same keys as POST /admin/faults)
    faults: FaultsTable = FaultsTable()


def settings_from_mapping(data: Any, base: Settings | None = None) -> Settings:
    """Settings from a parsed TOML document ([settings], [[apps]], [[robots]], [qps_limits]) over `base`."""
    file = load(PlatformFile, data)
    changes = file.settings.model_dump(include=file.settings.model_fields_set)
    changes.update({k: getattr(file, k) for k in ("apps", "robots", "qps_limits") if k in file.model_fields_set})
    return (base or Settings()).with_changes(**changes)


def load_toml(path: str | Path, base: Settings | None = None) -> tuple[Settings, dict[str, Any]]:
    """Read a TOML file; return the settings and its [faults] table (checked; the server applies it)."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        settings = settings_from_mapping(data, base)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return settings, dict(data.get("faults", {}))

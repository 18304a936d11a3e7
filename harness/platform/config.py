"""Emulator settings: apps with credentials and scopes, protocol timings, limits, and TOML loading.

Every bad value is reported with the name of the field it came from, so a typo in a scenario's
platform section fails fast with a message that says where to look.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from harness.core.contract import (
    APIS,
    DEFAULT_HOST,
    HEARTBEAT_SECONDS,
    PERMISSION_SCOPES,
    TICKET_TTL_SECONDS,
    TOKEN_TTL_SECONDS,
)
from harness.core.faults import QPS_MODES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


class ConfigError(ValueError):
    """A setting is missing or has a bad value; the message names the field."""


@dataclass(frozen=True)
class AppConfig:
    """One robot application: its AppKey (clientId), AppSecret and the permission scopes granted."""

    app_id: str
    secret: str = field(repr=False)
    scopes: tuple[str, ...] = PERMISSION_SCOPES
    robot_code: str = ""

    @property
    def code(self) -> str:
        return self.robot_code or self.app_id


@dataclass(frozen=True)
class RobotWebhook:
    """A custom (group) robot reachable at /robot/send?access_token=..., signed with `secret`."""

    access_token: str = field(repr=False)
    secret: str = field(repr=False)
    conversation_id: str = ""


@dataclass(frozen=True)
class Settings:
    host: str = DEFAULT_HOST
    port: int = 0
    public_url: str = ""  # the base URL clients are given (stream endpoint, sessionWebhook); default: bound address
    apps: tuple[AppConfig, ...] = ()
    robots: tuple[RobotWebhook, ...] = ()
    ticket_ttl_s: float = float(TICKET_TTL_SECONDS)
    token_ttl_s: float = float(TOKEN_TTL_SECONDS)
    reply_timeout_s: float = 60.0  # no final reply within this -> the message is lost
    ack_timeout_s: float = 5.0  # no ACK within this -> redeliver (if redeliveries are left)
    redeliver_max: int = 3  # redeliveries per message after the first push
    redeliver_delay_s: float = 0.0  # extra wait before a redelivery after a timeout or a 500 ACK
    disconnect_grace_s: float = 10.0  # SYSTEM disconnect -> close after this
    ping_interval_s: float = HEARTBEAT_SECONDS  # the server's SYSTEM ping; 0 turns it off
    ping_miss_limit: int = 3  # close a connection after this many pings in a row got no ACK; 0 = never
    session_webhook_ttl_s: float = 90 * 60.0
    max_payload_bytes: int = 64 * 1024  # WS frames and HTTP bodies larger than this are refused
    qps_limits: tuple[tuple[str, float], ...] = ()  # (api, calls per second per app)
    qps_mode: str = "429"  # "429" (Throttling) or "403" (DingTalk's QpsLimitForAppkeyAndApi)
    lost_sample_size: int = 200
    signature_window_s: float = 3600.0  # robot webhook timestamps accepted within this of now

    def app(self, app_id: str) -> AppConfig | None:
        return next((a for a in self.apps if a.app_id == app_id), None)

    def with_changes(self, **changes: Any) -> Settings:
        return validated(replace(self, **changes))


def validated(settings: Settings) -> Settings:
    """Check cross-field rules and value ranges; return the settings unchanged when good."""
    for f in fields(settings):
        value = getattr(settings, f.name)
        if f.name.endswith("_s") and (not isinstance(value, (int, float)) or value < 0):
            raise ConfigError(f"{f.name}: must be a number >= 0, got {value!r}")
    if settings.ping_miss_limit < 0:
        raise ConfigError(f"ping_miss_limit: must be >= 0, got {settings.ping_miss_limit}")
    if settings.redeliver_max < 0:
        raise ConfigError(f"redeliver_max: must be >= 0, got {settings.redeliver_max}")
    if settings.max_payload_bytes < 256:
        raise ConfigError(f"max_payload_bytes: must be >= 256, got {settings.max_payload_bytes}")
    if settings.public_url and not settings.public_url.startswith(("http://", "https://")):
        raise ConfigError(f"public_url: must start with http:// or https://, got {settings.public_url!r}")
    if settings.qps_mode not in QPS_MODES:
        raise ConfigError(f"qps_mode: must be one of {', '.join(QPS_MODES)}, got {settings.qps_mode!r}")
    for api, qps in settings.qps_limits:
        if api not in APIS:
            raise ConfigError(f"qps_limits.{api}: unknown api; known: {', '.join(APIS)}")
        if qps <= 0:
            raise ConfigError(f"qps_limits.{api}: must be > 0 calls per second, got {qps}")
    seen: set[str] = set()
    for app in settings.apps:
        if not app.app_id or not app.secret:
            raise ConfigError(f"apps.{app.app_id or '?'}: app_id and secret are both required")
        if app.app_id in seen:
            raise ConfigError(f"apps.{app.app_id}: defined twice")
        seen.add(app.app_id)
    return settings


_SCALARS = {f.name: f for f in fields(Settings) if f.name not in ("apps", "robots", "qps_limits")}


def settings_from_mapping(data: dict[str, Any], base: Settings | None = None, where: str = "") -> Settings:
    """Build settings from a parsed TOML document ([settings], [[apps]], [[robots]], [qps_limits])."""
    base = base or Settings()
    changes: dict[str, Any] = {}
    known_top = {"settings", "apps", "robots", "qps_limits", "faults"}
    for key in data:
        if key not in known_top:
            raise ConfigError(f"{where}{key}: unknown section; known: {', '.join(sorted(known_top))}")
    for key, value in data.get("settings", {}).items():
        if key not in _SCALARS:
            raise ConfigError(f"{where}settings.{key}: unknown setting; known: {', '.join(sorted(_SCALARS))}")
        kind = type(getattr(base, key))
        changes[key] = _typed(f"{where}settings.{key}", value, kind)
    if "apps" in data:
        changes["apps"] = tuple(_app(f"{where}apps[{i}]", raw) for i, raw in enumerate(data["apps"]))
    if "robots" in data:
        changes["robots"] = tuple(_robot(f"{where}robots[{i}]", raw) for i, raw in enumerate(data["robots"]))
    if "qps_limits" in data:
        limits = data["qps_limits"]
        if not isinstance(limits, dict):
            raise ConfigError(f"{where}qps_limits: must be a table of api = calls per second")
        changes["qps_limits"] = tuple(
            (api, _typed(f"{where}qps_limits.{api}", qps, float)) for api, qps in limits.items()
        )
    try:
        return validated(replace(base, **changes))
    except ConfigError as exc:
        raise ConfigError(f"{where}{exc}") from None


def load_toml(path: str | Path, base: Settings | None = None) -> tuple[Settings, dict[str, Any]]:
    """Read a TOML file; return the settings and the raw [faults] table (applied by the fault switchboard)."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    faults = data.get("faults", {})
    if not isinstance(faults, dict):
        raise ConfigError(f"{path}: faults must be a table")
    return settings_from_mapping(data, base, where=f"{path}: "), faults


def _typed(name: str, value: Any, kind: type) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ConfigError(f"{name}: expected {kind.__name__}, got {value!r}")
    return value


def _app(where: str, raw: Any) -> AppConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a table with app_id, secret, scopes")
    unknown = set(raw) - {"app_id", "secret", "scopes", "robot_code"}
    if unknown:
        raise ConfigError(f"{where}.{sorted(unknown)[0]}: unknown key; known: app_id, secret, scopes, robot_code")
    app_id = _typed(f"{where}.app_id", raw.get("app_id"), str)
    secret = _typed(f"{where}.secret", raw.get("secret"), str)
    scopes = raw.get("scopes", list(PERMISSION_SCOPES))
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise ConfigError(f"{where}.scopes: must be a list of scope names such as {PERMISSION_SCOPES[0]!r}")
    robot_code = _typed(f"{where}.robot_code", raw.get("robot_code", ""), str)
    return AppConfig(app_id, secret, tuple(scopes), robot_code)


def _robot(where: str, raw: Any) -> RobotWebhook:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a table with access_token, secret, conversation_id")
    return RobotWebhook(
        _typed(f"{where}.access_token", raw.get("access_token"), str),
        _typed(f"{where}.secret", raw.get("secret"), str),
        _typed(f"{where}.conversation_id", raw.get("conversation_id", ""), str),
    )

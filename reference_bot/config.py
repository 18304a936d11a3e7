"""config.json: the source design's schema plus the bot's own sections, validated at start-up.

Every field has the source design's default, so no file is needed. A bad value stops start-up with
`<dotted.field>: expected <what>, got <value>`; all problems are reported at once. Secrets never live
in the JSON: they come from the environment or a file (see `Secrets`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core.contract import (
    DEFAULT_HOST,
    HEARTBEAT_SECONDS,
    QUEUE_CAPACITY,
    RECONNECT_BACKOFF_CAP_SECONDS,
    RETRY_BACKOFF_FACTOR,
    RETRY_MAX_ATTEMPTS,
    TOKEN_TTL_SECONDS,
)

DEFAULT_ENDPOINT = "https://api.dingtalk.com"
SECRET_WORDS = ("secret", "password", "apikey", "api_key", "token")


class ConfigError(ValueError):
    """A configuration problem; the message names the field and the expected value."""


def _f(default: Any, *, choices: tuple[Any, ...] = (), ge: float | None = None, le: float | None = None) -> Any:
    """A config field with its default and constraints (kept in the dataclass field's metadata)."""
    meta = {"choices": choices, "ge": ge, "le": le}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = _f(RETRY_MAX_ATTEMPTS, ge=1, le=10)
    backoff_factor: float = _f(RETRY_BACKOFF_FACTOR, ge=1.0, le=10.0)
    initial_delay_seconds: float = _f(0.2, ge=0.0, le=60.0)
    jitter: float = _f(0.2, ge=0.0, le=1.0)


@dataclass(frozen=True)
class EnterpriseChat:
    enabled: bool = _f(True)
    stream_mode: str = _f("websocket", choices=("websocket",))
    auth_type: str = _f("HMAC-SHA256", choices=("HMAC-SHA256",))
    retry_policy: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass(frozen=True)
class Channels:
    enterprise_chat: EnterpriseChat = field(default_factory=EnterpriseChat)


@dataclass(frozen=True)
class NlpEngine:
    model_path: str = _f("simulated")
    temperature: float = _f(0.7, ge=0.0, le=2.0)
    max_tokens: int = _f(512, ge=1, le=32768)


@dataclass(frozen=True)
class Platform:
    endpoint: str = _f(DEFAULT_ENDPOINT)
    client_id: str = _f("")
    request_timeout_seconds: float = _f(10.0, ge=0.1, le=300.0)


@dataclass(frozen=True)
class Heartbeat:
    interval_seconds: float = _f(HEARTBEAT_SECONDS, ge=0.1, le=600.0)


@dataclass(frozen=True)
class EventLoopLag:
    interval_seconds: float = _f(0.25, ge=0.01, le=60.0)


@dataclass(frozen=True)
class Reconnect:
    initial_delay_seconds: float = _f(1.0, ge=0.0, le=RECONNECT_BACKOFF_CAP_SECONDS)
    factor: float = _f(2.0, ge=1.0, le=10.0)
    max_delay_seconds: float = _f(RECONNECT_BACKOFF_CAP_SECONDS, ge=0.0, le=RECONNECT_BACKOFF_CAP_SECONDS)
    jitter: float = _f(0.2, ge=0.0, le=1.0)
    stable_after_seconds: float = _f(60.0, ge=0.0)
    disconnect_grace_seconds: float = _f(10.0, ge=0.0, le=60.0)


@dataclass(frozen=True)
class Buffer:
    capacity: int = _f(QUEUE_CAPACITY, ge=1, le=1_000_000)
    workers: int = _f(200, ge=1, le=10_000)
    dedup_capacity: int = _f(100_000, ge=1, le=10_000_000)
    dedup_ttl_seconds: float = _f(600.0, ge=1.0)
    max_text_chars: int = _f(4000, ge=1)
    # A message still queued this long after it arrived is not answered normally: the user has given
    # up on it and answering would only delay the messages behind it. 0 = no deadline.
    deadline_seconds: float = _f(60.0, ge=0.0, le=86_400.0)
    on_deadline: str = _f("apologize", choices=("apologize", "drop"))


@dataclass(frozen=True)
class Engine:
    kind: str = _f("simulated", choices=("simulated", "openai"))
    first_token_seconds: float = _f(0.3, ge=0.0, le=600.0)
    tokens_per_second: float = _f(40.0, ge=0.0)  # 0 = no pacing
    reply_tokens: int = _f(60, ge=1)
    cpu_ms_per_token: float = _f(0.1, ge=0.0, le=1000.0)
    chunk_tokens: int = _f(10, ge=1)
    plain_text_max_tokens: int = _f(0, ge=0)  # replies this short go as plain text via the sessionWebhook
    openai_base_url: str = _f("")
    openai_api_key_env: str = _f("OPENAI_API_KEY")


@dataclass(frozen=True)
class Admin:
    host: str = _f(DEFAULT_HOST)
    port: int = _f(0, ge=0, le=65535)
    username: str = _f("admin")
    token_ttl_seconds: int = _f(TOKEN_TTL_SECONDS, ge=1)
    audience: str = _f("reference-bot-admin")
    lockout_failures: int = _f(5, ge=1)
    lockout_window_seconds: float = _f(60.0, ge=1.0)
    lockout_seconds: float = _f(30.0, ge=0.0)


@dataclass(frozen=True)
class BotConfig:
    channels: Channels = field(default_factory=Channels)
    nlp_engine: NlpEngine = field(default_factory=NlpEngine)
    platform: Platform = field(default_factory=Platform)
    heartbeat: Heartbeat = field(default_factory=Heartbeat)
    event_loop_lag: EventLoopLag = field(default_factory=EventLoopLag)
    reconnect: Reconnect = field(default_factory=Reconnect)
    buffer: Buffer = field(default_factory=Buffer)
    engine: Engine = field(default_factory=Engine)
    admin: Admin = field(default_factory=Admin)


def _type_name(tp: type) -> str:
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}[tp]


def _check_scalar(value: Any, tp: type, meta: dict[str, Any], path: str) -> tuple[Any, str | None]:
    ok = (
        (tp is bool and isinstance(value, bool))
        or (tp is int and isinstance(value, int) and not isinstance(value, bool))
        or (tp is float and isinstance(value, (int, float)) and not isinstance(value, bool))
        or (tp is str and isinstance(value, str))
    )
    if not ok:
        return value, f"{path}: expected {_type_name(tp)}, got {json.dumps(value)}"
    if meta.get("choices") and value not in meta["choices"]:
        wanted = " or ".join(json.dumps(c) for c in meta["choices"])
        return value, f"{path}: expected {wanted}, got {json.dumps(value)}"
    ge, le = meta.get("ge"), meta.get("le")
    if (ge is not None and value < ge) or (le is not None and value > le):
        bounds = f">= {ge}" if le is None else f"between {ge} and {le}"
        return value, f"{path}: expected a number {bounds}, got {json.dumps(value)}"
    return (float(value) if tp is float else value), None


def _build(cls: type, data: Any, path: str, errors: list[str]) -> Any:
    if not isinstance(data, dict):
        errors.append(f"{path or 'config'}: expected an object, got {json.dumps(data)}")
        return cls()
    fields_by_name = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key in data:
        where = f"{path}.{key}" if path else key
        if key in fields_by_name:
            continue
        if any(word in key.lower().replace("-", "_") for word in SECRET_WORDS):
            errors.append(f"{where}: secrets do not belong in config.json; see docs/bot.md 'Secrets'")
        else:
            errors.append(f"{where}: unknown field; expected one of {', '.join(sorted(fields_by_name))}")
    values: dict[str, Any] = {}
    for name, fld in fields_by_name.items():
        if name not in data:
            continue
        where = f"{path}.{name}" if path else name
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            values[name] = _build(tp, data[name], where, errors)
        else:
            value, problem = _check_scalar(data[name], tp, dict(fld.metadata), where)
            if problem:
                errors.append(problem)
            else:
                values[name] = value
    return cls(**values)


def parse_config(data: Any, source: str = "config") -> BotConfig:
    errors: list[str] = []
    config = _build(BotConfig, data, "", errors)
    if errors:
        raise ConfigError(f"{source}: " + "; ".join(errors))
    return config


def set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Put a command-line override like engine.reply_tokens=5 into the raw config before validation."""
    *parents, leaf = dotted.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def load_config(path: str | os.PathLike[str] | None, overrides: dict[str, Any] | None = None) -> BotConfig:
    data: dict[str, Any] = {}
    source = "defaults"
    if path:
        source = str(path)
        try:
            data = json.loads(Path(path).read_text())
        except OSError as exc:
            raise ConfigError(f"{source}: cannot read ({exc.strerror})") from exc
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{source}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    for dotted, value in (overrides or {}).items():
        if value is not None:
            set_dotted(data, dotted, value)
    return parse_config(data, source)


@dataclass(frozen=True)
class Secrets:
    """Credentials from the environment or a file; repr() never shows them."""

    client_secret: str = field(default="", repr=False)
    jwt_key: str = field(default="", repr=False)
    admin_password: str = field(default="", repr=False)
    jwt_key_generated: bool = False

    @classmethod
    def load(cls, client_secret_file: str | None = None, env: dict[str, str] | None = None) -> Secrets:
        env = dict(os.environ) if env is None else env
        client_secret = env.get("DINGTALK_CLIENT_SECRET", "")
        if client_secret_file:
            try:
                client_secret = Path(client_secret_file).read_text().strip()
            except OSError as exc:
                raise ConfigError(f"--client-secret-file {client_secret_file}: cannot read ({exc.strerror})") from exc
        jwt_key = env.get("BOT_JWT_SECRET", "")
        return cls(
            client_secret=client_secret,
            # Without a configured key, tokens are signed with a per-process random key: they still
            # work, but only until the bot restarts.
            jwt_key=jwt_key or secrets.token_urlsafe(32),
            admin_password=env.get("BOT_ADMIN_PASSWORD", ""),
            jwt_key_generated=not jwt_key,
        )

"""config.json: the source design's schema plus the bot's own sections, validated at start-up.

Every field has the source design's default, so no file is needed. A bad value stops start-up with
`<dotted.field>: must be <what>, got <value>` (harness.core.config); all problems are reported at
once. Secrets never live in the JSON: a secret-looking key (harness.core.secrets) is refused, and
they come from the environment or a file (see `Secrets`).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from harness.core import config as core_config
from harness.core.contract import (
    DEFAULT_HOST,
    HEARTBEAT_SECONDS,
    QUEUE_CAPACITY,
    RECONNECT_BACKOFF_CAP_SECONDS,
    RETRY_BACKOFF_FACTOR,
    RETRY_MAX_ATTEMPTS,
    TOKEN_TTL_SECONDS,
)
from harness.core.secrets import is_secret_name

DEFAULT_ENDPOINT = "https://api.dingtalk.com"
REDIS_PASSWORD_ENV = "BOT_REDIS_PASSWORD"
MAX_S = core_config.MAX_SECONDS


class ConfigError(core_config.ConfigError):
    """A configuration problem; the message names the field and the expected value."""


class Section(core_config.ConfigModel):
    """A config.json object: unknown keys are refused, secret-looking ones with a pointer to Secrets."""

    @classmethod
    def unknown_field_problem(cls, name: str) -> str:
        if is_secret_name(name):
            return "secrets do not belong in config.json; see docs/bot.md 'Secrets'"
        return super().unknown_field_problem(name)


class RetryPolicy(Section):
    max_attempts: int = Field(RETRY_MAX_ATTEMPTS, ge=1, le=10)
    backoff_factor: float = Field(RETRY_BACKOFF_FACTOR, ge=1.0, le=10.0)
    initial_delay_seconds: float = Field(0.2, ge=0.0, le=60.0)
    jitter: float = Field(0.2, ge=0.0, le=1.0)


class EnterpriseChat(Section):
    enabled: bool = True
    stream_mode: Literal["websocket"] = "websocket"
    auth_type: Literal["HMAC-SHA256"] = "HMAC-SHA256"
    retry_policy: RetryPolicy = RetryPolicy()


class Channels(Section):
    enterprise_chat: EnterpriseChat = EnterpriseChat()


class NlpEngine(Section):
    model_path: str = "simulated"
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    max_tokens: int = Field(512, ge=1, le=32768)


class Platform(Section):
    endpoint: str = DEFAULT_ENDPOINT
    client_id: str = ""
    request_timeout_seconds: float = Field(10.0, ge=0.1, le=300.0)


class Heartbeat(Section):
    interval_seconds: float = Field(HEARTBEAT_SECONDS, ge=0.1, le=600.0)


class EventLoopLag(Section):
    interval_seconds: float = Field(0.25, ge=0.01, le=60.0)


class Reconnect(Section):
    initial_delay_seconds: float = Field(1.0, ge=0.0, le=RECONNECT_BACKOFF_CAP_SECONDS)
    factor: float = Field(2.0, ge=1.0, le=10.0)
    max_delay_seconds: float = Field(RECONNECT_BACKOFF_CAP_SECONDS, ge=0.0, le=RECONNECT_BACKOFF_CAP_SECONDS)
    jitter: float = Field(0.2, ge=0.0, le=1.0)
    stable_after_seconds: float = Field(60.0, ge=0.0, le=MAX_S)
    disconnect_grace_seconds: float = Field(10.0, ge=0.0, le=60.0)


class Buffer(Section):
    capacity: int = Field(QUEUE_CAPACITY, ge=1, le=1_000_000)
    workers: int = Field(200, ge=1, le=10_000)
    dedup_capacity: int = Field(100_000, ge=1, le=10_000_000)
    dedup_ttl_seconds: float = Field(600.0, ge=1.0, le=MAX_S)
    max_text_chars: int = Field(4000, ge=1, le=10_000_000)
    # A message still queued this long after it arrived is not answered normally: the user has given
    # up on it and answering would only delay the messages behind it. 0 = no deadline.
    deadline_seconds: float = Field(60.0, ge=0.0, le=86_400.0)
    on_deadline: Literal["apologize", "drop"] = "apologize"
    # When a robot message is ACKed: on_receipt (once queued) or after_answer (once answered, as the
    # DingTalk SDKs do: a process that dies holding it leaves it unACKed, so the platform redelivers it).
    ack: Literal["on_receipt", "after_answer"] = "on_receipt"


class Engine(Section):
    kind: Literal["simulated", "openai"] = "simulated"
    first_token_seconds: float = Field(0.3, ge=0.0, le=600.0)
    tokens_per_second: float = Field(40.0, ge=0.0, le=1e6)  # 0 = no pacing
    reply_tokens: int = Field(60, ge=1, le=1_000_000)
    cpu_ms_per_token: float = Field(0.1, ge=0.0, le=1000.0)
    chunk_tokens: int = Field(10, ge=1, le=1_000_000)
    plain_text_max_tokens: int = Field(0, ge=0, le=1_000_000)  # replies this short go as plain text
    openai_base_url: str = ""
    openai_api_key_env: str = "OPENAI_API_KEY"
    # Stands for a faster model (a quantised one, say): the simulated engine's time to first token and
    # CPU per token are divided by it and its token rate multiplied. 1 = as configured above.
    speed_factor: float = Field(1.0, ge=0.01, le=1000.0)

    @model_validator(mode="after")
    def _openai_needs_url(self) -> Engine:
        if self.kind == "openai" and not self.openai_base_url:
            raise core_config.FieldProblem(
                "openai_base_url", 'must be a URL such as "http://127.0.0.1:8000/v1" when engine.kind is "openai"'
            )
        return self


class AnswerCache(Section):
    """Answers to questions asked before, from Redis, instead of asking the engine again (off by default)."""

    enabled: bool = False
    url: str = "redis://127.0.0.1:6379/0"
    ttl_seconds: float = Field(3600.0, ge=1.0, le=MAX_S)
    max_entries: int = Field(10_000, ge=1, le=10_000_000)
    timeout_seconds: float = Field(0.2, ge=0.001, le=60.0)
    key_prefix: str = "reference-bot:answer:"

    @field_validator("url")
    @classmethod
    def _redis_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "unix"):
            raise ValueError(f'must be a redis:// or unix:// URL such as "redis://127.0.0.1:6379/0", got {url!r}')
        if parts.password:
            raise ValueError(f"secrets do not belong in config.json; put the password in env {REDIS_PASSWORD_ENV}")
        return url


class Logging(Section):
    # true: the event loop only puts each record on a queue; a listener thread formats and writes it
    queue: bool = False
    # true: each line is written and fsynced before the logging call returns, on the caller's thread (the
    # event loop unless `queue`): a log on a slow disk, for proving the harness's "waiting on I/O" finding
    fsync: bool = False
    # where the fsynced lines go: "" the log file itself (--log-file), else this file (besides the log file)
    fsync_path: str = ""


class Admin(Section):
    host: str = DEFAULT_HOST
    port: int = Field(0, ge=0, le=65535)
    username: str = "admin"
    token_ttl_seconds: int = Field(TOKEN_TTL_SECONDS, ge=1, le=int(MAX_S))
    audience: str = "reference-bot-admin"
    lockout_failures: int = Field(5, ge=1, le=1_000_000)
    lockout_window_seconds: float = Field(60.0, ge=1.0, le=MAX_S)
    lockout_seconds: float = Field(30.0, ge=0.0, le=MAX_S)


class LeakDemo(Section):
    # > 0: every handled message keeps this many bytes for good (reference_bot/leak_demo.py), to prove
    # the harness's leak detection; never in production
    bytes_per_message: int = Field(0, ge=0, le=100 * 1024 * 1024)


class BotConfig(Section):
    channels: Channels = Channels()
    nlp_engine: NlpEngine = NlpEngine()
    platform: Platform = Platform()
    heartbeat: Heartbeat = Heartbeat()
    event_loop_lag: EventLoopLag = EventLoopLag()
    reconnect: Reconnect = Reconnect()
    buffer: Buffer = Buffer()
    engine: Engine = Engine()
    answer_cache: AnswerCache = AnswerCache()
    logging: Logging = Logging()
    admin: Admin = Admin()
    leak_demo: LeakDemo = LeakDemo()


def parse_config(data: Any, source: str = "config") -> BotConfig:
    try:
        return core_config.load(BotConfig, data, ConfigError)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


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
            data = json.loads(Path(path).read_text())  # NaN / Infinity parse; validation refuses them
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
    redis_password: str = field(default="", repr=False)
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
            redis_password=env.get(REDIS_PASSWORD_ENV, ""),
            jwt_key_generated=not jwt_key,
        )

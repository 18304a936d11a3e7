"""Command line of the reference bot, shared by `harness bot` and `python -m reference_bot`."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from typing import Any

from harness.core import eventloop, memsnap
from harness.core.contract import BotEvent, ExitCode
from harness.core.readiness import write_ready_file
from reference_bot.auth import AuthError, check_signing_key
from reference_bot.config import ConfigError, Secrets, load_config
from reference_bot.logs import event, setup_logging

HELP = "Run the reference bot against a platform"

# flag -> config field; the flags exist so that scenario files can set the engine without a config file
KNOBS: dict[str, tuple[str, type, str]] = {
    "--engine": ("engine.kind", str, "simulated or openai"),
    "--first-token-seconds": ("engine.first_token_seconds", float, "simulated time to first token"),
    "--tokens-per-second": ("engine.tokens_per_second", float, "simulated generation speed (0: unpaced)"),
    "--reply-tokens": ("engine.reply_tokens", int, "simulated reply length in tokens"),
    "--cpu-ms-per-token": ("engine.cpu_ms_per_token", float, "CPU milliseconds burnt per simulated token"),
    "--chunk-tokens": ("engine.chunk_tokens", int, "tokens per card streaming update"),
    "--plain-text-max-tokens": ("engine.plain_text_max_tokens", int, "replies this short go as plain text"),
    "--speed-factor": ("engine.speed_factor", float, "engine speed-up standing for a faster (say quantised) model"),
    "--workers": ("buffer.workers", int, "worker tasks draining the inbound buffer"),
    "--buffer-capacity": ("buffer.capacity", int, "inbound buffer capacity"),
    "--heartbeat-seconds": ("heartbeat.interval_seconds", float, "WebSocket heartbeat interval"),
}


def _dotted_value(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected FIELD=VALUE such as engine.reply_tokens=20, got {text!r}")
    try:
        return key, json.loads(raw)
    except json.JSONDecodeError:
        return key, raw  # a bare string


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--platform",
        default=os.environ.get("DINGTALK_OPENAPI_ENDPOINT"),
        help="platform (emulator) base URL; default env DINGTALK_OPENAPI_ENDPOINT, then config",
    )
    parser.add_argument(
        "--client-id",
        default=os.environ.get("DINGTALK_CLIENT_ID"),
        help="app client id (AppKey); default env DINGTALK_CLIENT_ID, then config",
    )
    parser.add_argument("--client-secret-file", help="file holding the client secret (else env DINGTALK_CLIENT_SECRET)")
    parser.add_argument("--config", help="config.json (see reference_bot/config.example.json); default: built-in")
    parser.add_argument("--admin-host", help="admin API bind address (default 127.0.0.1)")
    parser.add_argument("--admin-port", type=int, help="admin API port (default 0: ephemeral)")
    parser.add_argument("--ready-file", help="write the admin URL here once serving (harness/readiness.py)")
    parser.add_argument("--log-file", help="JSON-lines log file (default: stderr)")
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    parser.add_argument("--drain-seconds", type=float, default=5.0, help="time to finish queued answers on shutdown")
    for flag, (field, kind, text) in KNOBS.items():
        parser.add_argument(flag, type=kind, help=f"{text} ({field})")
    parser.add_argument(
        "--set",
        dest="settings",
        action="append",
        type=_dotted_value,
        default=[],
        metavar="FIELD=VALUE",
        help="set any config field, e.g. --set reconnect.jitter=0 (repeatable)",
    )


def overrides_from(args: argparse.Namespace) -> dict[str, Any]:
    values: dict[str, Any] = {
        "platform.endpoint": args.platform,
        "platform.client_id": args.client_id,
        "admin.host": args.admin_host,
        "admin.port": args.admin_port,
    }
    for flag, (field, _, _) in KNOBS.items():
        values[field] = getattr(args, flag.lstrip("-").replace("-", "_"))
    values.update(dict(args.settings))
    return values


async def serve(config: Any, secrets: Secrets, ready_file: str | None, drain_seconds: float) -> int:
    from prometheus_client import disable_created_metrics

    from reference_bot.bot import ReferenceBot  # imported late: `--help` stays fast

    disable_created_metrics()  # the bot owns this process; *_created series only add noise
    bot = ReferenceBot(config, secrets)
    await bot.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    write_ready_file(ready_file, http=bot.admin_url)
    try:
        await stop.wait()
    finally:
        event(BotEvent.SHUTDOWN_REQUESTED)
        await bot.stop(drain_seconds)
    return ExitCode.OK


def run(args: argparse.Namespace) -> int:
    try:
        memsnap.install_from_env()  # first: tracing only sees what is allocated after it starts
        config = load_config(args.config, overrides_from(args))
        secrets = Secrets.load(args.client_secret_file)
        check_signing_key(secrets.jwt_key)
        output = setup_logging(
            args.log_file,
            getattr(logging, args.log_level.upper()),
            queued=config.logging.queue,
            fsync=config.logging.fsync,
            fsync_path=config.logging.fsync_path,
        )
        try:
            return eventloop.run(serve(config, secrets, args.ready_file, args.drain_seconds))
        finally:
            output.close()
    except (ConfigError, AuthError) as exc:
        print(f"reference bot: bad configuration: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    except OSError as exc:  # e.g. the admin port is taken, the log file cannot be opened
        print(f"reference bot: cannot start: {exc}", file=sys.stderr)
        return ExitCode.USAGE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reference_bot", description=HELP)
    add_arguments(parser)
    return run(parser.parse_args(argv))

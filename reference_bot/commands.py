"""Chat commands answered by the bot itself, without the engine."""

from __future__ import annotations

import time

from reference_bot import PROTOCOL, __version__

COMMANDS = {
    "/test": "version information: bot version, protocol, engine, uptime",
    "/help": "this list of commands",
}


def version_info(engine: str, started_at: float) -> dict[str, str | int]:
    return {
        "bot": "reference-bot",
        "version": __version__,
        "protocol": PROTOCOL,
        "engine": engine,
        "uptime_s": int(time.monotonic() - started_at),
    }


def answer_command(text: str, engine: str, started_at: float) -> tuple[str, bool] | None:
    """(reply, is_markdown) when text is a command, None when it is for the engine."""
    words = text.split()
    if not words or not words[0].startswith("/"):
        return None
    name = words[0].lower()
    if name == "/test":
        info = version_info(engine, started_at)
        return (
            f"{info['bot']} version {info['version']}; protocol {info['protocol']}; "
            f"engine {info['engine']}; uptime {info['uptime_s']} s",
            False,
        )
    if name == "/help":
        lines = [f"- `{cmd}`: {what}" for cmd, what in COMMANDS.items()]
        return "Commands:\n" + "\n".join(lines) + "\n\nAnything else is answered by the engine.", True
    return f"unknown command {name}; /help lists the commands", False

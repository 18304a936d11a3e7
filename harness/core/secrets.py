"""The one secret-masking policy: what counts as a secret and how it is hidden (docs/scenarios.md).

A name is secret-looking when one of its words (split at `_`, `-`, `.`, spaces and camelCase) is
PASS, PWD, KEY or AUTH, or when it contains SECRET, TOKEN, PASSWORD, PASSWD, CREDENTIAL, COOKIE,
SESSION, PRIVATE, APIKEY, AUTHORIZATION or OAUTH anywhere (case-insensitive). Values under such names are
written as `***` wherever the harness writes configuration down: the run folder's scenario.toml, the
report's manifest, and the reference bot refuses them in config.json.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"
WORDS = ("PASS", "PWD", "KEY", "AUTH")  # whole words only: "KEY" in MY_API_KEY, not in MONKEY
FRAGMENTS = (
    "SECRET",
    "TOKEN",
    "PASSWORD",
    "PASSWD",
    "CREDENTIAL",
    "COOKIE",
    "SESSION",
    "PRIVATE",
    "APIKEY",
    "AUTHORIZATION",
    "OAUTH",
)

_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")
_FRAGMENT = re.compile("|".join(FRAGMENTS), re.IGNORECASE)


def is_secret_name(name: str) -> bool:
    """True for names that look like they hold a secret (DB_PASS, SERVICE_CREDENTIALS, AUTH_HEADER, ...)."""
    if _FRAGMENT.search(name):
        return True
    return any(word.upper() in WORDS for word in _WORD_SPLIT.split(name) if word)


def mask_mapping(value: Any) -> Any:
    """A copy of nested tables with values under secret-looking keys masked, and secret-looking
    command-line arguments in strings masked too."""
    if isinstance(value, Mapping):
        return {k: MASK if is_secret_name(str(k)) else mask_mapping(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_mapping(v) for v in value]
    if isinstance(value, str):
        return mask_args(value)
    return value


def mask_args(text: str) -> str:
    """Command-line text with secret values masked: `--client-secret hunter2` and `token=hunter2`
    become `--client-secret ***` and `token=***`."""
    parts = re.split(r"(\s+)", text)
    words = mask_argv([p for p in parts if p and not p.isspace()])
    return "".join(p if not p or p.isspace() else words.pop(0) for p in parts)


def mask_argv(argv: Iterable[str]) -> list[str]:
    """An argv with the value after a secret-looking option, or after `name=`, masked."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        name, eq, _ = arg.partition("=")
        secret = is_secret_name(name)
        if hide_next:
            out.append(MASK)
        else:
            out.append(f"{name}={MASK}" if eq and secret else arg)
        hide_next = not hide_next and not eq and secret and arg.startswith("-")
    return out


def mask_env(env: Mapping[str, str], public: Iterable[str] = ()) -> dict[str, str]:
    """An environment as written down: every value masked unless its name is listed as public (and
    even then when the name looks secret)."""
    shown = set(public)
    return {k: v if k in shown and not is_secret_name(k) else MASK for k, v in env.items()}

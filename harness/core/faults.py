"""Fault switchboard: what the emulator breaks on purpose, switchable at run time and by a schedule.

`POST /admin/faults` merges a JSON object into the current faults; a TOML `[faults]` table does the
same at start, and `[[faults.schedule]]` entries (`at_s` seconds after start, `set` = a faults
object) are applied in order while the server runs. Unknown names and bad values are refused
with a message naming the field.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from harness.core.contract import APIS

FORCED_STATUSES = (401, 403, 429)
QPS_MODES = ("429", "403")  # how a QPS limit answers: 429, or DingTalk's 403 QpsLimit code
_RATIOS = ("push_drop_ratio", "push_delay_ratio", "ignore_acks_ratio", "grace_push_ratio")
_SECONDS = ("push_delay_s", "disconnect_every_s")


class FaultError(ValueError):
    pass


@dataclass
class Faults:
    push_drop_ratio: float = 0.0  # pushes silently not sent (the message then times out or is redelivered)
    push_delay_s: float = 0.0  # pushes held back this long ...
    push_delay_ratio: float = 1.0  # ... for this share of them
    ignore_acks_ratio: float = 0.0  # ACKs received but treated as never sent
    disconnect_every_s: float = 0.0  # disconnect storm: SYSTEM disconnect to every connection this often
    grace_push_ratio: float = 0.0  # pushes sent to a connection told to disconnect (the server "forgot")
    errors: dict[str, dict[str, float]] = field(default_factory=dict)  # api -> {"status", "ratio"}
    qps_limits: dict[str, float] = field(default_factory=dict)  # api -> calls/s per app; overrides settings
    token_ttl_s: float | None = None  # lifetime of new access tokens; overrides settings
    qps_mode: str | None = None  # how QPS limits answer ("429" or "403"); overrides settings
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def hit(self, ratio: float) -> bool:
        return ratio > 0 and (ratio >= 1 or self.rng.random() < ratio)

    def forced_error(self, api: str) -> int | None:
        """The HTTP status to force on this call of `api`, if a forced-error fault says so."""
        rule = self.errors.get(api)
        if rule and self.hit(rule["ratio"]):
            return int(rule["status"])
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "push_drop_ratio": self.push_drop_ratio,
            "push_delay_s": self.push_delay_s,
            "push_delay_ratio": self.push_delay_ratio,
            "ignore_acks_ratio": self.ignore_acks_ratio,
            "disconnect_every_s": self.disconnect_every_s,
            "grace_push_ratio": self.grace_push_ratio,
            "errors": {api: dict(rule) for api, rule in self.errors.items()},
            "qps_limits": dict(self.qps_limits),
            "token_ttl_s": self.token_ttl_s,
            "qps_mode": self.qps_mode,
        }

    def update(self, changes: Any, where: str = "faults") -> None:
        """Merge `changes` after checking all of it, so a bad request changes nothing."""
        if not isinstance(changes, dict):
            raise FaultError(f"{where}: must be a JSON object / TOML table")
        staged: dict[str, Any] = {}
        for key, value in changes.items():
            name = f"{where}.{key}"
            if key in _RATIOS:
                staged[key] = number(name, value, 0.0, 1.0)
            elif key in _SECONDS:
                staged[key] = number(name, value, 0.0, None)
            elif key == "token_ttl_s":
                staged[key] = None if value is None else number(name, value, 1.0, None)
            elif key == "qps_mode":
                staged[key] = _qps_mode(name, value)
            elif key == "errors":
                staged[key] = _errors(name, value)
            elif key == "qps_limits":
                staged[key] = _qps(name, value)
            elif key == "schedule":
                continue  # handled by FaultSchedule
            else:
                known = ", ".join(
                    sorted((*_RATIOS, *_SECONDS, "token_ttl_s", "errors", "qps_limits", "qps_mode", "schedule"))
                )
                raise FaultError(f"{name}: unknown fault; known: {known}")
        for key, value in staged.items():
            setattr(self, key, value)


def number(name: str, value: Any, low: float, high: float | None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FaultError(f"{name}: must be a number, got {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f"between {low:g} and {high:g}" if high is not None else f">= {low:g}"
        raise FaultError(f"{name}: must be {bounds}, got {value}")
    return float(value)


def _api(name: str, api: str) -> None:
    if api not in APIS:
        raise FaultError(f"{name}: unknown api {api!r}; known: {', '.join(APIS)}")


def _errors(name: str, value: Any) -> dict[str, dict[str, float]]:
    if not isinstance(value, dict):
        raise FaultError(f"{name}: must map an api to {{status, ratio}}")
    result = {}
    for api, rule in value.items():
        _api(f"{name}.{api}", api)
        if not isinstance(rule, dict) or set(rule) - {"status", "ratio"}:
            raise FaultError(f"{name}.{api}: must be {{status, ratio}}")
        status = rule.get("status")
        if status not in FORCED_STATUSES:
            raise FaultError(f"{name}.{api}.status: must be one of {FORCED_STATUSES}, got {status!r}")
        ratio = number(f"{name}.{api}.ratio", rule.get("ratio", 1.0), 0.0, 1.0)
        if ratio > 0:
            result[api] = {"status": status, "ratio": ratio}
    return result


def _qps_mode(name: str, value: Any) -> str | None:
    """None goes back to the emulator's `qps_mode` setting (how a scenario's `until` reverts it)."""
    if value is not None and value not in QPS_MODES:
        modes = ", ".join(f'"{m}"' for m in QPS_MODES)
        raise FaultError(f"{name}: must be one of {modes} (a string) or null for the setting, got {value!r}")
    return value


def _qps(name: str, value: Any) -> dict[str, float]:
    if not isinstance(value, dict):
        raise FaultError(f"{name}: must map an api to calls per second")
    result = {}
    for api, qps in value.items():
        _api(f"{name}.{api}", api)
        result[api] = number(f"{name}.{api}", qps, 0.001, None)
    return result

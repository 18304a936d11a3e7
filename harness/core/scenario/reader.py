"""Typed reads from a parsed TOML table with errors that name the offending field."""

from __future__ import annotations

from typing import Any


class ScenarioError(ValueError):
    """A scenario file is invalid; the message names the field (e.g. `shape.peak_users: ...`)."""


class Table:
    """One TOML table. Every key must be read once; `finish()` rejects the rest as unknown."""

    def __init__(self, data: Any, path: str):
        if not isinstance(data, dict):
            raise ScenarioError(f"{path or 'scenario'}: must be a table, got {type(data).__name__}")
        self.data = data
        self.path = path
        self.seen: set[str] = set()

    def field(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def fail(self, key: str, problem: str) -> ScenarioError:
        return ScenarioError(f"{self.field(key)}: {problem}")

    def raw(self, key: str, default: Any = None) -> Any:
        self.seen.add(key)
        return self.data.get(key, default)

    def number(
        self,
        key: str,
        default: float,
        minimum: float | None = None,
        maximum: float | None = None,
        above: float | None = None,
    ) -> float:
        value = self.raw(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(key, f"must be a number, got {value!r}")
        if minimum is not None and value < minimum:
            raise self.fail(key, f"must be >= {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise self.fail(key, f"must be <= {maximum}, got {value}")
        if above is not None and value <= above:
            raise self.fail(key, f"must be > {above}, got {value}")
        return float(value)

    def integer(self, key: str, default: int | None, minimum: int | None = None) -> int | None:
        value = self.raw(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"must be an integer, got {value!r}")
        if minimum is not None and value < minimum:
            raise self.fail(key, f"must be >= {minimum}, got {value}")
        return value

    def string(self, key: str, default: str | None, choices: tuple[str, ...] | None = None) -> str | None:
        value = self.raw(key, default)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(key, f"must be a string, got {value!r}")
        if choices is not None and value not in choices:
            raise self.fail(key, f"must be one of {', '.join(choices)}; got {value!r}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.raw(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, got {value!r}")
        return value

    def strings(self, key: str, default: list[str] | None) -> list[str] | None:
        value = self.raw(key, default)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, f"must be a list of strings, got {value!r}")
        return list(value)

    def table(self, key: str) -> Table:
        return Table(self.raw(key, {}), self.field(key))

    def tables(self, key: str) -> list[Table]:
        value = self.raw(key, [])
        if not isinstance(value, list):
            raise self.fail(key, "must be an array of tables ([[...]])")
        return [Table(item, f"{self.field(key)}[{i}]") for i, item in enumerate(value)]

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            raise ScenarioError(f"{self.field(unknown[0])}: unknown field (known: {', '.join(sorted(self.seen))})")

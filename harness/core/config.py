"""One way to read configuration: pydantic models and one-line errors that name the field.

Every configuration of the project (scenario files, the emulator's settings and faults, the reference
bot's config.json) is a tree of `ConfigModel`s: unknown fields are refused, types are strict (a
string is not a number, `true` is not 1), numbers are finite and ranged. `load()` validates and turns
pydantic's errors into the project's messages, one line naming the field path:

    shape.kind: must be one of "week", "smoke", "spike", "soak", got "ramp"
    faults.errors.card_streaming.ratio: must be between 0 and 1, got 1.5
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any, TypeVar, Union

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError, WithJsonSchema, WrapValidator
from pydantic.fields import FieldInfo

from harness.core import simclock

MAX_SECONDS = 30 * 86_400.0  # the longest duration any setting may hold: a month (a real-time week fits)

Seconds = Annotated[float, Field(ge=0, le=MAX_SECONDS)]
PositiveSeconds = Annotated[float, Field(gt=0, le=MAX_SECONDS)]
Ratio = Annotated[float, Field(ge=0, le=1)]

M = TypeVar("M", bound=BaseModel)


def _sim_text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f'must be a simulated time like "Wed 10:15", got {_show(value)}')
    simclock.parse_sim(value)  # its ValueError says what is wrong
    return value


def _sim_time(value: Any) -> str | float:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= MAX_SECONDS:
        return float(value)
    if isinstance(value, str):
        return _sim_text(value)
    raise ValueError(f'must be a simulated time like "Wed 10:15" or seconds since Monday 00:00, got {_show(value)}')


_SIM_TEXT_SCHEMA = {"type": "string", "examples": ["Wed 10:15", "Wed 10:15:30"]}
SimText = Annotated[str, PlainValidator(_sim_text), WithJsonSchema(_SIM_TEXT_SCHEMA)]
"""A point of the simulated week: "Wed 10:15" or "Wed 10:15:30"."""
SimTime = Annotated[
    str | float,
    PlainValidator(_sim_time),
    WithJsonSchema({"anyOf": [_SIM_TEXT_SCHEMA, {"type": "number", "minimum": 0, "maximum": MAX_SECONDS}]}),
]
"""A point on a simulated clock as written: "Wed 10:15" (kept as the text) or seconds since Monday 00:00."""


def sim_seconds(value: str | float) -> float:
    """A SimTime in seconds since Monday 00:00."""
    return simclock.parse_sim(value) if isinstance(value, str) else float(value)


class ConfigError(ValueError):
    """Bad configuration. The message is one line that names the field path and what is wrong."""


class FieldProblem(ValueError):
    """Raised by a model's cross-field check to blame one of its fields (not the whole table)."""

    def __init__(self, field: str | int | tuple[str | int, ...], problem: str) -> None:
        super().__init__(problem)
        self.field = field
        self.problem = problem


class ConfigModel(BaseModel):
    """Base of every configuration table: read-only, no unknown fields, strict finite values."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        allow_inf_nan=False,
        frozen=True,
    )

    @classmethod
    def unknown_field_problem(cls, name: str) -> str:
        """What an unknown key in this table is told (a table may say more, e.g. where secrets go)."""
        return f"unknown field (known: {', '.join(cls.model_fields)})"


def held_as(model: type[M], convert: Callable[[M], Any]) -> WrapValidator:
    """Annotate a field that keeps `convert(model)` (e.g. a plain dict) but is validated and documented
    in the JSON Schema as `model`; errors inside it keep their field path."""
    return WrapValidator(lambda value, _handler: convert(model.model_validate(value)), json_schema_input_type=model)


def load(model: type[M], data: Any, error: type[ConfigError] = ConfigError, where: str = "") -> M:
    """Validate `data` as `model`; on failure raise `error` with every problem, one line, paths
    prefixed with `where` (e.g. "faults")."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise error(describe(exc, model, where)) from None


def describe(exc: ValidationError, model: type[BaseModel], where: str = "") -> str:
    """pydantic's errors as `path: problem; path: problem` (the first problem of each path)."""
    seen: dict[str, str] = {}
    for err in exc.errors(include_url=False):
        loc, text = _problem(err, model)
        seen.setdefault(_path([where, *loc] if where else loc) or "top level", text)
    return "; ".join(f"{path}: {text}" for path, text in seen.items())


# --- how one pydantic error reads ------------------------------------------------------------------

_EXPECTED = {  # strict types: the input is never converted, so these are the type errors there are
    "float_type": "a number",
    "int_type": "an integer",
    "bool_type": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a table / object",
    "model_type": "a table / object",
    "finite_number": "a finite number",
}


def _problem(err: Any, model: type[BaseModel]) -> tuple[list[Any], str]:
    """(where in the data, what is wrong there) for one of pydantic's errors."""
    loc = list(err["loc"])
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    cause = ctx.get("error")
    if isinstance(cause, FieldProblem):
        field = cause.field if isinstance(cause.field, tuple) else (cause.field,)
        return [*loc, *field], cause.problem
    if kind == "extra_forbidden":
        owner = _model_at(model, loc[:-1])
        return loc, owner.unknown_field_problem(str(loc[-1])) if owner else "unknown field"
    if "[key]" in loc:  # a key of a table that maps names (apis, ...) to values
        known = ctx.get("expected", "").replace(" or ", ", ").replace("'", "")
        return loc[: loc.index("[key]")], f"unknown name; known: {known}"
    if kind == "missing":
        return loc, "is required"
    if kind in _EXPECTED:
        return loc, f"must be {_EXPECTED[kind]}, got {_show(value)}"
    if kind == "literal_error":
        return loc, f"must be {_choices(ctx.get('expected', ''))}, got {_show(value)}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return loc, f"must be {_range(model, loc, ctx)}, got {_show(value)}"
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return loc, "must not be empty"
    if kind in ("too_short", "too_long"):
        size = ctx.get("min_length") if kind == "too_short" else ctx.get("max_length")
        return loc, f"must have {'at least' if kind == 'too_short' else 'at most'} {size} item(s)"
    if kind in ("value_error", "assertion_error") and cause is not None:
        return loc, str(cause)
    text = str(err["msg"])
    return loc, f"{text[:1].lower()}{text[1:]}, got {_show(value)}"


def _path(loc: list[Any]) -> str:
    """("faults", 0, "set") -> "faults[0].set"."""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")


def _show(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _choices(expected: str) -> str:
    """pydantic's "'a', 'b' or 'c'" as `one of "a", "b", "c"` (JSON / TOML quotes)."""
    names = [n.strip().replace("'", '"') for n in expected.replace(" or ", ", ").split(",") if n.strip()]
    return names[0] if len(names) == 1 else f"one of {', '.join(names)}"


def _range(model: type[BaseModel], loc: list[Any], ctx: dict[str, Any]) -> str:
    """The field's whole range ("between 0 and 1"), not only the bound that was crossed."""
    bounds: dict[str, Any] = {}
    for item in _annotation_at(model, loc)[1]:
        for key in ("gt", "ge", "lt", "le"):
            if getattr(item, key, None) is not None:
                bounds[key] = getattr(item, key)
    bounds = bounds or dict(ctx)
    if "ge" in bounds and "le" in bounds:
        return f"between {_num(bounds['ge'])} and {_num(bounds['le'])}"
    signs = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}
    return " and ".join(f"{signs[k]} {_num(bounds[k])}" for k in signs if k in bounds)


def _num(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


# --- where a loc leads in the model ----------------------------------------------------------------


def _unwrap(tp: Any) -> tuple[Any, list[Any]]:
    """Strip Annotated and Optional. Returns (type, metadata), FieldInfos flattened into their bounds."""
    meta: list[Any] = []
    while True:
        if typing.get_origin(tp) is Annotated:
            tp, *extra = typing.get_args(tp)
            meta += extra
        elif typing.get_origin(tp) in (Union, types.UnionType):
            rest = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(rest) != 1:
                return tp, meta
            tp = rest[0]
        else:
            return tp, _flat(meta)


def _flat(meta: list[Any]) -> list[Any]:
    return [m for item in meta for m in (item.metadata if isinstance(item, FieldInfo) else [item])]


def _held(meta: list[Any]) -> type[BaseModel] | None:
    """The model a `held_as` field is validated as."""
    for item in meta:
        held = getattr(item, "json_schema_input_type", None)
        if isinstance(item, WrapValidator) and isinstance(held, type) and issubclass(held, BaseModel):
            return held
    return None


def _annotation_at(model: type[BaseModel], loc: list[Any]) -> tuple[Any, list[Any]]:
    """The type a loc of pydantic's errors leads to in `model`, with its constraints (Ge, Le, ...)."""
    tp: Any = model
    meta: list[Any] = []
    for part in loc:
        tp, extra = _unwrap(tp)
        tp = _held(meta + extra) or tp
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(part) if isinstance(part, str) else None
            if field is None:
                return None, []
            tp, meta = field.annotation, _flat(list(field.metadata))
            continue
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin in (list, tuple, set, frozenset) and args:
            tp, meta = args[0], []
        elif origin is dict and args:
            tp, meta = (args[0] if part == "[key]" else args[1]), []
        else:
            return None, []
    tp, extra = _unwrap(tp)
    meta += extra
    return _held(meta) or tp, meta


def _model_at(model: type[BaseModel], loc: list[Any]) -> type[ConfigModel] | None:
    tp = _annotation_at(model, loc)[0]
    return tp if isinstance(tp, type) and issubclass(tp, ConfigModel) else None

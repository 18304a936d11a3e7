"""Fuzzed frames for the chaos benchmark, the same ones on every run for the same seed.

hypothesis draws a corpus of structured frames around a template: raw text and bytes, arbitrary JSON,
the valid frame truncated, the valid frame with fields replaced by arbitrary JSON or dropped. Drawing
is slow (milliseconds a frame), so beyond the corpus each frame is a byte-level mutation of corpus
frames (a flipped byte, a cut, a splice of two, a repeated span) from random.Random(seed). One
template per socket: the bot's ACK (what the emulator's stream reads), the user's message (the
emulator's user socket) and the platform's CALLBACK (what the bot's stream client reads).

hypothesis is a development dependency (`pip install 'chatbot-harness[dev]'`); it is imported on use.
"""

from __future__ import annotations

import copy
import json
import math
import random
from typing import Any

BATCH = 20  # frames per hypothesis example: small enough never to overrun its choice budget
FUZZ_ID = "fuzz-"  # the messageId prefix of the frames fed to the bot (its ACKs to them are tallied)

ACK_TEMPLATE = {"code": 200, "headers": {"messageId": "fuzz", "contentType": "application/json"}, "message": "OK"}
USER_TEMPLATE = {"type": "message", "clientMsgId": "fuzz", "conversationId": "fuzz-conversation", "text": "hi"}
PUSH_TEMPLATE = {
    "specVersion": "1.0",
    "type": "CALLBACK",
    "headers": {
        "appId": "fuzz-app",
        "connectionId": "fuzz",
        "contentType": "application/json",
        "messageId": FUZZ_ID,
        "time": "0",
        "topic": "/v1.0/im/bot/messages/get",
    },
    "data": json.dumps({"msgId": "fuzz", "text": {"content": "hi"}, "conversationId": "fuzz"}),
}
USER_TYPES_WITH_LATER_ANSWERS = ("join", "leave", "card_action")  # kept out: answered by events, not at once


def _strategies() -> Any:
    try:
        from hypothesis import strategies as st
    except ImportError:  # pragma: no cover - the message is the point
        raise SystemExit(
            "the chaos benchmark draws its frames with hypothesis: pip install 'chatbot-harness[dev]'"
        ) from None
    return st


def frames(template: dict[str, Any]) -> Any:
    """A strategy of fuzzed frames (str or bytes) around `template`."""
    st = _strategies()
    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
    values = st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
        max_leaves=8,
    )
    text = json.dumps(template)

    def fields(template: dict[str, Any]) -> Any:
        nested = {k: fields(v) if isinstance(v, dict) else st.just(v) for k, v in template.items()}
        return st.fixed_dictionaries(
            {}, optional={k: st.one_of(strategy, values) for k, strategy in nested.items()}
        ) | st.dictionaries(st.text(max_size=10), values, max_size=4)

    return st.one_of(
        st.text(max_size=200),
        st.binary(max_size=200),
        values.map(json.dumps),
        st.integers(0, len(text) - 1).map(lambda cut: text[:cut]),
        fields(template).map(json.dumps),
    )


def fuzzed(template: dict[str, Any], count: int, seed: int, corpus_size: int) -> list[str | bytes]:
    """`count` fuzzed frames around `template`: a hypothesis corpus (distinct frames), then mutations:
    a third byte-level (of corpus frames), two thirds field-level (of the template and of the corpus
    frames that are JSON objects: one to three fields replaced by a value found in the corpus, or dropped)."""
    corpus = list(dict.fromkeys(draw(template, min(count, corpus_size), seed)))
    parsed = [p for p in map(_json, corpus) if p is not None]
    objects = [template] + [p for p in parsed if isinstance(p, dict)]
    values = [v for p in parsed for v in _parts(p)] or [None]
    values_by_type: dict[type, list[Any]] = {}
    for value in values:
        values_by_type.setdefault(type(value), []).append(value)
    rng = random.Random(seed)
    out: list[str | bytes] = list(corpus[:count])
    while len(out) < count:
        if rng.random() < 1 / 3:
            out.append(_mutate_bytes(rng, corpus))
        else:
            base = template if rng.random() < 0.5 else rng.choice(objects)
            out.append(json.dumps(_mutate_fields(rng, base, values, values_by_type)))
    return out


def _json(frame: str | bytes) -> Any:
    try:
        return json.loads(frame)
    except (ValueError, UnicodeDecodeError):
        return None


def _parts(value: Any) -> list[Any]:
    """A JSON value and every value nested in it."""
    inner = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return [value, *(part for item in inner for part in _parts(item))]


def _mutate_fields(
    rng: random.Random, obj: dict[str, Any], values: list[Any], values_by_type: dict[type, list[Any]]
) -> dict[str, Any]:
    mutated = copy.deepcopy(obj)
    for _ in range(rng.randint(1, 3)):
        target = mutated
        while True:  # walk down into a nested object now and then
            nested = [k for k, v in target.items() if isinstance(v, dict)]
            if not nested or rng.random() < 0.5:
                break
            target = target[rng.choice(nested)]
        key = rng.choice(list(target)) if target and rng.random() < 0.8 else f"k{rng.randrange(10)}"
        if key in target and rng.random() < 0.25:
            del target[key]
        elif key in target and rng.random() < 0.5:  # a value of the same type: nearly valid frames
            same = values_by_type.get(type(target[key])) or values
            target[key] = copy.deepcopy(rng.choice(same))
        else:
            target[key] = copy.deepcopy(rng.choice(values))
    return mutated


def _mutate_bytes(rng: random.Random, corpus: list[str | bytes]) -> str | bytes:
    first, second = (_as_bytes(rng.choice(corpus)) for _ in range(2))
    how = rng.randrange(4)
    if how == 0 and first:  # flip a byte
        at = rng.randrange(len(first))
        raw = first[:at] + bytes([rng.randrange(256)]) + first[at + 1 :]
    elif how == 1:  # cut
        raw = first[: rng.randint(0, len(first))]
    elif how == 2:  # splice two
        raw = first[: rng.randint(0, len(first))] + second[rng.randint(0, len(second)) :]
    else:  # repeat a span
        a = rng.randint(0, len(first))
        b = rng.randint(a, len(first))
        raw = first[:b] + first[a:b] * rng.randint(1, 4) + first[b:]
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return raw


def _as_bytes(frame: str | bytes) -> bytes:
    return frame.encode() if isinstance(frame, str) else frame


def draw(template: dict[str, Any], count: int, seed: int) -> list[str | bytes]:
    """`count` frames drawn by hypothesis around `template`, the same ones for the same seed."""
    st = _strategies()
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as with_seed

    drawn: list[str | bytes] = []
    strategy = frames(template)
    for attempt in range(10):  # hypothesis may skip examples; bounded top-ups
        missing = count - len(drawn)
        if missing <= 0:
            break

        @with_seed(seed + attempt)
        @settings(
            max_examples=math.ceil(missing / BATCH),
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(st.lists(strategy, min_size=BATCH, max_size=BATCH))
        def collect(batch: list[str | bytes]) -> None:
            drawn.extend(batch)

        collect()
    return drawn[:count]


def ack_frames(count: int, seed: int, corpus_size: int) -> list[str | bytes]:
    """Fuzzed ACKs for the emulator's stream socket."""
    return fuzzed(ACK_TEMPLATE, count, seed, corpus_size)


def user_frames(count: int, seed: int, corpus_size: int) -> list[str | bytes]:
    """Fuzzed user frames, without the kinds answered later by an event (join, leave, card_action): each of
    the rest is answered at once, `accepted` or `error`."""
    frames = fuzzed(USER_TEMPLATE, count + count // 2, seed, corpus_size)
    return [f for f in frames if not _answered_later(f)][:count]


def _answered_later(frame: str | bytes) -> bool:
    try:
        parsed = json.loads(frame)
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(parsed, dict) and parsed.get("type", "message") in USER_TYPES_WITH_LATER_ANSWERS


def push_frames(count: int, seed: int, corpus_size: int) -> list[str | bytes]:
    """Fuzzed platform frames for the bot, never a SYSTEM one (a SYSTEM disconnect is obeyed, not refused);
    each frame whose messageId is still the template's gets a numbered one, so the bot's ACKs are tallied."""
    out: list[str | bytes] = []
    for n, frame in enumerate(fuzzed(PUSH_TEMPLATE, count, seed, corpus_size)):
        try:
            parsed = json.loads(frame)
        except (ValueError, UnicodeDecodeError):
            out.append(frame)
            continue
        if isinstance(parsed, dict) and parsed.get("type") == "SYSTEM":
            parsed["type"] = "CALLBACK"
        headers = parsed.get("headers") if isinstance(parsed, dict) else None
        if isinstance(headers, dict) and headers.get("messageId") == FUZZ_ID:
            headers["messageId"] = f"{FUZZ_ID}{n}"
        out.append(json.dumps(parsed) if isinstance(parsed, dict) else frame)
    return out

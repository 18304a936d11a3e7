"""Property tests of the frame codec: the parser never fails other than with FrameError, and what the
server builds is exactly the official shape."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.platform import frames
from tests.platform.helpers import server

pytestmark = pytest.mark.unit

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200), json_values.map(json.dumps)))
def test_parser_only_ever_raises_frame_error(raw):
    try:
        ack = frames.parse_ack(raw)
    except frames.FrameError as exc:
        assert str(exc)
    else:
        assert ack.code in frames.ACK_CODES and ack.message_id


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(frames.ACK_CODES),
    st.text(min_size=1, max_size=40),
    st.dictionaries(st.text(max_size=10), json_values, max_size=5),
    st.booleans(),
)
def test_well_formed_acks_round_trip(code, message_id, data, data_as_string):
    raw = json.dumps(
        {
            "code": code,
            "headers": {"messageId": message_id, "contentType": "application/json"},
            "message": "OK",
            "data": json.dumps(data) if data_as_string else data,
        }
    )
    ack = frames.parse_ack(raw)
    assert (ack.code, ack.message_id, ack.data) == (code, message_id, data)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["CALLBACK", "EVENT", "SYSTEM"]),
    st.text(max_size=30),
    st.dictionaries(st.text(max_size=10), json_values, max_size=5),
    st.dictionaries(st.text(min_size=1, max_size=10), st.text(max_size=10), max_size=3),
)
def test_server_frames_have_string_headers_and_string_data(kind, topic, data, extra):
    frame = json.loads(frames.server_frame(kind, topic, data, "app", "conn", "mid", extra))
    assert frame["specVersion"] == "1.0" and frame["type"] == kind
    assert all(isinstance(v, str) for v in frame["headers"].values())
    assert isinstance(frame["data"], str) and json.loads(frame["data"]) == data
    assert {"appId", "connectionId", "contentType", "messageId", "time", "topic"} <= set(frame["headers"])


class _Session:
    user_id, nick, wants_accepted = "u1", "U1", True

    def __init__(self) -> None:
        self.sent: list[dict] = []

    def notify(self, payload: dict) -> None:
        self.sent.append(payload)


user_frames = st.one_of(
    st.text(max_size=100),
    st.binary(max_size=100),
    json_values.map(json.dumps),
    st.fixed_dictionaries(
        {},
        optional={
            "type": st.one_of(st.sampled_from(["message", "join", "leave", "dance"]), json_values),
            "clientMsgId": st.one_of(st.text(max_size=8), st.integers()),
            "conversationId": st.one_of(st.text(max_size=8), st.none()),
            "conversationType": st.sampled_from(["1", "2", 1, "3"]),
            "text": st.one_of(st.text(max_size=20), json_values),
            "atBot": json_values,
            "app": st.one_of(st.sampled_from(["app-test", "other"]), json_values),
        },
    ).map(json.dumps),
)


@settings(max_examples=300, deadline=None)
@given(user_frames)
def test_user_frames_are_accepted_or_answered_with_an_error(raw):
    srv = server()
    session = _Session()
    srv.users._on_frame(session, raw)
    assert all(p["type"] in ("accepted", "error") for p in session.sent)
    if any(p["type"] == "error" for p in session.sent):
        assert srv.ledger.counts["sent"] == 0 and srv.summary()["bad_input"]["bad_user_frame"] == 1


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_json_constants_are_refused_as_bad_frames(constant):
    with pytest.raises(frames.FrameError, match="not a JSON number"):
        frames.parse_ack('{"code": 200, "headers": {"messageId": "m"}, "data": {"x": ' + constant + "}}")

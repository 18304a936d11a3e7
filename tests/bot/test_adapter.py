import pytest

from reference_bot.adapter import AdapterError, from_robot_message
from reference_bot.conversations import Conversations, membership_change

pytestmark = pytest.mark.unit

BASE = {
    "conversationId": "cid-9",
    "conversationType": "2",
    "msgId": "msg1",
    "senderStaffId": "s1",
    "senderNick": "Ann",
    "senderId": "d1",
    "isInAtList": True,
    "atUsers": [{"dingtalkId": "bot-1"}],
    "conversationTitle": "Ops",
    "sessionWebhook": "http://x/hook",
    "sessionWebhookExpiredTime": 123,
    "robotCode": "rc",
    "createAt": 5,
}


def test_text_message_in_a_group():
    msg = from_robot_message({**BASE, "msgtype": "text", "text": {"content": "  hello  "}})
    assert (msg.msgtype, msg.text, msg.conversation_kind) == ("text", "hello", "group")
    assert msg.mentions == ("bot-1",) and msg.mentions_bot
    assert msg.to_json()["sender"] == {"id": "d1", "staff_id": "s1", "nick": "Ann", "corp_id": "", "is_admin": False}


def test_rich_text_picture_markdown_and_other_types():
    rich = from_robot_message(
        {**BASE, "msgtype": "richText", "content": {"richText": [{"text": "a "}, {"downloadCode": "p"}, {"text": "b"}]}}
    )
    assert (rich.msgtype, rich.text) == ("rich_text", "a b")
    pic = from_robot_message({**BASE, "msgtype": "picture", "content": {"downloadCode": "dc"}})
    assert (pic.msgtype, pic.text, pic.content) == ("picture", "", {"downloadCode": "dc"})
    md = from_robot_message({**BASE, "msgtype": "markdown", "markdown": {"text": "# hi"}})
    assert (md.msgtype, md.text) == ("markdown", "# hi")
    audio = from_robot_message({**BASE, "msgtype": "audio"})
    assert audio.msgtype == "other" and audio.content == {"platform_msgtype": "audio"}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({**BASE, "msgtype": "text", "msgId": ""}, "msgId"),
        ({**BASE, "msgtype": "text", "conversationId": 5, "text": {"content": "x"}}, "conversationId"),
        ({**BASE, "msgtype": "text", "conversationType": "3", "text": {"content": "x"}}, "conversationType"),
        ({**BASE, "msgtype": "text", "text": {}}, "text.content"),
        ({**BASE}, "msgtype"),
        ("not an object", "data"),
    ],
)
def test_missing_fields_are_named(data, field):
    with pytest.raises(AdapterError, match=field):
        from_robot_message(data)


def test_membership_events_change_the_group():
    conv = Conversations()
    join = membership_change("chat_add_member", {"openConversationId": "g1", "userId": ["a", "b"]})
    assert join == ("join", "g1", ["a", "b"])
    conv.apply(*join)
    conv.apply(*membership_change("chat_remove_member", {"chatId": "g1", "userId": "a"}))
    assert conv.members["g1"] == {"b"}
    conv.apply("leave", "g1", ["b"])
    assert "g1" not in conv.members
    assert membership_change("some_other_event", {}) is None


def test_reply_sequence_is_per_conversation():
    conv = Conversations()
    assert [conv.next_reply_seq("a"), conv.next_reply_seq("a"), conv.next_reply_seq("b")] == [1, 2, 1]

"""Interactive cards a robot sends (the Python SDK's `reply_card` / `update_card`, robot permission
qyapi_robot_sendmsg, filed under the `robot_send` API): `POST /v1.0/im/v1.0/robot/interactiveCards/send`
with a `cardBizId`, then `PUT /v1.0/im/robots/interactiveCards` to update it.

A sent card is the final answer to the oldest unanswered message of its conversation (a group's
`openConversationId`, or the one-to-one conversation of `singleChatReceiver`'s user), or to the
message its `cardBizId` names when that is one of ours. Updates change the card, never the ledger.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from typing import Any

from aiohttp import web

from harness.platform.ledger import Record
from harness.platform.openapi import OpenApi
from harness.platform.responses import ApiError, json_body, required_str

KEPT_CARDS = 50_000  # sent cards kept addressable for updates


class RobotCards:
    def __init__(self, api: OpenApi) -> None:
        self.api = api
        self.sent: OrderedDict[str, str] = OrderedDict()  # cardBizId -> conversationId

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1.0/im/v1.0/robot/interactiveCards/send", self.api.endpoint("robot_send", self._send)),
            web.put("/v1.0/im/robots/interactiveCards", self.api.endpoint("robot_send", self._update)),
        ]

    async def _send(self, request: web.Request) -> dict[str, Any]:
        app_id = self.api.authorize(request, "robot_send")
        body = await json_body(request, self.api.settings.max_payload_bytes)
        required_str(body, "robotCode")
        required_str(body, "cardTemplateId")
        biz_id = required_str(body, "cardBizId")
        card_data = _card_data(body)
        cid, audience = self._conversation(app_id, body)
        named = {"outTrackId": biz_id}  # a cardBizId that is one of our msgIds answers that message only
        record: Record | None = (
            self.api.by_out_track(named)
            if self.api.names_message(named)
            else self.api.ledger.oldest_unanswered(cid, app_id)
        )
        payload = {
            "type": "reply",
            "via": "interactiveCard",
            "msgtype": "card",
            "content": card_data,
            "cardBizId": biz_id,
        }
        if record is None and not self.api.names_message(named):  # proactive, or nothing left to answer
            self.api.unmatched_replies += 1
            self.api.users.notify_users(audience, {**payload, "type": "notice"})
        self.api.answer(record, payload, final=True)
        self.sent[biz_id] = cid
        if len(self.sent) > KEPT_CARDS:
            self.sent.popitem(last=False)
        return {"processQueryKey": f"pqk-{time.time_ns()}"}

    async def _update(self, request: web.Request) -> dict[str, Any]:
        self.api.authorize(request, "robot_send")
        body = await json_body(request, self.api.settings.max_payload_bytes)
        biz_id = required_str(body, "cardBizId")
        _card_data(body)
        if biz_id not in self.sent:
            raise ApiError(404, "InvalidParameter.CardBizId", f"no interactive card {biz_id!r}: send it first")
        return {"success": True, "result": True}

    def _conversation(self, app_id: str, body: dict[str, Any]) -> tuple[str, list[str]]:
        """The card's conversation and who sees it: a group's members, or the one-to-one user."""
        group = body.get("openConversationId")
        if isinstance(group, str) and group:
            return group, sorted(self.api.users.members.get(group, ()))
        receiver = body.get("singleChatReceiver")
        try:
            user = json.loads(receiver).get("userId") if isinstance(receiver, str) else None
        except (ValueError, AttributeError):
            user = None
        if not isinstance(user, str) or not user:
            raise ApiError(
                400,
                "MissingParameter",
                'openConversationId (a group) or singleChatReceiver (a JSON string {"userId": ...}) is required',
            )
        return self.api.users.one_to_one.get((app_id, user), ""), [user]


def _card_data(body: dict[str, Any]) -> str:
    """cardData is the card's content as a JSON string (StandardCard data)."""
    data = body.get("cardData")
    if not isinstance(data, str) or not data:
        raise ApiError(400, "MissingParameter", "cardData is required: the card's data as a JSON string")
    try:
        json.loads(data)
    except ValueError:
        raise ApiError(400, "InvalidParameter.CardData", "cardData must be a JSON string") from None
    return data

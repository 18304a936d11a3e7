"""The user side: simulated employees on a WebSocket send messages and group join / leave actions,
and get the bot's reply chunks and final replies tagged with their clientMsgId."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import WSMsgType, web

from harness.core import jsontext
from harness.platform import frames
from harness.platform.config import AppConfig, Settings
from harness.platform.gateway import CLOSE_TIMEOUT_S, Gateway
from harness.platform.ledger import Ledger, Record
from harness.platform.outbox import Outbox, ws_error_kind
from harness.platform.tokens import TokenIssuer

log = logging.getLogger("harness.platform")

EVENT_TOPIC = "*"
EVENT_TYPES = {"join": "chat_add_member", "leave": "chat_remove_member"}
CARD_CALLBACK_TOPIC = "/v1.0/card/instances/callback"  # both SDKs' card callback topic
CORP_ID = "corp-emulator"


class UserInputError(ValueError):
    pass


class UserSession:
    def __init__(self, user_id: str, nick: str, outbox: Outbox, wants_accepted: bool) -> None:
        self.user_id = user_id
        self.nick = nick
        self.outbox = outbox
        self.wants_accepted = wants_accepted

    def notify(self, payload: dict[str, Any]) -> None:
        self.outbox.send(jsontext.dumpb(payload))


class Users:
    def __init__(self, settings: Settings, ledger: Ledger, gateway: Gateway, tokens: TokenIssuer) -> None:
        self.settings = settings
        self.ledger = ledger
        self.gateway = gateway
        self.tokens = tokens
        self.base_url = ""  # set by the server once bound
        self.sessions: dict[str, set[UserSession]] = {}
        self.one_to_one: dict[tuple[str, str], str] = {}  # (app, staffId) -> 1:1 conversationId
        self.members: dict[str, set[str]] = {}  # group conversationId -> staffIds who joined or spoke
        self.bad_input = ledger.metrics.bad_input_of("user")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        user_id = request.query.get("userId", "")
        if not user_id:
            return web.json_response(
                {"code": "MissingParameter", "message": "userId query parameter is required"}, status=400
            )
        ws = web.WebSocketResponse(
            max_msg_size=self.settings.max_payload_bytes, compress=False, autoping=True, timeout=CLOSE_TIMEOUT_S
        )
        await ws.prepare(request)
        session = UserSession(
            user_id,
            request.query.get("nick", user_id),
            Outbox(ws, request.transport),
            request.query.get("accepted", "1") != "0",
        )
        self.sessions.setdefault(user_id, set()).add(session)
        try:
            async for msg in ws:
                if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    self._on_frame(session, msg.data)
                elif msg.type == WSMsgType.ERROR:
                    self.bad_input.count(ws_error_kind(ws))
        finally:
            sessions = self.sessions.get(user_id, set())
            sessions.discard(session)
            if not sessions:
                self.sessions.pop(user_id, None)
            await session.outbox.aclose()
        return ws

    def _on_frame(self, session: UserSession, text: str | bytes) -> None:
        client_msg_id = ""
        try:
            try:
                frame = jsontext.parse(text)
            except ValueError as exc:
                raise UserInputError(f"frame is not valid JSON: {exc}") from None
            if not isinstance(frame, dict):
                raise UserInputError("frame must be a JSON object")
            client_msg_id = _str(frame, "clientMsgId")
            kind = frame.get("type", "message")
            if kind == "message":
                self._message(session, frame, client_msg_id)
            elif isinstance(kind, str) and kind in EVENT_TYPES:
                self._membership(session, frame, client_msg_id, kind)
            elif kind == "card_action":
                self._card_action(session, frame, client_msg_id)
            else:
                raise UserInputError(f"unknown type {str(kind)[:40]!r}; use message, join, leave or card_action")
        except UserInputError as exc:
            self.bad_input.count("bad_user_frame")
            session.notify({"type": "error", "clientMsgId": client_msg_id, "error": str(exc)})

    def _app(self, frame: dict[str, Any]) -> AppConfig:
        app_id = frame.get("app")
        if app_id is None:
            if not self.settings.apps:
                raise UserInputError("the emulator has no app configured")
            return self.settings.apps[0]
        app = self.settings.app(app_id) if isinstance(app_id, str) else None
        if app is None:
            raise UserInputError(f"app {app_id!r} is not configured")
        return app

    def _message(self, session: UserSession, frame: dict[str, Any], client_msg_id: str) -> None:
        app = self._app(frame)
        if not app.bot_enabled:
            raise UserInputError(f"the robot of app {app.app_id} is disabled: DingTalk delivers no messages to it")
        cid = _str(frame, "conversationId")
        ctype = frame.get("conversationType", "1")
        if ctype not in ("1", "2"):
            raise UserInputError('conversationType must be "1" (one-to-one) or "2" (group)')
        text = frame.get("text")
        if not isinstance(text, str):
            raise UserInputError("text must be a string")
        if ctype == "2" and frame.get("atBot", True) is not True:
            raise UserInputError("group message without @bot: DingTalk does not deliver it to the bot")
        msg_id = frames.MSG_ID_PREFIX + frames.new_id()
        now_ms = int(self.ledger.clock.wall() * 1000)
        if ctype == "1":
            self.one_to_one[(app.app_id, session.user_id)] = cid
        else:
            self.members.setdefault(cid, set()).add(session.user_id)
        token = self.tokens.session_token(msg_id, app.app_id, cid, self.settings.session_webhook_ttl_s)
        data = {
            "conversationId": cid,
            "conversationType": ctype,
            "msgId": msg_id,
            "msgtype": "text",
            "text": {"content": text},
            "senderId": session.user_id,
            "senderStaffId": session.user_id,
            "senderNick": session.nick,
            "senderCorpId": CORP_ID,
            "isAdmin": False,
            "isInAtList": ctype == "2",
            "atUsers": [{"dingtalkId": f"bot-{app.code}"}] if ctype == "2" else [],
            "chatbotUserId": f"bot-{app.code}",
            "chatbotCorpId": CORP_ID,
            "robotCode": app.code,
            "createAt": now_ms,
            "sessionWebhook": f"{self.base_url}/robot/sendBySession?session={token}",
            "sessionWebhookExpiredTime": now_ms + int(self.settings.session_webhook_ttl_s * 1000),
        }
        if ctype == "2":
            data["conversationTitle"] = str(frame.get("conversationTitle", cid))
        record = Record(
            msg_id, "message", app.app_id, cid, client_msg_id, session.user_id, session, data, frames.BOT_MESSAGE_TOPIC
        )
        self.ledger.open(record)
        if session.wants_accepted:
            session.notify({"type": "accepted", "clientMsgId": client_msg_id, "msgId": msg_id})
        self.gateway.submit(record)

    def _membership(self, session: UserSession, frame: dict[str, Any], client_msg_id: str, kind: str) -> None:
        app = self._app(frame)
        cid = _str(frame, "conversationId")
        group = self.members.setdefault(cid, set())
        (group.add if kind == "join" else group.discard)(session.user_id)
        event_id = "evt" + frames.new_id()
        data = {
            "eventType": EVENT_TYPES[kind],
            "openConversationId": cid,
            "chatId": cid,
            "userId": [session.user_id],
            "operator": session.user_id,
            "robotCode": app.code,
            "timeStamp": int(self.ledger.clock.wall() * 1000),
        }
        record = Record(event_id, "event", app.app_id, cid, client_msg_id, session.user_id, session, data, EVENT_TOPIC)
        self.ledger.open(record)
        self.gateway.submit(record)

    def _card_action(self, session: UserSession, frame: dict[str, Any], client_msg_id: str) -> None:
        """A click on a card the bot sent: a CALLBACK on the card topic, answered by the bot's ACK."""
        app = self._app(frame)
        out_track_id = _str(frame, "outTrackId")
        cid = str(frame.get("conversationId") or "")
        params = frame.get("params", {})
        if not isinstance(params, dict):
            raise UserInputError("params must be an object")
        action_id = str(frame.get("actionId") or "action")
        data = {
            "type": "actionCallback",
            "outTrackId": out_track_id,
            "userId": session.user_id,
            "userIdType": 1,
            "corpId": CORP_ID,
            "spaceType": "IM",
            "spaceId": cid,
            "content": jsontext.dumps({"cardPrivateData": {"actionIds": [action_id], "params": params}}),
            "extension": "{}",
        }
        record = Record(
            "cbk" + frames.new_id(),
            "card_callback",
            app.app_id,
            cid,
            client_msg_id,
            session.user_id,
            session,
            data,
            CARD_CALLBACK_TOPIC,
        )
        self.ledger.open(record)
        self.gateway.submit(record)

    async def close_all(self) -> None:
        sessions = [s for group in self.sessions.values() for s in group]
        await asyncio.gather(*(s.outbox.ws.close(code=1001, message=b"emulator shutting down") for s in sessions))

    def notify_users(self, user_ids: list[str], payload: dict[str, Any]) -> int:
        """Deliver a message the bot sent on its own (not an answer) to every session of these users."""
        delivered = 0
        for user_id in user_ids:
            for session in self.sessions.get(user_id, ()):
                session.notify(payload)
                delivered += 1
        return delivered


def _str(frame: dict[str, Any], name: str) -> str:
    value = frame.get(name)
    if not isinstance(value, str) or not value:
        raise UserInputError(f"{name} is required and must be a non-empty string")
    return value

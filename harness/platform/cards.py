"""AI cards: instance create / deliver / update (Card.Instance.Write) and streaming (Card.Streaming.Write).

Both ways bots use them work: `createAndDeliver` + `PUT /v1.0/card/streaming` with `isFinalize`
(the reference bot), and the official SDK's AI card (`POST /v1.0/card/instances`, `.../deliver`,
streaming, then `PUT /v1.0/card/instances` with `flowStatus` finished or failed). Streaming updates
reach the user as `chunk`s; the first final one (a finalized stream or a finished flow) as the `reply`.

A card instance outlives its final answer, as on the real platform: the SDK's AI card finalizes the
stream and then PUTs the card's final data with `flowStatus`, and later updates may follow. Those
are updates of an answered card, never duplicate replies. A card names its message by id only (the
ledger drops a message's record once it is final), and is forgotten `final_memory_s` after its finish
or after its message's reply timeout, whichever is later (KEPT_CARDS of the finished ones at most), so
a week-long run stays in bounded memory; a finish or update within that window still works.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from harness.platform.ledger import Record
from harness.platform.openapi import TOKEN_HEADER, OpenApi
from harness.platform.responses import ApiError, json_body, required_str

FLOW_FINISHED, FLOW_FAILED = "3", "5"  # the SDK's AICardStatus values
KEPT_CARDS = 50_000  # finished card instances kept addressable at most, however young


@dataclass(slots=True, eq=False)
class Card:
    msg_id: str  # the message it answers; "": not delivered yet, or answering nothing
    created_at: float  # monotonic
    finished_at: float = 0.0  # monotonic; 0: not finished yet
    answered: bool = False  # its final answer went out: later updates change the card, not the ledger


class Cards:
    def __init__(self, api: OpenApi) -> None:
        self.api = api
        self.cards: OrderedDict[str, Card] = OrderedDict()  # outTrackId -> card, oldest first
        api.resolvers["card_create"] = api.resolvers["card_streaming"] = self._record_of

    def _record_of(self, request: web.Request, body: dict[str, Any]) -> Record | None:
        out_track_id, space = body.get("outTrackId"), body.get("openSpaceId")
        if not isinstance(out_track_id, str):
            return None
        card = self.cards.get(out_track_id)
        record = (self._pending(card) if card else None) or self.api.ledger.get(out_track_id)
        if record is None and isinstance(space, str) and not self.api.names_message(body):
            record = self._by_space(self.api.tokens.app_of(request.headers.get(TOKEN_HEADER)), space)
        return record

    def routes(self) -> list[web.RouteDef]:
        create, stream = "card_create", "card_streaming"
        return [
            web.post("/v1.0/card/instances/createAndDeliver", self.api.endpoint(create, self._create_and_deliver)),
            web.post("/v1.0/card/instances", self.api.endpoint(create, self._create)),
            web.post("/v1.0/card/instances/deliver", self.api.endpoint(create, self._deliver)),
            web.put("/v1.0/card/instances", self.api.endpoint(create, self._update)),
            web.put("/v1.0/card/streaming", self.api.endpoint(stream, self._streaming)),
        ]

    async def _request(self, request: web.Request, api: str) -> tuple[str, dict[str, Any], str]:
        app_id = self.api.authorize(request, api)
        body = await json_body(request, self.api.settings.max_payload_bytes)
        return app_id, body, required_str(body, "outTrackId")

    def _known(self, out_track_id: str) -> Card:
        card = self.cards.get(out_track_id)
        if card is None:
            raise ApiError(
                404,
                "InvalidParameter.OutTrackId",
                f"no card instance {out_track_id!r}: create it first (createAndDeliver or instances)",
            )
        return card

    def _pending(self, card: Card) -> Record | None:
        """The message the card answers while it is still in flight (None once it is final)."""
        return self.api.ledger.get(card.msg_id) if card.msg_id else None

    def _store(self, out_track_id: str, record: Record | None) -> Card:
        """A new card instance (creating one again under the same outTrackId starts it afresh)."""
        now = self.api.ledger.clock.monotonic()
        self._forget(now)
        if record is not None:
            record.claimed = True
        card = self.cards[out_track_id] = Card(record.msg_id if record is not None else "", now)
        self.cards.move_to_end(out_track_id)
        if len(self.cards) > 2 * KEPT_CARDS:
            self._prune()
        return card

    def _forget(self, now: float) -> None:
        """Drop the oldest cards whose window is over: `final_memory_s` after the later of their finish
        and their message's reply timeout (a card is never younger than its message)."""
        ledger = self.api.ledger
        while self.cards:
            card = next(iter(self.cards.values()))
            if max(card.created_at + ledger.reply_timeout_s, card.finished_at) + ledger.final_memory_s > now:
                return
            self.cards.popitem(last=False)

    def _prune(self) -> None:
        """Keep every card still answering a pending message, and the newest KEPT_CARDS of the others."""
        done = [k for k, c in self.cards.items() if c.answered or self._pending(c) is None]
        for out_track_id in done[: max(len(done) - KEPT_CARDS, 0)]:
            del self.cards[out_track_id]

    def _bind(self, out_track_id: str, record: Record | None, duplicate: bool = False) -> None:
        """`duplicate`: the card names a message answered already (counted as such by the ledger)."""
        if record is None and not duplicate:
            self.api.unmatched_replies += 1
        self._store(out_track_id, record)

    async def _create_and_deliver(self, request: web.Request) -> dict[str, Any]:
        app_id, body, out_track_id = await self._request(request, "card_create")
        space = required_str(body, "openSpaceId")
        if self.api.names_message(body):
            record = self.api.by_out_track(body)
            self._bind(out_track_id, record, duplicate=record is None)
        else:
            self._bind(out_track_id, self._by_space(app_id, space))
        return {
            "success": True,
            "result": {"outTrackId": out_track_id, "deliverResults": [{"spaceId": space, "success": True}]},
        }

    async def _create(self, request: web.Request) -> dict[str, Any]:
        _, body, out_track_id = await self._request(request, "card_create")
        self._store(out_track_id, self.api.by_out_track(body))
        return {"success": True, "result": out_track_id}

    async def _deliver(self, request: web.Request) -> dict[str, Any]:
        app_id, body, out_track_id = await self._request(request, "card_create")
        space = required_str(body, "openSpaceId")
        card = self._known(out_track_id)
        if not card.msg_id and not card.answered and not self.api.names_message(body):
            self._bind(out_track_id, self._by_space(app_id, space))
        return {"success": True, "result": [{"spaceId": space, "success": True}]}

    async def _update(self, request: web.Request) -> dict[str, Any]:
        _, body, out_track_id = await self._request(request, "card_create")
        card = self._known(out_track_id)
        params = (body.get("cardData") or {}).get("cardParamMap") if isinstance(body.get("cardData"), dict) else None
        if not isinstance(params, dict):
            raise ApiError(400, "MissingParameter", "cardData.cardParamMap is required and must be an object")
        status = str(params.get("flowStatus", ""))
        content = params.get("msgContent")
        record = None if card.answered else self._pending(card)
        if record is not None and isinstance(content, str) and content:
            record.card_text = content
        if status in (FLOW_FINISHED, FLOW_FAILED):
            self._finish(out_track_id, card, status == FLOW_FAILED)
        return {"success": True, "result": True}

    async def _streaming(self, request: web.Request) -> dict[str, Any]:
        _, body, out_track_id = await self._request(request, "card_streaming")
        card = self._known(out_track_id)
        content = body.get("content", "")
        if not isinstance(content, str):
            raise ApiError(400, "InvalidParameter.Content", "content must be a string")
        record = None if card.answered else self._pending(card)
        if record is not None:
            record.card_text = content if body.get("isFull") is True else record.card_text + content
        if body.get("isFinalize") is True:
            self._finish(out_track_id, card, body.get("isError") is True)
        elif record is not None:
            self.api.answer(
                record,
                {"type": "chunk", "seq": record.chunks + 1, "content": record.card_text, "outTrackId": out_track_id},
                final=False,
            )
        return {"success": True, "result": True}

    def _finish(self, out_track_id: str, card: Card, failed: bool) -> None:
        """The card's final answer: the first finish of a card answers its message; later ones (the
        SDK's finish after a finalized stream) only update the card."""
        if card.answered:
            return
        card.answered = True
        card.finished_at = self.api.ledger.clock.monotonic()
        if not card.msg_id:
            return
        record = self._pending(card)
        if record is None:  # the message was answered another way (or lost) before this card finished
            self.api.ledger.answer_for_final(card.msg_id)
            return
        self.api.answer(
            record,
            {
                "type": "reply",
                "via": "card",
                "msgtype": "card",
                "content": record.card_text,
                "isError": failed,
                "outTrackId": out_track_id,
            },
            final=True,
        )

    def _by_space(self, app_id: str, space: str) -> Record | None:
        """openSpaceId is dtv1.card//IM_GROUP.<conversationId> or dtv1.card//IM_ROBOT.<staffId>."""
        kind, _, target = space.removeprefix("dtv1.card//").partition(".")
        if kind == "IM_GROUP":
            return self.api.ledger.oldest_unanswered(target, app_id)
        if kind == "IM_ROBOT":
            cid = self.api.users.one_to_one.get((app_id, target))
            return self.api.ledger.oldest_unanswered(cid, app_id) if cid else None
        raise ApiError(
            400,
            "InvalidParameter.OpenSpaceId",
            f"openSpaceId {space!r} must be dtv1.card//IM_GROUP.<conversationId> or dtv1.card//IM_ROBOT.<staffId>",
        )

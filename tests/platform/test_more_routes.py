"""Routes the official SDKs' bots use beyond plain replies: action cards and links on the session
webhook, the robot's interactive cards, media upload on the old API and the card callback topic."""

import json

import aiohttp
import pytest

from tests.platform.helpers import APP, Bot, User, async_test, server

pytestmark = pytest.mark.integration


async def post(http, url, body, token=None, method="POST"):
    headers = {"x-acs-dingtalk-access-token": token} if token else {}
    async with http.request(method, url, json=body, headers=headers) as r:
        return r.status, await r.json()


@async_test
async def test_session_webhook_takes_every_robot_message_type():
    async with server() as srv, aiohttp.ClientSession() as http:
        bot, user = await Bot.connect(http, srv.url), await User.connect(http, srv.url)
        bodies = [
            (
                {
                    "msgtype": "actionCard",
                    "actionCard": {"title": "T", "text": "card text", "singleTitle": "Go", "singleURL": "https://x"},
                },
                "card text",
            ),
            ({"msgtype": "link", "link": {"title": "T", "text": "link text", "messageUrl": "https://x"}}, "link text"),
            ({"msgtype": "feedCard", "feedCard": {"links": [{"title": "one"}, {"title": "two"}]}}, "one\ntwo"),
            ({"msgtype": "markdown", "markdown": {"title": "T", "text": "**md**"}}, "**md**"),
        ]
        for body, content in bodies:
            await user.send()
            frame = await bot.frame("CALLBACK")
            await bot.ack(frame)
            status, answer = await post(http, json.loads(frame["data"])["sessionWebhook"], body)
            assert (status, answer["errcode"]) == (200, 0), answer
            reply = await user.expect("reply")
            assert (reply["msgtype"], reply["content"]) == (body["msgtype"], content)
        await user.send()
        hook = json.loads((await bot.frame("CALLBACK"))["data"])["sessionWebhook"]
        status, answer = await post(http, hook, {"msgtype": "actionCard", "actionCard": {"text": "no title"}})
        assert status == 400 and answer["message"].startswith("actionCard.title is required")


@async_test
async def test_interactive_cards_answer_the_conversation_and_take_updates():
    async with server() as srv, aiohttp.ClientSession() as http:
        bot, user = await Bot.connect(http, srv.url), await User.connect(http, srv.url)
        token = await bot.token(srv.url)
        card = {"cardTemplateId": "StandardCard", "robotCode": APP, "cardData": json.dumps({"contents": []})}
        await user.send("in a group", conversation="g1", conversationType="2")
        await bot.ack(await bot.frame("CALLBACK"))
        url = f"{srv.url}/v1.0/im/v1.0/robot/interactiveCards/send"
        status, _ = await post(http, url, {**card, "cardBizId": "biz-1", "openConversationId": "g1"}, token)
        assert status == 200
        assert (await user.expect("reply"))["via"] == "interactiveCard"
        await user.send("one to one", conversation="dm-1")
        await bot.ack(await bot.frame("CALLBACK"))
        receiver = json.dumps({"userId": "u1"})
        status, _ = await post(http, url, {**card, "cardBizId": "biz-2", "singleChatReceiver": receiver}, token)
        assert status == 200 and (await user.expect("reply"))["cardBizId"] == "biz-2"
        update = f"{srv.url}/v1.0/im/robots/interactiveCards"
        assert (await post(http, update, {"cardBizId": "biz-1", "cardData": "{}"}, token, "PUT"))[0] == 200
        status, answer = await post(http, update, {"cardBizId": "nope", "cardData": "{}"}, token, "PUT")
        assert (status, answer["code"]) == (404, "InvalidParameter.CardBizId")
        status, answer = await post(http, url, {**card, "cardBizId": "biz-3"}, token)
        assert status == 400 and "singleChatReceiver" in answer["message"]
        assert srv.summary()["messages"]["replied"] == 2


@async_test
async def test_media_upload_on_the_old_api():
    async with server() as srv, aiohttp.ClientSession() as http:
        token = await Bot(http, None).token(srv.url)  # type: ignore[arg-type]

        async def upload(access_token, kind="image", content=b"\x89PNG fake"):
            form = aiohttp.FormData()
            form.add_field("type", kind)
            if content is not None:
                form.add_field("media", content, filename="a.png", content_type="image/png")
            async with http.post(f"{srv.url}/media/upload", params={"access_token": access_token}, data=form) as r:
                return r.status, await r.json()

        status, body = await upload(token)
        assert status == 200 and body["errcode"] == 0 and body["type"] == "image" and body["media_id"].startswith("@")
        assert (await upload("forged"))[1]["errcode"] == 40014
        assert (await upload(token, kind="sticker"))[1]["errcode"] == 40004
        assert (await upload(token, content=None))[1]["errcode"] == 40006
        codes = {(r["status"], r["code"]) for r in srv.summary()["refusals"]}
        assert codes == {(200, "40014"), (200, "40004"), (200, "40006")}


@async_test
async def test_a_card_click_reaches_the_bot_on_the_card_callback_topic():
    async with server() as srv, aiohttp.ClientSession() as http:
        topics = [{"type": "CALLBACK", "topic": "/v1.0/card/instances/callback"}]
        bot, user = await Bot.connect(http, srv.url, subscriptions=topics), await User.connect(http, srv.url)
        click = {
            "type": "card_action",
            "clientMsgId": "c1",
            "outTrackId": "card-9",
            "actionId": "like",
            "params": {"n": 1},
        }
        await user.ws.send_str(json.dumps(click))
        frame = await bot.frame("CALLBACK")
        assert frame["headers"]["topic"] == "/v1.0/card/instances/callback"
        data = json.loads(frame["data"])
        assert (data["outTrackId"], data["userId"], data["type"]) == ("card-9", "u1", "actionCallback")
        assert json.loads(data["content"])["cardPrivateData"] == {"actionIds": ["like"], "params": {"n": 1}}
        await bot.ack(frame, data={"response": {"cardData": {"cardParamMap": {"liked": "1"}}}})
        answer = await user.expect("event")
        assert answer["status"] == "SUCCESS" and answer["response"]["cardData"]["cardParamMap"] == {"liked": "1"}
        assert srv.summary()["events"]["acked"] == 1

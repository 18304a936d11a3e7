"""Open API: tokens, scopes, QPS limits in both modes, injected errors, webhook signing, bad bodies."""

import json
import time

import aiohttp
import jwt
import pytest

from harness.platform import AppConfig, PlatformServer
from harness.platform.config import RobotWebhook
from harness.platform.openapi import sign
from tests.platform.helpers import APP, SECRET, Bot, SteppedClock, User, async_test, poll, server, settings

pytestmark = pytest.mark.integration

CARD = {"cardTemplateId": "t", "outTrackId": "c1", "openSpaceId": "dtv1.card//IM_GROUP.g1", "cardData": {}}


async def token(http, url, app=APP, secret=SECRET):
    async with http.post(f"{url}/v1.0/oauth2/accessToken", json={"appKey": app, "appSecret": secret}) as r:
        return r.status, await r.json()


async def call(http, method, url, token_value, body, **kw):
    headers = {"x-acs-dingtalk-access-token": token_value} if token_value else {}
    async with http.request(method, url, json=body, headers=headers, **kw) as r:
        return r.status, await r.json()


@async_test
async def test_access_token_is_a_one_hour_jwt_and_bad_secret_is_401():
    async with server() as srv, aiohttp.ClientSession() as http:
        status, body = await token(http, srv.url)
        assert status == 200 and body["expireIn"] == 3600
        claims = jwt.decode(body["accessToken"], options={"verify_signature": False})
        assert claims["exp"] - claims["iat"] == 3600 and claims["sub"] == APP
        assert jwt.get_unverified_header(body["accessToken"])["alg"] == "HS256"
        status, body = await token(http, srv.url, secret="nope")
        assert status == 401 and body["code"] == "InvalidAuthentication" and "appSecret" in body["message"]
        assert srv.summary()["login_failures"]["access_token"] == 1


@async_test
async def test_missing_invalid_and_expired_tokens_are_401_with_the_reason():
    async with server() as srv, aiohttp.ClientSession() as http:
        url = f"{srv.url}/v1.0/card/instances/createAndDeliver"
        expired = srv.tokens.access_token(APP, ttl_s=-60)
        claims = {"sub": APP, "exp": time.time() + 60, "typ": "access"}
        forged = jwt.encode(claims, "not-the-emulator-key-" * 2, algorithm="HS256")
        for value, why in ((None, "no access token"), (expired, "expired"), (forged, "invalid")):
            status, body = await call(http, "POST", url, value, CARD)
            assert status == 401 and body["code"] == "InvalidAuthentication" and why in body["message"]
        responses = srv.summary()["api_responses"]
        assert {"api": "card_create", "status": 401, "code": "InvalidAuthentication", "count": 3} in responses


@async_test
async def test_tokens_and_session_webhooks_expire_on_the_emulators_clock():
    clock = SteppedClock()
    async with server(clock=clock, token_ttl_s=3600) as srv, aiohttp.ClientSession() as http:
        bot, user = await Bot.connect(http, srv.url), await User.connect(http, srv.url)
        tok = await bot.token(srv.url)
        await user.send()
        frame = await bot.frame("CALLBACK")
        await bot.ack(frame)
        data = json.loads(frame["data"])
        assert data["sessionWebhookExpiredTime"] - data["createAt"] == 90 * 60 * 1000
        url = f"{srv.url}/v1.0/card/instances/createAndDeliver"
        assert (await call(http, "POST", url, tok, CARD))[0] == 200
        clock.step(3600)  # the access token's hour is over; the webhook's 90 minutes are not
        status, body = await call(http, "POST", url, tok, {**CARD, "outTrackId": "c2"})
        assert status == 401 and "expired" in body["message"]
        clock.step(1801)
        async with http.post(data["sessionWebhook"], json={"msgtype": "text", "text": {"content": "x"}}) as r:
            assert r.status == 400 and "sessionWebhook expired" in (await r.json())["message"]


@async_test
async def test_missing_scope_is_403_with_required_scopes():
    cfg = settings(apps=(AppConfig(app_id=APP, secret=SECRET, scopes=("qyapi_robot_sendmsg",)),))
    async with PlatformServer(cfg) as srv, aiohttp.ClientSession() as http:
        _, tok = await token(http, srv.url)
        status, body = await call(
            http, "POST", f"{srv.url}/v1.0/card/instances/createAndDeliver", tok["accessToken"], CARD
        )
        assert status == 403 and body["code"] == "Forbidden.AccessDenied.AccessTokenPermissionDenied"
        assert body["accessdenieddetail"]["requiredScopes"] == ["Card.Instance.Write"]
        status, _ = await call(
            http,
            "POST",
            f"{srv.url}/v1.0/robot/groupMessages/send",
            tok["accessToken"],
            {"robotCode": APP, "openConversationId": "g", "msgKey": "sampleText", "msgParam": "{}"},
        )
        assert status == 200


async def _hit_limit(mode):
    async with server(qps_limits={"card_create": 2.0}, qps_mode=mode) as srv, aiohttp.ClientSession() as http:
        _, tok = await token(http, srv.url)
        statuses = []
        for i in range(4):
            status, body = await call(
                http,
                "POST",
                f"{srv.url}/v1.0/card/instances/createAndDeliver",
                tok["accessToken"],
                {**CARD, "outTrackId": f"c{i}"},
            )
            statuses.append(status)
        return statuses, body


@async_test
async def test_qps_limit_as_429_by_default():
    statuses, body = await _hit_limit("429")
    assert statuses[:2] == [200, 200] and statuses[-1] == 429
    assert body["code"] == "Throttling" and "2 calls/s" in body["message"]


@async_test
async def test_qps_limit_as_dingtalk_403():
    statuses, body = await _hit_limit("403")
    assert statuses[-1] == 403 and body["code"] == "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi"


@async_test
async def test_faults_force_errors_change_token_ttl_and_refuse_bad_values():
    async with server() as srv, aiohttp.ClientSession() as http:
        async with http.post(
            f"{srv.url}/admin/faults", json={"errors": {"robot_send": {"status": 429, "ratio": 1}}, "token_ttl_s": 5}
        ) as r:
            assert r.status == 200 and (await r.json())["token_ttl_s"] == 5
        _, tok = await token(http, srv.url)
        assert tok["expireIn"] == 5
        status, body = await call(
            http,
            "POST",
            f"{srv.url}/v1.0/robot/groupMessages/send",
            tok["accessToken"],
            {"robotCode": APP, "openConversationId": "g", "msgKey": "k"},
        )
        assert status == 429 and body["injected"] is True
        for bad, field in (
            ({"push_drop_ratio": 2}, "push_drop_ratio"),
            ({"nope": 1}, "nope"),
            ({"errors": {"robot_send": {"status": 500}}}, "status"),
            ({"errors": {"bogus": {"status": 401}}}, "bogus"),
        ):
            async with http.post(f"{srv.url}/admin/faults", json=bad) as r:
                assert r.status == 400 and field in (await r.json())["message"]
        async with http.get(f"{srv.url}/admin/faults") as r:
            assert (await r.json())["push_drop_ratio"] == 0.0  # the bad requests changed nothing


@async_test
async def test_custom_robot_webhook_signature():
    robot = RobotWebhook(access_token="hook-token", secret="SECabc", conversation_id="g1")
    async with PlatformServer(settings(robots=(robot,))) as srv, aiohttp.ClientSession() as http:
        member = await User.connect(http, srv.url, "m1")
        await member.ws.send_str(json.dumps({"type": "join", "clientMsgId": "j", "conversationId": "g1"}))
        now = str(int(time.time() * 1000))
        stale = str(int(time.time() * 1000) - 2 * 3600 * 1000)
        text = {"msgtype": "text", "text": {"content": "deploy done"}}
        base = f"{srv.url}/robot/send?access_token=hook-token"
        cases = [
            (now, sign("SECabc", now), 0, "ok"),
            (now, sign("wrong", now), 310000, "sign not match"),
            (stale, sign("SECabc", stale), 310000, "invalid timestamp"),
        ]
        for ts, signature, errcode, errmsg in cases:
            async with http.post(f"{base}&timestamp={ts}&sign={signature}", json=text) as r:
                body = await r.json()
                assert r.status == 200 and body["errcode"] == errcode and body["errmsg"] == errmsg
        notice = await member.expect("notice")
        assert notice["content"] == "deploy done" and notice["via"] == "robotWebhook"
        async with http.post(f"{srv.url}/robot/send?access_token=other", json=text) as r:
            assert (await r.json())["errcode"] == 300001


@async_test
async def test_bad_bodies_get_clear_errors():
    async with server(max_payload_bytes=1024) as srv, aiohttp.ClientSession() as http:
        bot, user = await Bot.connect(http, srv.url), await User.connect(http, srv.url)
        await user.send()
        hook = json.loads((await bot.frame("CALLBACK"))["data"])["sessionWebhook"]
        cases = [
            (dict(data="{nope", headers={"Content-Type": "application/json"}), 400, "not valid JSON"),
            (dict(json={"msgtype": "image"}), 400, "msgtype"),
            (dict(json={"msgtype": "text"}), 400, "text.content"),
            (dict(json={"msgtype": "text", "text": {"content": "x" * 2000}}), 413, "limit"),
            (dict(data="a=b", headers={"Content-Type": "application/x-www-form-urlencoded"}), 415, "Content-Type"),
        ]
        for kwargs, status, why in cases:
            async with http.post(hook, **kwargs) as r:
                body = await r.json()
                assert r.status == status and why in body["message"], body
        async with http.post(f"{srv.url}/robot/sendBySession?session=forged", json={}) as r:
            assert r.status == 400 and (await r.json())["code"] == "InvalidSessionWebhook"
        async with http.post(f"{srv.url}/v1.0/gateway/connections/open", json={"clientId": APP}) as r:
            assert r.status == 400 and "clientSecret" in (await r.json())["message"]


@async_test
async def test_robot_send_answers_the_pending_message_of_the_conversation():
    async with server() as srv, aiohttp.ClientSession() as http:
        bot, user = await Bot.connect(http, srv.url), await User.connect(http, srv.url)
        await user.send("q", conversation="g7", conversationType="2")
        frame = await bot.frame("CALLBACK")
        await bot.ack(frame)
        tok = await bot.token(srv.url)
        status, _ = await call(
            http,
            "POST",
            f"{srv.url}/v1.0/robot/groupMessages/send",
            tok,
            {
                "robotCode": APP,
                "openConversationId": "g7",
                "msgKey": "sampleText",
                "msgParam": json.dumps({"content": "answer"}),
            },
        )
        assert status == 200
        reply = await user.expect("reply")
        assert reply["via"] == "robotSend" and reply["msgId"] == json.loads(frame["data"])["msgId"]
        status, _ = await call(
            http,
            "POST",
            f"{srv.url}/v1.0/robot/oToMessages/batchSend",
            tok,
            {"robotCode": APP, "userIds": ["u1"], "msgKey": "sampleText", "msgParam": "{}"},
        )
        assert status == 200 and (await user.expect("notice"))["via"] == "robotSend"


@async_test
async def test_refused_answers_make_a_lost_message_reply_rejected():
    faults = {"errors": {"card_streaming": {"status": 429, "ratio": 1}}}
    clock = SteppedClock()
    async with server(faults, reply_timeout_s=30, clock=clock) as srv, aiohttp.ClientSession() as http:
        bot, user = await Bot.connect(http, srv.url), await User.connect(http, srv.url)
        await user.send(conversation="g2", conversationType="2")
        frame = await bot.frame("CALLBACK")
        await bot.ack(frame)
        tok = await bot.token(srv.url)
        card = {**CARD, "outTrackId": "card-x", "openSpaceId": "dtv1.card//IM_GROUP.g2"}
        assert (await call(http, "POST", f"{srv.url}/v1.0/card/instances/createAndDeliver", tok, card))[0] == 200
        status, _ = await call(
            http,
            "PUT",
            f"{srv.url}/v1.0/card/streaming",
            tok,
            {"outTrackId": "card-x", "content": "a", "isFull": True, "isFinalize": True},
        )
        assert status == 429
        clock.step(31)  # the reply timeout
        await poll(lambda: srv.ledger.counts["lost"] == 1)
        lost = srv.summary()["lost_sample"][0]
        assert lost["stage"] == "reply_rejected" and "card_streaming answered 429 Throttling" in lost["reason"]


@async_test
async def test_a_repeated_card_for_an_answered_message_is_a_duplicate_never_credited_to_the_next_one():
    """A bot repeats create-and-deliver + finalize for a message it already answered (as after a client
    timeout). The card names that message (outTrackId = msgId): it must count as a duplicate reply and
    never bind to the next unanswered message of the conversation (whose user would get the wrong answer)."""
    async with server() as srv, aiohttp.ClientSession() as http:
        bot, first, second = await Bot.connect(http, srv.url), await User.connect(http, srv.url, "u1"), None
        second = await User.connect(http, srv.url, "u2")
        group = {"conversationType": "2", "atBot": True}
        await first.send("question one", conversation="g1", **group)
        one = json.loads((await bot.frame("CALLBACK"))["data"])
        await second.send("question two", conversation="g1", **group)
        two = json.loads((await bot.frame("CALLBACK"))["data"])
        tok = await bot.token(srv.url)
        card = {
            "cardTemplateId": "t",
            "outTrackId": one["msgId"],
            "openSpaceId": "dtv1.card//IM_GROUP.g1",
            "cardData": {},
        }
        final = {"outTrackId": one["msgId"], "guid": "g", "key": "content", "content": "answer one", "isFull": True}
        for _ in range(2):  # the answer, then the repeat
            assert (await call(http, "POST", f"{srv.url}/v1.0/card/instances/createAndDeliver", tok, card))[0] == 200
            assert (await call(http, "PUT", f"{srv.url}/v1.0/card/streaming", tok, {**final, "isFinalize": True}))[
                0
            ] == 200
        assert (await first.expect("reply"))["content"] == "answer one"
        counts = srv.summary()["messages"]
        assert (counts["replied"], counts["duplicate_replies"]) == (1, 1)
        assert srv.ledger.get(two["msgId"]).final is False  # the second question is still unanswered
        assert srv.summary()["unmatched_replies"] == 0


@async_test
async def test_a_card_stays_addressable_after_its_stream_is_finalized():
    """The official SDK's AI card: create, deliver, stream (append, then full), finalize the stream, then
    finish the card (PUT flowStatus 3) and update it again. The instance outlives the finalized stream as
    on the real platform: every call is accepted, the user gets one reply, nothing counts twice."""
    async with server() as srv, aiohttp.ClientSession() as http:
        bot, user = await Bot.connect(http, srv.url), await User.connect(http, srv.url)
        await user.send("hello", conversation="dm-1")
        await bot.ack(await bot.frame("CALLBACK"))
        tok = await bot.token(srv.url)
        card_url, stream_url = f"{srv.url}/v1.0/card/instances", f"{srv.url}/v1.0/card/streaming"
        created = {"cardTemplateId": "t", "outTrackId": "sdk-card", "cardData": {"cardParamMap": {"flowStatus": "1"}}}
        steps = [
            ("POST", card_url, created),
            ("POST", f"{card_url}/deliver", {"outTrackId": "sdk-card", "openSpaceId": "dtv1.card//IM_ROBOT.u1"}),
            ("PUT", stream_url, {"outTrackId": "sdk-card", "key": "msgContent", "content": "he", "isFull": False}),
            ("PUT", stream_url, {"outTrackId": "sdk-card", "key": "msgContent", "content": "hello", "isFull": True}),
            ("PUT", stream_url, {"outTrackId": "sdk-card", "content": "hello!", "isFull": True, "isFinalize": True}),
            ("PUT", card_url, {"outTrackId": "sdk-card", "cardData": {"cardParamMap": {"flowStatus": "3"}}}),
            ("PUT", stream_url, {"outTrackId": "sdk-card", "content": "late", "isFull": True, "isFinalize": True}),
            ("PUT", card_url, {"outTrackId": "sdk-card", "cardData": {"cardParamMap": {"msgContent": "edited"}}}),
        ]
        for method, url, body in steps:
            status, answer = await call(http, method, url, tok, body)
            assert status == 200 and answer["success"] is True, (method, url, answer)
        assert [(await user.expect("chunk"))["content"] for _ in range(2)] == ["he", "hello"]
        reply = await user.expect("reply")
        assert (reply["content"], reply["via"], reply["outTrackId"]) == ("hello!", "card", "sdk-card")
        counts = srv.summary()["messages"]
        assert (counts["replied"], counts["duplicate_replies"], counts["late_replies"]) == (1, 0, 0)
        status, answer = await call(
            http, "PUT", card_url, tok, {"outTrackId": "never-made", "cardData": {"cardParamMap": {}}}
        )
        assert (status, answer["code"]) == (404, "InvalidParameter.OutTrackId")


@async_test
async def test_legacy_gettoken_gives_the_same_access_token_and_refuses_the_old_apis_way():
    """GET /gettoken?appkey=&appsecret= (oapi; the Node SDK's getAccessToken): {errcode 0, access_token,
    expires_in}, a token the new API takes; bad credentials are HTTP 200 errcode 40089 and a failed login."""
    async with server({"token_ttl_s": 600}) as srv, aiohttp.ClientSession() as http:
        async with http.get(f"{srv.url}/gettoken", params={"appkey": APP, "appsecret": SECRET}) as r:
            assert r.status == 200
            body = await r.json()
        assert (body["errcode"], body["errmsg"], body["expires_in"]) == (0, "ok", 600)
        robot_send = {"robotCode": APP, "userIds": ["u1"], "msgKey": "sampleText", "msgParam": "{}"}
        status, _ = await call(
            http, "POST", f"{srv.url}/v1.0/robot/oToMessages/batchSend", body["access_token"], robot_send
        )
        assert status == 200
        for params, why in [
            ({"appkey": APP, "appsecret": "wrong"}, "do not match"),
            ({"appkey": "nobody", "appsecret": SECRET}, "do not match"),
            ({"appkey": APP}, "missing appsecret"),
            ({}, "missing appkey and appsecret"),
        ]:
            async with http.get(f"{srv.url}/gettoken", params=params) as r:
                refused = await r.json()
            assert r.status == 200 and refused["errcode"] == 40089 and why in refused["errmsg"], refused
            assert "access_token" not in refused and SECRET not in json.dumps(refused)
        summary = srv.summary()
        assert summary["login_failures"]["access_token"] == 4
        assert {"api": "access_token", "status": 200, "code": "40089", "count": 4} in summary["api_responses"]


@async_test
async def test_legacy_gettoken_answers_injected_rate_limits_with_the_old_apis_code():
    async with (
        server({"errors": {"access_token": {"status": 429, "ratio": 1}}}) as srv,
        aiohttp.ClientSession() as http,
    ):
        async with http.get(f"{srv.url}/gettoken", params={"appkey": APP, "appsecret": SECRET}) as r:
            body = await r.json()
        assert r.status == 200 and body["errcode"] == 90018 and body["injected"] is True
        assert srv.summary()["login_failures"]["access_token"] == 0  # the credentials were right

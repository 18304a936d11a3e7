"""Every refused call is visible: counted by class in the summary and the metric, sampled to refusals.jsonl
(without query strings), filed under the cause the refused-calls SLA reads."""

import json
from pathlib import Path

import aiohttp
import pytest

from harness.core.contract import INJECTED_HEADER
from harness.platform import refusals
from tests.platform.helpers import APP, SECRET, Bot, async_test, server

pytestmark = pytest.mark.integration


def classes(srv) -> dict[tuple, dict]:
    return {
        (r["api"], r["method"], r["route"], r["status"], r["code"], r["cause"]): r for r in srv.summary()["refusals"]
    }


def metric(srv, **labels: str) -> float:
    return sum(
        s.value
        for family in srv.metrics.refusals.collect()
        for s in family.samples
        if s.name == "platform_refusals_total" and labels.items() <= s.labels.items()
    )


@async_test
async def test_unknown_routes_and_methods_are_refused_in_json_and_counted(tmp_path: Path):
    sampled = tmp_path / "refusals.jsonl"
    srv = server()
    srv = type(srv)(srv.settings, clock=srv.clock, refusals_file=sampled)
    async with srv, aiohttp.ClientSession() as http:
        async with http.get(f"{srv.url}/v1.0/robot/nothing?access_token=very-secret-token") as r:
            assert r.status == 404 and (await r.json())["code"] == "InvalidAction.NotFound"
        async with http.post(f"{srv.url}/v1.0/card/streaming", json={}) as r:
            body = await r.json()
            assert r.status == 405 and "PUT" in body["message"] and r.headers["Allow"] == "PUT"
        async with http.get(f"{srv.url}/gettoken", params={"appkey": APP, "appsecret": "wrong-secret"}) as r:
            assert r.status == 200 and (await r.json())["errcode"] == 40089
        async with http.get(f"{srv.url}/healthz") as r:
            assert r.status == 200
        found = classes(srv)
        assert found[("unknown", "GET", "/v1.0/robot/nothing", 404, "InvalidAction.NotFound", "bot")]["count"] == 1
        assert found[("card_streaming", "POST", "/v1.0/card/streaming", 405, "InvalidAction.MethodNotAllowed", "bot")]
        assert found[("access_token", "GET", "/gettoken", 200, "40089", "bot")]["reason"].startswith("invalid appkey")
        assert len(found) == 3  # the health check was answered, not refused
        assert metric(srv, api="unknown", status="404", cause="bot") == 1
        assert metric(srv, api="access_token", status="200", code="40089") == 1
    lines = [json.loads(x) for x in sampled.read_text().splitlines()]
    assert [(x["method"], x["path"], x["status"]) for x in lines] == [
        ("GET", "/v1.0/robot/nothing", 404),
        ("POST", "/v1.0/card/streaming", 405),
        ("GET", "/gettoken", 200),
    ]
    text = sampled.read_text()
    assert "very-secret-token" not in text and "wrong-secret" not in text and SECRET not in text


@async_test
async def test_each_refusal_is_filed_under_its_cause():
    faults = {"errors": {"robot_send": {"status": 429, "ratio": 1}}}
    async with server(faults) as srv, aiohttp.ClientSession() as http:
        bot = await Bot.connect(http, srv.url)
        headers = {"x-acs-dingtalk-access-token": await bot.token(srv.url)}
        send = {"robotCode": APP, "userIds": ["u1"], "msgKey": "sampleText", "msgParam": "{}"}
        async with http.post(f"{srv.url}/v1.0/robot/oToMessages/batchSend", json=send, headers=headers) as r:
            assert r.status == 429  # a fault the run injected
        async with http.post(f"{srv.url}/v1.0/robot/oToMessages/batchSend", json={}, headers=headers) as r:
            assert r.status == 429  # the fault still answers first, as the real platform's limit would
        async with http.post(
            f"{srv.url}/v1.0/oauth2/accessToken",
            json={"appKey": APP, "appSecret": "guess"},
            headers={INJECTED_HEADER: "abusive-client"},
        ) as r:
            assert r.status == 401  # the harness's own abusive client
        async with http.put(f"{srv.url}/v1.0/card/streaming", json={"outTrackId": "x"}, headers=headers) as r:
            assert r.status == 404  # a card nobody created: the bot's doing
        async with http.get(f"{srv.url}/user") as r:
            assert r.status == 400  # the user side: the harness's
        causes = {(k[0], k[3], k[5]): v["count"] for k, v in classes(srv).items()}
        assert causes == {
            ("robot_send", 429, "injected"): 2,
            ("access_token", 401, "injected"): 1,
            ("card_streaming", 404, "bot"): 1,
            ("user", 400, "harness"): 1,
        }


@async_test
async def test_an_emulator_error_is_a_500_named_as_the_emulators():
    srv = server()

    async def broken(request):
        raise RuntimeError("emulator bug")

    srv.openapi._robot_send = broken  # before start: the routes are built from it
    async with srv, aiohttp.ClientSession() as http:
        bot = await Bot.connect(http, srv.url)
        headers = {"x-acs-dingtalk-access-token": await bot.token(srv.url)}
        async with http.post(f"{srv.url}/v1.0/robot/groupMessages/send", json={}, headers=headers) as r:
            assert r.status == 500 and "emulator error" in (await r.json())["message"]
        (refused,) = srv.summary()["refusals"]
        assert (refused["api"], refused["status"], refused["code"]) == ("robot_send", 500, "InternalError")


@async_test
async def test_the_sample_and_the_classes_stay_bounded(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(refusals, "MAX_CLASSES", 3)
    sampled = tmp_path / "refusals.jsonl"
    srv = server()
    srv = type(srv)(srv.settings, clock=srv.clock, refusals_file=sampled)
    async with srv, aiohttp.ClientSession() as http:
        for _ in range(refusals.SAMPLE_PER_CLASS + 5):
            async with http.get(f"{srv.url}/v1.0/same") as r:
                assert r.status == 404
        for i in range(6):
            async with http.get(f"{srv.url}/v1.0/other-{i}") as r:
                assert r.status == 404
        found = srv.summary()["refusals"]
        assert sum(r["count"] for r in found) == refusals.SAMPLE_PER_CLASS + 5 + 6  # every one counted
        assert len(found) == 4 and found[-1]["route"] == refusals.OTHER_ROUTE and found[-1]["count"] == 4
    assert len(sampled.read_text().splitlines()) == refusals.SAMPLE_PER_CLASS + 2 + 4

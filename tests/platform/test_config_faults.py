"""TOML settings with errors that name the field; faults (drop, delay, ignored ACKs, storms, schedule)."""

import argparse
import asyncio
import json
from pathlib import Path

import aiohttp
import pytest

from harness.cli import platform as command
from harness.core.faults import Faults
from harness.platform import ConfigError, PlatformServer, load_toml
from tests.platform.helpers import DEADLINE, Bot, SteppedClock, User, async_test, poll, server
from tests.platform.test_openapi import CARD, call, token

pytestmark = pytest.mark.integration

GOOD = """
[settings]
reply_timeout_s = 30
qps_mode = "403"
port = 18080

[[apps]]
app_id = "a1"
secret = "s1"
scopes = ["qyapi_robot_sendmsg"]

[qps_limits]
card_streaming = 20

[faults]
push_drop_ratio = 0.1
schedule = [{at = 5, set = {push_drop_ratio = 0.0}}]
"""


def test_toml_file_loads_settings_apps_limits_and_faults(tmp_path):
    path = tmp_path / "platform.toml"
    path.write_text(GOOD)
    settings, faults = load_toml(path)
    assert settings.reply_timeout_s == 30.0 and settings.qps_mode == "403"
    assert settings.apps[0].app_id == "a1" and settings.apps[0].scopes == ("qyapi_robot_sendmsg",)
    assert dict(settings.qps_limits) == {"card_streaming": 20.0}
    assert faults["push_drop_ratio"] == 0.1


@pytest.mark.parametrize(
    "text, field",
    [
        ("[settings]\nreply_timeout = 3", "settings.reply_timeout"),
        ('[settings]\nack_timeout_s = "soon"', "settings.ack_timeout_s"),
        ('[settings]\nqps_mode = "418"', "qps_mode"),
        ('[[apps]]\napp_id = "a"', "apps[0].secret"),
        ('[[apps]]\napp_id = "a"\nsecret = "s"\nscope = []', "apps[0].scope"),
        ("[qps_limits]\nteleport = 3", "qps_limits.teleport"),
        ("[bogus]\nx = 1", "bogus"),
        ("not toml at all [", "not valid TOML"),
    ],
)
def test_toml_errors_name_the_field(tmp_path, text, field):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=field.replace("[", r"\[").replace("]", r"\]")):
        load_toml(path)


def test_cli_flags_override_the_file_and_faults_are_checked(tmp_path, monkeypatch):
    path = tmp_path / "platform.toml"
    path.write_text(GOOD)
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    monkeypatch.setenv(command.SECRET_ENV, "from-env")
    args = parser.parse_args(
        [
            "--config",
            str(path),
            "--app",
            "a2",
            "--reply-timeout",
            "5",
            "--qps",
            "robot_send=3",
            "--force-error",
            "card_streaming:401:0.5",
            "--drop-pushes",
            "0.2",
        ]
    )
    settings, faults = command.build(args)
    assert [a.app_id for a in settings.apps] == ["a1", "a2"] and settings.app("a2").secret == "from-env"
    assert settings.reply_timeout_s == 5 and dict(settings.qps_limits)["robot_send"] == 3
    assert settings.port == 18080  # the file's port stands when no --port is given
    assert faults["errors"] == {"card_streaming": {"status": 401, "ratio": 0.5}} and faults["push_drop_ratio"] == 0.2
    with pytest.raises(ConfigError, match="--force-error"):
        command.build(parser.parse_args(["--app", "x", "--force-error", "card_streaming"]))


@async_test
async def test_dropped_pushes_are_redelivered_and_delayed_pushes_arrive_late():
    clock = SteppedClock()
    async with (
        server({"push_drop_ratio": 1.0}, ack_timeout_s=30, reply_timeout_s=300, clock=clock) as srv,
        aiohttp.ClientSession() as http,
    ):
        bot, user = await Bot.connect(http, srv.url), await User.connect(http, srv.url)
        await user.send()
        await poll(lambda: srv.ledger.counts["pushed"] == 1)
        clock.step(31)  # the dropped push's ACK timeout: pushed again, and dropped again
        await poll(lambda: srv.ledger.counts["redelivered"] == 1)
        async with http.post(f"{srv.url}/admin/faults", json={"push_drop_ratio": 0, "push_delay_s": 30}) as r:
            assert r.status == 200
        clock.step(31)  # that one's ACK timeout: pushed again, held back for 30 s
        await poll(lambda: srv.summary()["faults_applied"].get("push_delayed") == 1)
        clock.step(31)
        frame = await bot.frame("CALLBACK")
        await bot.ack(frame)
        faults = srv.summary()["faults_applied"]
        assert faults["push_dropped"] >= 1 and faults["push_delayed"] >= 1


@async_test
async def test_ignored_acks_cause_redelivery():
    clock = SteppedClock()
    async with (
        server({"ignore_acks_ratio": 1.0}, ack_timeout_s=30, redeliver_max=1, reply_timeout_s=300, clock=clock) as srv,
        aiohttp.ClientSession() as http,
    ):
        bot, user = await Bot.connect(http, srv.url), await User.connect(http, srv.url)
        await user.send()
        await bot.ack(await bot.frame("CALLBACK"))
        await poll(lambda: srv.summary()["faults_applied"].get("ack_ignored") == 1)
        clock.step(31)  # the ACK timeout, as if the ACK never came
        await bot.ack(await bot.frame("CALLBACK"))  # the redelivery
        assert srv.ledger.counts["acked"] == 0 and srv.summary()["faults_applied"]["ack_ignored"] >= 1


@async_test
async def test_scheduled_disconnect_storm():
    schedule = [{"at": 0.2, "set": {"disconnect_every_s": 0.5}}]
    async with server({"schedule": schedule}, disconnect_grace_s=0.2) as srv, aiohttp.ClientSession() as http:
        bot = await Bot.connect(http, srv.url)
        frame = await bot.frame("SYSTEM")
        assert frame["headers"]["topic"] == "disconnect" and "storm" in json.loads(frame["data"])["reason"]
        await poll(lambda: srv.ledger.connections["current"] == 0)
        assert srv.faults.disconnect_every_s == 0.5


@pytest.mark.parametrize(("kind", "draw"), [("abrupt", None), ("mixed", "abrupt"), ("mixed", "system")])
@async_test
async def test_a_storm_ends_connections_the_disconnect_kind_way(kind, draw):
    async with server({"disconnect_every_s": 0.5, "disconnect_kind": kind}, disconnect_grace_s=30) as srv:
        if draw is not None:  # script the draw between system and abrupt
            srv.faults.rng.choice = lambda options: draw  # type: ignore[method-assign]
        async with aiohttp.ClientSession() as http:
            bot = await Bot.connect(http, srv.url)
            first = await asyncio.wait_for(bot.ws.receive(), DEADLINE)
            if (draw or kind) == "abrupt":  # the socket drops: no SYSTEM frame, no close frame
                assert first.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
            else:
                assert json.loads(first.data)["headers"]["topic"] == "disconnect"
            assert srv.summary()["faults_applied"]["disconnect_storm"] >= 1


@async_test
async def test_shutdown_counts_pending_as_lost_and_writes_the_ledger_file(tmp_path):
    target = tmp_path / "ledger.json"
    srv = server()
    srv.ledger_file = target
    async with srv, aiohttp.ClientSession() as http:
        user = await User.connect(http, srv.url)
        await user.send()
        await user.expect("accepted")
        await user.ws.close()
    ledger = json.loads(target.read_text())
    assert ledger["messages"]["lost"] == 1 and ledger["messages"]["pending"] == 0
    assert "stopped" in ledger["lost_sample"][0]["reason"]


def test_the_toml_example_in_the_docs_loads(tmp_path):
    doc = (Path(__file__).resolve().parents[2] / "docs" / "platform.md").read_text()
    example = doc.split("## TOML file")[1].split("```toml")[1].split("```")[0]
    path = tmp_path / "example.toml"
    path.write_text(example)
    settings, faults = load_toml(path)
    assert settings.robots[0].conversation_id == "cid-ops" and faults["schedule"][1]["at"] == 120
    PlatformServer(settings, faults)  # faults and schedule are valid too


@async_test
async def test_grace_push_fault_sends_to_the_connection_being_retired():
    async with server({"grace_push_ratio": 1.0}, disconnect_grace_s=30) as srv, aiohttp.ClientSession() as http:
        old = await Bot.connect(http, srv.url)
        srv.gateway.disconnect(reason="rebalance")
        assert (await old.frame("SYSTEM"))["headers"]["topic"] == "disconnect"
        new = await Bot.connect(http, srv.url)
        user = await User.connect(http, srv.url)
        await user.send()
        await old.frame("CALLBACK")  # the retiring connection still got it
        assert srv.summary()["faults_applied"]["pushed_during_grace"] == 1
        await new.ws.close()


@async_test
async def test_shutdown_drain_waits_for_in_flight_answers(tmp_path):
    srv = server()
    srv.drain_s = 30
    async with aiohttp.ClientSession() as http:
        await srv.start()
        bot, user = await Bot.connect(http, srv.url), await User.connect(http, srv.url)
        await user.send()
        frame = await bot.frame("CALLBACK")
        stopping = asyncio.create_task(srv.stop())
        await asyncio.sleep(0)  # one turn of the loop: stop() runs up to its drain wait
        assert not stopping.done()
        await http.post(json.loads(frame["data"])["sessionWebhook"], json={"msgtype": "text", "text": {"content": "x"}})
        await asyncio.wait_for(stopping, 20)
    assert srv.ledger.counts["replied"] == 1 and srv.ledger.counts["lost"] == 0


@async_test
async def test_shutdown_drain_gives_up_after_drain_s():
    clock = SteppedClock()
    srv = server(clock=clock, reply_timeout_s=300)
    srv.drain_s = 30
    async with aiohttp.ClientSession() as http:
        await srv.start()
        bot, user = await Bot.connect(http, srv.url), await User.connect(http, srv.url)
        await user.send()
        await bot.ack(await bot.frame("CALLBACK"))
        stopping = asyncio.create_task(srv.stop())
        await asyncio.sleep(0)  # one turn of the loop: stop() runs up to its drain wait
        assert not stopping.done() and srv.ledger.counts["lost"] == 0
        clock.step(31)  # the drain period passes without an answer
        await asyncio.wait_for(stopping, 20)
    lost = srv.summary()["lost_sample"]
    assert srv.ledger.counts["lost"] == 1 and lost[0]["reason"] == "emulator stopped before the message was answered"


@async_test
async def test_qps_mode_switches_at_run_time_and_reverts_to_the_setting():
    async with server(qps_limits={"card_create": 1.0}) as srv, aiohttp.ClientSession() as http:
        _, tok = await token(http, srv.url)

        async def limited_answer() -> tuple[int, str]:
            """Call until the limit answers (the bucket holds one call); the limited status and code."""
            for i in range(10):
                status, body = await call(
                    http,
                    "POST",
                    f"{srv.url}/v1.0/card/instances/createAndDeliver",
                    tok["accessToken"],
                    {**CARD, "outTrackId": f"c{i}"},
                )
                if status != 200:
                    return status, body["code"]
            raise AssertionError("the QPS limit never answered")

        assert await limited_answer() == (429, "Throttling")
        async with http.post(f"{srv.url}/admin/faults", json={"qps_mode": "403"}) as r:
            assert r.status == 200 and (await r.json())["qps_mode"] == "403"
        assert await limited_answer() == (403, "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi")
        for bad in (403, "418"):
            async with http.post(f"{srv.url}/admin/faults", json={"qps_mode": bad}) as r:
                assert r.status == 400 and "faults.qps_mode: must be one of" in (await r.json())["message"]
        async with http.post(f"{srv.url}/admin/faults", json={"qps_mode": None}) as r:  # what `until` sends
            assert r.status == 200 and (await r.json())["qps_mode"] is None
        assert await limited_answer() == (429, "Throttling")


def _strict_json(text: str) -> object:
    """JSON as the standard defines it: NaN and Infinity are not numbers there."""

    def refuse(constant: str) -> None:
        raise AssertionError(f"not valid JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


@async_test
async def test_non_finite_and_huge_numbers_are_refused_and_change_nothing():
    async with server() as srv, aiohttp.ClientSession() as http:
        for literal, problem in (
            ("NaN", "must be a finite number"),
            ("Infinity", "must be a finite number"),
            ("-Infinity", "must be a finite number"),
            ("1e308", "must be between 0 and"),
        ):
            for field, body in (
                ("faults.push_delay_s", '{"push_delay_s": %s}'),
                ("faults.errors.card_streaming.ratio", '{"errors": {"card_streaming": {"status": 429, "ratio": %s}}}'),
                ("faults.schedule[0].at", '{"schedule": [{"at": %s, "set": {"push_drop_ratio": 1}}]}'),
            ):
                async with http.post(
                    f"{srv.url}/admin/faults", data=body % literal, headers={"Content-Type": "application/json"}
                ) as r:
                    message = (await r.json())["message"]
                    assert r.status == 400 and message.startswith(f"{field}: "), message
                    if field != "faults.schedule[0].at":
                        assert problem in message, message
        async with http.get(f"{srv.url}/admin/faults") as r:
            faults = _strict_json(await r.text())
        assert faults == Faults().as_dict()


@async_test
async def test_a_schedule_entry_with_until_puts_the_switch_back():
    """The emulator on its own plays `at` / `until` as seconds after the POST (Monday 00:00 on its clock)."""
    async with server({"push_drop_ratio": 0.25}) as srv, aiohttp.ClientSession() as http:
        entry = {"at": 0.1, "until": "Mon 00:00:01", "set": {"push_drop_ratio": 1.0}}
        async with http.post(f"{srv.url}/admin/faults", json={"schedule": [entry]}) as r:
            assert r.status == 200
        await poll(lambda: srv.faults.push_drop_ratio == 1.0, "the scheduled fault")
        await poll(lambda: srv.faults.push_drop_ratio == 0.25, "the value before `at` to come back")

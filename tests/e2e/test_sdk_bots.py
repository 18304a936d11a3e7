"""Bots written with the official SDKs as `harness run` targets (`[target] kind = "command"`): each
walks every path its SDK offers a chat bot and must end PASS with every message answered and no call
refused; a bot whose calls are refused ends FAIL, with the refusals in the report and the diagnosis."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from harness.core.contract import ExitCode
from tests.e2e.runs_week import run_harness
from tests.sdk_bots.node import HERE, require_node_sdk

pytestmark = pytest.mark.e2e

# Smoke-sized: a quarter of a minute of one-to-one, group and membership traffic. The latency target
# is relaxed: these runs check protocol fidelity, on a shared machine.
SDK_BOT_SCENARIO = """
name = "{name}"
[target]
kind = "command"
command = {command}
[shape]
kind = "smoke"
users = 6
duration_s = 14
[load]
messages_per_user_per_minute = 30
reply_timeout_s = 8
window_s = 2
[mix]
one_to_one = 60
group = 30
membership = 10
group_conversations = 100
smoke_interval_s = 0
[sla]
p99_latency_seconds = 2.0
"""

# A Python-SDK bot that answers every message, then finishes an AI card it never created: the call the
# platform refuses (404 InvalidParameter.OutTrackId) while every message still counts as answered.
CARELESS_BOT = """
import os
import dingtalk_stream
from dingtalk_stream import AckMessage, AICardReplier


class Careless(dingtalk_stream.ChatbotHandler):
    async def process(self, callback):
        incoming = dingtalk_stream.ChatbotMessage.from_dict(callback.data)
        self.reply_text("echo: " + incoming.text.content.strip(), incoming)
        AICardReplier(self.dingtalk_client, incoming).finish("card-never-created", {"msgContent": "done"})
        return AckMessage.STATUS_OK, "OK"


class Events(dingtalk_stream.EventHandler):
    async def process(self, event):
        return AckMessage.STATUS_OK, "OK"


client = dingtalk_stream.DingTalkStreamClient(
    dingtalk_stream.Credential(os.environ["DINGTALK_CLIENT_ID"], os.environ["DINGTALK_CLIENT_SECRET"])
)
client.register_callback_handler(dingtalk_stream.ChatbotMessage.TOPIC, Careless())
client.register_all_event_handler(Events())
client.start_forever()
"""


def scenario(name: str, command: list[str]) -> str:
    return SDK_BOT_SCENARIO.format(name=name, command=json.dumps(command))


def assert_every_message_answered_and_nothing_refused(run_dir: Path) -> None:
    report = json.loads((run_dir / "report.json").read_text())
    # these runs share the machine with another test (make test): a busy rig may make them INCONCLUSIVE,
    # never FAIL; every message must be answered either way
    rig_busy = report["verdict"] == "INCONCLUSIVE" and not report["rig"]["held"]
    assert report["verdict"] == "PASS" or rig_busy, (report["summary"], report["incomplete_reasons"])
    load = report["load"]
    assert load["sent"] > 20 and load["replies_ok"] == load["sent"] and load["timeouts"] == load["errors"] == 0
    ledger = json.loads((run_dir / "ledger.json").read_text())
    assert ledger["messages"]["lost"] == 0 and ledger["messages"]["duplicate_replies"] == 0
    assert ledger["events"]["acked"] == ledger["events"]["sent"] > 0  # membership events ACKed
    assert ledger["refusals"] == [] and report["refusals"] == []
    assert next(s for s in report["slas"] if s["id"] == "refused_calls")["status"] == "pass"
    assert report["findings"] == []


def test_a_python_sdk_bot_passes(tmp_path: Path):
    command = [sys.executable, str(HERE / "python_bot.py")]
    result = run_harness(scenario("python-sdk-bot", command), tmp_path, "--no-prometheus", timeout=240)
    assert result.returncode in (ExitCode.OK, ExitCode.INCONCLUSIVE), result.output[-3000:]
    assert_every_message_answered_and_nothing_refused(result.run_dir)
    log = (result.run_dir / "logs" / "bot.log").read_text()
    assert "by ai_card" in log and "by robot_send" in log and "old-API token taken" in log


def test_a_node_sdk_bot_passes_through_the_preload(tmp_path: Path):
    node = require_node_sdk()
    command = [node, str(HERE / "node_bot.mjs")]
    result = run_harness(scenario("node-sdk-bot", command), tmp_path, "--no-prometheus", timeout=240)
    assert result.returncode in (ExitCode.OK, ExitCode.INCONCLUSIVE), result.output[-3000:]
    assert_every_message_answered_and_nothing_refused(result.run_dir)
    log = (result.run_dir / "logs" / "bot.log").read_text()
    assert "by ai_card" in log and "by media" in log


def test_a_bot_whose_calls_are_refused_fails_with_the_refusals_named(tmp_path: Path):
    bot = tmp_path / "careless_bot.py"
    bot.write_text(CARELESS_BOT)
    result = run_harness(scenario("careless-bot", [sys.executable, str(bot)]), tmp_path, "--no-prometheus", timeout=240)
    assert result.returncode == ExitCode.SLA_BREACHED, result.output[-3000:]
    report = json.loads((result.run_dir / "report.json").read_text())
    assert report["load"]["replies_ok"] == report["load"]["sent"] > 20  # every message answered, yet FAIL
    assert [s["id"] for s in report["slas"] if s["status"] == "fail"] == ["refused_calls"]
    (refused,) = report["refusals"]
    assert (refused["api"], refused["method"], refused["route"], refused["status"], refused["code"]) == (
        "card_create",
        "PUT",
        "/v1.0/card/instances",
        404,
        "InvalidParameter.OutTrackId",
    )
    assert refused["cause"] == "bot" and refused["count"] == report["load"]["sent"]
    md, html = (result.run_dir / "report.md").read_text(), (result.run_dir / "report.html").read_text()
    assert "| card_create | `PUT /v1.0/card/instances` | 404 | InvalidParameter.OutTrackId | **bot** |" in md
    assert 'class="refusal" data-cause="bot"' in html and "InvalidParameter.OutTrackId" in html
    (finding,) = report["findings"]
    assert finding["id"] == "refused.404.card_create" and finding["runbook"] == "runbooks/404.md"
    assert finding["title"] in md and finding["title"] in html
    lines = (result.run_dir / "refusals.jsonl").read_text().splitlines()
    assert 0 < len(lines) <= 20 and json.loads(lines[0])["path"] == "/v1.0/card/instances"

"""The harness's preload points the official Node SDK at the emulator without changing the bot's code:
its hard-coded gateway and old-API token URLs, axios and fetch calls to DingTalk's hosts, from an ES
module and from CommonJS alike."""

import asyncio
import json
import os
import subprocess

import pytest

from harness.cli.main import main
from harness.core.contract import ExitCode
from harness.platform import sdk
from tests.platform.helpers import APP, SECRET, async_test, server
from tests.sdk_bots.node import HERE, require_node_sdk

pytestmark = pytest.mark.integration


def node_env(url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DINGTALK_OPENAPI_ENDPOINT": url,
        "DINGTALK_CLIENT_ID": APP,
        "DINGTALK_CLIENT_SECRET": SECRET,
        "NODE_OPTIONS": sdk.node_options(),
        **extra,
    }


async def run_node(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    proc = await asyncio.create_subprocess_exec(
        *args, cwd=HERE, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    return subprocess.CompletedProcess(args, proc.returncode or 0, out.decode(), err.decode())


@async_test
async def test_the_node_sdk_reaches_the_emulator_through_the_preload():
    node = require_node_sdk()
    async with server() as srv:
        done = await run_node([node, "preload_probe.mjs"], node_env(srv.url))
        assert done.returncode == 0, done.stderr[-2000:]
        seen = json.loads(done.stdout.strip().splitlines()[-1])
        assert seen == {
            "legacyToken": True,
            "endpoint": srv.gateway.ws_url,
            "oauth": True,
            "fetchedErrcode": 40089,
        }
        summary = srv.summary()
        assert summary["login_failures"]["access_token"] == 1  # the fetch with a wrong secret
        assert {(r["route"], r["code"]) for r in summary["refusals"]} == {("/gettoken", "40089")}


@async_test
async def test_commonjs_bots_and_other_hosts():
    node = require_node_sdk()
    script = """
const { DWClient } = require('dingtalk-stream');
const http = require('node:http');
const client = new DWClient({ clientId: process.env.DINGTALK_CLIENT_ID, clientSecret: process.env.DINGTALK_CLIENT_SECRET });
client.getAccessToken().then((token) => {
  // a host that is not DingTalk's passes untouched: the emulator's own health check
  http.get(process.env.DINGTALK_OPENAPI_ENDPOINT + '/healthz', (res) => {
    console.log(JSON.stringify({ token: token.length > 20, health: res.statusCode }));
  });
});
"""
    async with server() as srv:
        done = await run_node([node, "-e", script], node_env(srv.url, NODE_PATH=str(HERE / "node_modules")))
        assert done.returncode == 0, done.stderr[-2000:]
        assert json.loads(done.stdout.strip()) == {"token": True, "health": 200}
        assert srv.summary()["refusals"] == []


def test_the_cli_prints_the_preload_path(capsys):
    assert main(["platform", "--node-preload"]) == ExitCode.OK
    path = capsys.readouterr().out.strip()
    assert path == str(sdk.node_preload()) and path.endswith("dingtalk_preload.cjs")


def test_node_options_add_the_preload_once():
    once = sdk.node_options("--max-old-space-size=512")
    assert once.startswith("--max-old-space-size=512 --require ") and once.endswith("dingtalk_preload.cjs")
    assert sdk.node_options(once) == once

"""The optional HTTP engine against a real OpenAI-compatible streaming endpoint on loopback."""

import json

import pytest
from aiohttp import web

from tests.aio import served
from tests.bot.helpers import User, async_test, running

pytestmark = pytest.mark.integration

WORDS = ["Reset ", "it ", "from ", "the ", "self-service ", "portal."]


async def chat_completions(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    assert body["stream"] is True and body["model"] == "tiny-model" and body["max_tokens"] == 64
    assert request.headers["Authorization"] == "Bearer engine-key"
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    for word in WORDS:
        chunk = {"choices": [{"delta": {"content": word}}]}
        await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
    await resp.write(b"data: [DONE]\n\n")
    return resp


@async_test
async def test_openai_compatible_engine_streams_into_the_card(monkeypatch):
    monkeypatch.setenv("TEST_ENGINE_KEY", "engine-key")
    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat_completions)
    async with (
        served(app) as engine_url,
        running(
            engine__kind="openai",
            engine__openai_base_url=f"{engine_url}/v1",
            engine__openai_api_key_env="TEST_ENGINE_KEY",
            engine__chunk_tokens=2,
            nlp_engine__model_path="tiny-model",
            nlp_engine__max_tokens=64,
        ) as (srv, bot),
        User.connect(srv.url) as user,
    ):
        frames = await user.until(await user.send("how do I reset my password?"))
        assert [f["content"] for f in frames if f["type"] == "chunk"] == [
            "Reset it ",
            "Reset it from the ",
            "Reset it from the self-service portal.",
        ]
        assert frames[-1]["via"] == "card" and frames[-1]["content"] == "".join(WORDS)
        assert bot.engine.name == "openai:tiny-model"

"""Optional real engine: any OpenAI-compatible `/chat/completions` endpoint, streamed (SSE)."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator

import aiohttp

from reference_bot.config import Engine as EngineConfig
from reference_bot.config import NlpEngine


class OpenAIEngine:
    def __init__(self, session: aiohttp.ClientSession, config: EngineConfig, nlp: NlpEngine) -> None:
        self.session = session
        self.url = config.openai_base_url.rstrip("/") + "/chat/completions"
        self.nlp = nlp
        self.name = f"openai:{nlp.model_path}"
        self._api_key = os.environ.get(config.openai_api_key_env, "")
        self._chunk_tokens = config.chunk_tokens

    def streams(self) -> bool:
        return True

    async def generate(self, text: str) -> AsyncIterator[str]:
        body = {
            "model": self.nlp.model_path,
            "messages": [{"role": "user", "content": text}],
            "temperature": self.nlp.temperature,
            "max_tokens": self.nlp.max_tokens,
            "stream": True,
        }
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        pending: list[str] = []
        async with self.session.post(self.url, json=body, headers=headers) as resp:
            if resp.status != 200:
                raise RuntimeError(f"engine endpoint answered HTTP {resp.status}")
            async for raw in resp.content:  # one SSE line at a time
                line = raw.decode("utf-8", "replace").strip()
                if not line.startswith("data:") or line == "data: [DONE]":
                    continue
                choices = json.loads(line[5:]).get("choices") or [{}]
                delta = (choices[0].get("delta") or {}).get("content")
                if delta:
                    pending.append(delta)
                if len(pending) >= self._chunk_tokens:  # group deltas so each card update carries several
                    yield "".join(pending)
                    pending.clear()
        if pending:
            yield "".join(pending)

    async def close(self) -> None:
        return None

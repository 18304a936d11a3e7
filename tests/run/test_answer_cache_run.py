"""A run that turns the reference bot's answer cache on: its own Redis, or plainly none."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from harness.core.scenario.config import ScenarioError, parse_scenario
from harness.run import components
from harness.run.orchestrator import Run, RunOptions
from harness.run.redis import pings
from tests.tools import needs_tool

pytestmark = pytest.mark.integration

CACHE_ON = {"target": {"config": {"answer_cache": {"enabled": True, "ttl_seconds": 60}, "logging.queue": True}}}


def make_run(tmp_path: Path, data: dict) -> Run:
    return Run(parse_scenario(data, "cache"), RunOptions(runs_dir=tmp_path / "runs", out=io.StringIO()))


def test_target_config_becomes_the_bot_s_set_flags_and_only_for_the_reference_bot(tmp_path: Path):
    scenario = parse_scenario(CACHE_ON, "cache")
    assert scenario.target.bot_settings() == {
        "answer_cache.enabled": True,
        "answer_cache.ttl_seconds": 60,
        "logging.queue": True,
    }
    bot = components.reference_bot(tmp_path, tmp_path / "ready", "http://p", {}, scenario, "127.0.0.1")
    flags = [bot.argv[i + 1] for i, arg in enumerate(bot.argv) if arg == "--set"]
    assert flags == ["answer_cache.enabled=true", "answer_cache.ttl_seconds=60", "logging.queue=true"]
    with pytest.raises(ScenarioError, match=r"target\.config: only applies to the built-in reference bot"):
        parse_scenario({"target": {"kind": "url", "platform_url": "http://x", "config": {"a": 1}}}, "x")


@needs_tool("redis-server")
def test_the_run_starts_its_own_redis_for_the_cache_and_stops_it(tmp_path: Path):
    run = make_run(tmp_path, CACHE_ON)
    try:
        settings = run._bot_settings()
        url = settings["answer_cache.url"]
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        assert settings["answer_cache.enabled"] is True and pings(port)
        manifest = json.loads((run.run_dir / "manifest.json").read_text())
        assert manifest["answer_cache"]["available"] is True and manifest["answer_cache"]["url"] == url
        redis_comp = next(c for c in run.components if c.name == "redis")
        assert redis_comp.stop() is not None and not pings(port)
    finally:
        for comp in run.components:
            comp.stop()
        shutil.rmtree(run.ready_dir, ignore_errors=True)


def test_without_redis_the_run_says_so_and_goes_on_without_the_cache(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no redis-server to be found
    run = make_run(tmp_path, CACHE_ON)
    try:
        settings = run._bot_settings()
        assert settings["answer_cache.enabled"] is False and "answer_cache.url" not in settings
        assert not run.components
        out = run.options.out.getvalue()
        assert "warning: redis-server not found: the run goes on WITHOUT the answer cache" in out
        manifest = json.loads((run.run_dir / "manifest.json").read_text())
        assert manifest["answer_cache"] == {
            "available": False,
            "reason": "redis-server not found",
            "hint": "install Redis (Debian/Ubuntu: apt-get install redis-server)",
        }
        assert any("WITHOUT the answer cache" in w for w in manifest["warnings"])
    finally:
        shutil.rmtree(run.ready_dir, ignore_errors=True)

import json
from pathlib import Path

import pytest

from reference_bot.config import BotConfig, ConfigError, Secrets, load_config, parse_config

pytestmark = pytest.mark.unit

EXAMPLE = Path(__file__).resolve().parents[2] / "reference_bot" / "config.example.json"


def test_defaults_are_the_source_design():
    cfg = parse_config({})
    chat = cfg.channels.enterprise_chat
    assert (chat.stream_mode, chat.auth_type) == ("websocket", "HMAC-SHA256")
    assert (chat.retry_policy.max_attempts, chat.retry_policy.backoff_factor) == (3, 1.5)
    assert (cfg.nlp_engine.temperature, cfg.nlp_engine.max_tokens) == (0.7, 512)
    assert cfg.heartbeat.interval_seconds == 30.0
    assert cfg.reconnect.max_delay_seconds == 300.0
    assert cfg.buffer.capacity == 1000


def test_example_file_loads_and_equals_defaults():
    assert load_config(EXAMPLE) == BotConfig()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"channels": {"enterprise_chat": {"stream_mode": "polling"}}},
            'channels.enterprise_chat.stream_mode: must be "websocket", got "polling"',
        ),
        (
            {"channels": {"enterprise_chat": {"auth_type": "MD5"}}},
            'channels.enterprise_chat.auth_type: must be "HMAC-SHA256", got "MD5"',
        ),
        (
            {"channels": {"enterprise_chat": {"retry_policy": {"max_attempts": 0}}}},
            "channels.enterprise_chat.retry_policy.max_attempts: must be between 1 and 10, got 0",
        ),
        ({"nlp_engine": {"temperature": "hot"}}, 'nlp_engine.temperature: must be a number, got "hot"'),
        ({"nlp_engine": {"max_tokens": 1.5}}, "nlp_engine.max_tokens: must be an integer, got 1.5"),
        (
            {"channels": {"enterprise_chat": {"enabled": "yes"}}},
            'channels.enterprise_chat.enabled: must be true or false, got "yes"',
        ),
        ({"buffer": {"capacity": 0}}, "buffer.capacity: must be between 1 and 1000000, got 0"),
        ({"engine": {"kind": "gpt"}}, 'engine.kind: must be one of "simulated", "openai", got "gpt"'),
        ({"heartbeat": {"interval": 30}}, "heartbeat.interval: unknown field (known: interval_seconds)"),
        ({"reconnect": 5}, "reconnect: must be a table / object, got 5"),
        ({"platform": {"client_secret": "x"}}, "platform.client_secret: secrets do not belong in config.json"),
        ({"admin": {"db_pass": "x"}}, "admin.db_pass: secrets do not belong in config.json"),
        ({"platform": {"auth_header": "x"}}, "platform.auth_header: secrets do not belong in config.json"),
        ({"engine": {"kind": "openai"}}, 'engine.openai_base_url: must be a URL such as "http://127.0.0.1:8000/v1"'),
        ({"engine": {"tokens_per_second": float("nan")}}, "engine.tokens_per_second: must be a finite number, got NaN"),
        ({"nlp_engine": {"temperature": 1e308}}, "nlp_engine.temperature: must be between 0 and 2, got 1e+308"),
    ],
)
def test_bad_values_name_the_field_and_the_expected_value(data, expected):
    with pytest.raises(ConfigError) as err:
        parse_config(data)
    assert expected in str(err.value)


def test_all_problems_are_reported_at_once():
    with pytest.raises(ConfigError) as err:
        parse_config({"buffer": {"capacity": -1, "workers": "many"}})
    assert "buffer.capacity" in str(err.value) and "buffer.workers" in str(err.value)


def test_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "config.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match=r"config.json: not valid JSON: .* line 1"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.json")


def test_overrides_are_validated_like_the_file(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"engine": {"reply_tokens": 5}}))
    assert load_config(path, {"engine.tokens_per_second": 9}).engine.reply_tokens == 5
    assert load_config(path, {"engine.reply_tokens": 7}).engine.reply_tokens == 7
    with pytest.raises(ConfigError, match=r"engine\.reply_tokens: must be an integer"):
        load_config(path, {"engine.reply_tokens": "x"})


def test_secrets_come_from_env_or_file_and_never_show(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-file\n")
    env = {"DINGTALK_CLIENT_SECRET": "from-env", "BOT_JWT_SECRET": "k" * 32, "BOT_ADMIN_PASSWORD": "pw"}
    assert Secrets.load(env=env).client_secret == "from-env"
    loaded = Secrets.load(str(secret_file), env=env)
    assert loaded.client_secret == "from-file"
    assert "from-file" not in repr(loaded) and "pw" not in repr(loaded).replace("password", "")
    generated = Secrets.load(env={})
    assert generated.jwt_key_generated and len(generated.jwt_key) >= 32
    with pytest.raises(ConfigError, match="--client-secret-file"):
        Secrets.load(str(tmp_path / "nope"), env=env)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999", "1e308"])
def test_non_finite_and_huge_numbers_in_the_file_are_refused_naming_the_field(tmp_path, literal):
    path = tmp_path / "config.json"
    path.write_text('{"reconnect": {"jitter": ' + literal + "}}")  # Python's json parses NaN / Infinity
    with pytest.raises(ConfigError, match=r"config.json: reconnect\.jitter: must be (a finite number|between 0 and 1)"):
        load_config(path)

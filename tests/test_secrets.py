"""The one secret-masking policy (harness.core.secrets), used by the run folder, the report and the bot."""

import pytest

from harness.core.secrets import MASK, is_secret_name, mask_args, mask_env, mask_mapping

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "name",
    [
        "DB_PASS",
        "SERVICE_CREDENTIALS",
        "AUTH_HEADER",
        "MY_PWD",
        "MY_API_KEY",
        "apiKey",
        "client-secret",
        "session_id",
        "PRIVATE_PEM",
        "COOKIE_JAR",
        "access_token",
        "PASSWD",
        "Authorization",
        "OAUTH_CLIENT",
    ],
)
def test_secret_looking_names(name):
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["REGION", "LOG_LEVEL", "MONKEY", "PASSENGERS", "author", "keyboard_layout", "port"])
def test_ordinary_names(name):
    assert not is_secret_name(name)


def test_tables_and_command_lines_are_masked():
    manifest = {
        "env": {"DB_PASS": "p1", "REGION": "eu"},
        "components": [{"command": "bot --client-secret p2 --x 1 token=p3"}],
        "nested": {"AUTH_HEADER": {"deep": "p4"}},
    }
    assert mask_mapping(manifest) == {
        "env": {"DB_PASS": MASK, "REGION": "eu"},
        "components": [{"command": "bot --client-secret *** --x 1 token=***"}],
        "nested": {"AUTH_HEADER": MASK},
    }
    assert mask_args("  python  -m bot --password hunter2  ") == "  python  -m bot --password ***  "


def test_env_values_are_shown_only_when_public_and_not_secret_looking():
    env = {"MY_PWD": "p", "REGION": "eu", "LOG": "debug"}
    assert mask_env(env, ["REGION", "MY_PWD"]) == {"MY_PWD": MASK, "REGION": "eu", "LOG": MASK}

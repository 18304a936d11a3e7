"""`harness doctor`'s flags, exit codes and probe table, without starting anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli.main import main
from harness.core.contract import PERMISSION_SCOPES, REQUIRED_SCOPE, ExitCode
from harness.run.doctor.checks import ITEMS, PROBES, Check, exit_code

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "argv, problem",
    [
        (["--platform", "http://127.0.0.1:9"], "DINGTALK_CLIENT_SECRET"),
        (["--platform", "http://127.0.0.1:9", "--target", "reference"], "--target: only without --platform"),
        (["--platform", "http://127.0.0.1:9", "--config", "p.toml"], "--config: only without --platform"),
        (["--client-id", "x"], "only with --platform"),
        (["--target", "command"], "--target command and --bot-command go together"),
        (["--target", "none", "--bot-command", "mybot"], "--target command and --bot-command go together"),
        (["--timeout", "0"], "--timeout must be > 0"),
    ],
)
def test_flags_that_do_not_go_together_are_a_usage_error(argv, problem, capsys, monkeypatch):
    monkeypatch.delenv("DINGTALK_CLIENT_SECRET", raising=False)
    assert main(["doctor", *argv]) == ExitCode.USAGE
    assert problem in capsys.readouterr().err


def test_a_bad_emulator_config_is_a_usage_error_naming_the_field(capsys, tmp_path: Path):
    config = tmp_path / "p.toml"
    config.write_text('[[apps]]\napp_id = "a"\nsecret = "s"\nip_whitelist = ["not-an-ip"]\n')
    assert main(["doctor", "--config", str(config)]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert "apps[0].ip_whitelist" in err and "'not-an-ip' is not an IP address" in err
    config.write_text("[settings]\nreply_timeout_s = 5\n")
    assert main(["doctor", "--config", str(config)]) == ExitCode.USAGE
    assert "no [[apps]]" in capsys.readouterr().err


def test_every_required_scope_has_one_probe_and_one_line():
    assert sorted(REQUIRED_SCOPE[api] for api in PROBES) == sorted(PERMISSION_SCOPES)
    assert [i for i in ITEMS if i.startswith("scope:")] == [f"scope:{s}" for s in PERMISSION_SCOPES]


def test_exit_code_is_by_the_worst_result_and_a_line_carries_its_fix():
    ok, bad, undecided = (
        Check("token", "pass", "d"),
        Check("stream", "fail", "d", "do this"),
        Check("bot_enabled", "unknown", "d"),
    )
    assert exit_code([ok]) == ExitCode.OK
    assert exit_code([ok, undecided]) == ExitCode.CHECKS_UNDECIDED == 3
    assert exit_code([ok, undecided, bad]) == ExitCode.CHECK_FAILED == 1
    assert bad.line().startswith("fail    stream connection") and bad.line().endswith("d; fix: do this")

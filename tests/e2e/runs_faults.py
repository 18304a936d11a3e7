"""`faults_run`: one short real run that injects every condition the alert rules watch for.

Real processes on loopback through the real `harness run` (emulator, reference bot, Locust, Prometheus
with the shipped rules, Alertmanager with the shipped routing). Load starts at simulated Tue 10:00
and plays in real time (spike shape); the conditions, in wall seconds after load start:

- 0-105 s: bad admin logins, 30 a minute (`[abuse]`) -> AdminLoginFailuresHigh (security + ticket);
- 0-105 s: 401 on 30 % of card streaming calls (emulator fault `errors`) -> PlatformUnauthorizedBurst;
- 0-105 s: permission 403 on 20 % of card creates -> PlatformPermissionDenied, and PlatformForbiddenBurst
  (which Alertmanager inhibits: the alert on the bot's error code names the cause);
- 0-135 s: a QPS limit of 8 card streaming calls a second (`qps_limits`), answered
  - 0-90 s as 429 Throttling -> PlatformRateLimitedBurst (its `for: 1m` needs about 70 s),
  - 90-135 s as DingTalk's 403 QpsLimitForAppkeyAndApi (the `qps_mode` fault) -> PlatformQpsLimited,
    and, should the 403s last long enough, PlatformForbiddenBurst on card_streaming (inhibited);
- 5-25 s: half of all pushes dropped (`push_drop_ratio`) -> MessagesLost{stage="not_acked"};
- 20-135 s: five times the load on a bot that burns 8 ms of CPU per token with 8 workers (spike shape,
  engine knobs) -> MessageBacklogHigh, MessageLatencyP99High, host CPU (see below);
- all along, the failed and slow replies -> Availability/LatencyBudgetBurnFast (page) and ...Slow
  (ticket, inhibited by the fast burn).

The reference bot is one Python process: its CPU burn saturates one core, which on a small host may
or may not take the whole host above 70 / 85 %. The test therefore checks the host CPU alerts against
the run's own host samples (samples.jsonl) rather than assuming them.

The report / diagnosis tests reuse this run (the module's EXPECTED_* tell what is in it).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.core.contract import ExitCode
from tests.e2e.runs_week import run_harness

FAULTS_SCENARIO = """
name = "alerts-e2e"
description = "Every alert condition injected into one short run (tests/e2e/runs_faults.py)"

[target.engine]
first_token_seconds = 0.05
tokens_per_second = 200
reply_tokens = 20
chunk_tokens = 4
cpu_ms_per_token = 8
workers = 8
buffer_capacity = 5000

[shape]
kind = "spike"
users = 8
spike_users = 40
spike_at_s = 20
spike_duration_s = 115
duration_s = 135
start = "Tue 10:00"

[load]
messages_per_user_per_minute = 30
reply_timeout_s = 10
window_s = 5

[mix]
smoke_interval_s = 10

[abuse]
logins_per_minute = 30
windows = [["Tue 10:00", "Tue 10:01:45"]]

[[faults]]
at = "Tue 10:00"
until = "Tue 10:01:45"
[faults.set]
errors.card_streaming = { status = 401, ratio = 0.3 }
errors.card_create = { status = 403, ratio = 0.2 }

[[faults]]
at = "Tue 10:00"
until = "Tue 10:02:15"
set = { qps_limits = { card_streaming = 8 } }

[[faults]]
at = "Tue 10:01:30"
until = "Tue 10:02:15"
set = { qps_mode = "403" }

[[faults]]
at = "Tue 10:00:05"
until = "Tue 10:00:25"
set = { push_drop_ratio = 0.5 }

[monitoring]
scrape_interval_s = 2
"""

# (alertname, labels the firing alert must carry): must fire in Prometheus during the run.
EXPECTED_FIRING: list[tuple[str, dict[str, str]]] = [
    ("AdminLoginFailuresHigh", {"category": "security"}),
    ("PlatformUnauthorizedBurst", {"api": "card_streaming"}),
    ("PlatformRateLimitedBurst", {"api": "card_streaming"}),
    ("PlatformPermissionDenied", {"api": "card_create"}),
    ("PlatformForbiddenBurst", {"api": "card_create"}),
    ("PlatformQpsLimited", {"api": "card_streaming", "code": "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi"}),
    ("MessagesLost", {"stage": "not_acked"}),
    ("MessageBacklogHigh", {"queue": "inbound"}),
    ("MessageLatencyP99High", {}),
    ("AvailabilityBudgetBurnFast", {"long_window": "1h"}),
    ("AvailabilityBudgetBurnSlow", {}),
    ("LatencyBudgetBurnFast", {"long_window": "1h"}),
    ("LatencyBudgetBurnSlow", {}),
]
# Fire or not with the host's other load (checked against samples.jsonl instead).
HOST_CPU_ALERTS = {"HostCpuHigh", "HostCpuAboveTarget"}
# (receiver, alertname) Alertmanager must deliver; inhibited alerts are left out on purpose.
EXPECTED_ROUTED: set[tuple[str, str]] = {
    ("security", "AdminLoginFailuresHigh"),
    ("ticket", "AdminLoginFailuresHigh"),
    ("page", "PlatformUnauthorizedBurst"),
    ("ticket", "PlatformRateLimitedBurst"),
    ("ticket", "PlatformQpsLimited"),
    ("page", "PlatformPermissionDenied"),
    ("page", "MessagesLost"),
    ("ticket", "MessageBacklogHigh"),
    ("page", "MessageLatencyP99High"),
    ("page", "AvailabilityBudgetBurnFast"),
    ("page", "LatencyBudgetBurnFast"),
}
# Always inhibited in this run: PlatformPermissionDenied (card_create) and PlatformQpsLimited
# (card_streaming) fire a minute earlier than the 403 burst on the same API and outlast it.
EXPECTED_INHIBITED = {"PlatformForbiddenBurst"}


@pytest.fixture(scope="session")
def faults_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of the complete run folder of FAULTS_SCENARIO: an SLA-failing run (exit code 1), or, when the
    shared machine's rig did not hold where it failed, an inconclusive one (exit code 5) that says so."""
    result = run_harness(FAULTS_SCENARIO, tmp_path_factory.mktemp("faults-run"), timeout=300)
    if result.returncode == ExitCode.INCONCLUSIVE:
        report = json.loads((result.run_dir / "report.json").read_text())
        assert report["rig"] and not report["rig"]["held"], report["summary"]
    else:
        assert result.returncode == ExitCode.SLA_BREACHED, f"should end with SLA breached:\n{result.output[-4000:]}"
    return result.run_dir

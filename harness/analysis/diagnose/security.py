"""Runbook as code: login-abuse bursts (runbooks/AdminLoginFailuresHigh.md).

Two doors are watched: the bot's admin API (login_failed / login_locked in the bot log, per wall
minute) and the platform's credential checks (connections/open and accessToken, from the ledger
snapshots). A burst is any minute above the security alert's threshold.
"""

from __future__ import annotations

from harness.analysis.diagnose.context import Context
from harness.analysis.diagnose.model import Evidence, Finding
from harness.core.contract import BotEvent

RUNBOOK = "runbooks/AdminLoginFailuresHigh.md"


def findings(ctx: Context) -> list[Finding]:
    limit = ctx.thresholds.failed_logins_per_minute
    bot = ctx.bot
    evidence = []
    busy_minutes = {m: n for m, n in bot.login_failed_per_minute.items() if n > limit}
    if busy_minutes:
        evidence.append(
            Evidence(
                f"{bot.login_failed.count} failed admin logins{ctx.span(bot.login_failed)}; {len(busy_minutes)} wall "
                f"minute(s) above {limit:.0f}/min, worst {max(busy_minutes.values())}; {len(bot.login_failed_users)} "
                f"username(s) from {len(bot.login_failed_remotes)} address(es)",
                f"logs/bot.log event={BotEvent.LOGIN_FAILED} / {BotEvent.LOGIN_LOCKED}",
            )
        )
        locked = bot.events.get(BotEvent.LOGIN_LOCKED, 0)
        if locked:
            evidence.append(
                Evidence(
                    f"the admin API locked the account out {locked} times (the lockout worked)",
                    f"logs/bot.log event={BotEvent.LOGIN_LOCKED}",
                )
            )
    for api, span in sorted(ctx.report.login_failures.items()):
        if span.peak_per_minute > limit:
            evidence.append(
                Evidence(
                    f"{span.count} failed credential checks on the platform's {api}, peak {span.peak_per_minute:.0f}"
                    f"/min, {ctx.sim(span.first_sim)} to {ctx.sim(span.last_sim)}",
                    "ledger.jsonl login_failures",
                )
            )
    if not evidence:
        return []
    fired = [a for a in ctx.report.alerts if a.alertname == "AdminLoginFailuresHigh"]
    if fired:
        evidence.append(Evidence(f"AdminLoginFailuresHigh fired at {ctx.sim(fired[0].started_sim)}", "alerts.jsonl"))
    return [
        Finding(
            "security.login_abuse",
            "Login-abuse burst",
            "warning",
            f"Failed logins came faster than {limit:.0f} per minute: a password-guessing or "
            "misconfigured-client burst.",
            "repeated bad credentials from a client: brute force, or a service with a stale secret",
            "block or rate-limit the source address, keep the lockout, rotate the credentials if a secret "
            "leaked; check which client sends them",
            RUNBOOK,
            evidence,
        )
    ]

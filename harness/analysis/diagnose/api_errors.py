"""Runbook as code: 401 / 403 / 429 from the platform's open API, by API and cause (runbooks/401.md,
403.md, 429.md).

The ledger counts every response by API, status and code, and the platform knows the scope each API
needs; a bot log in the optional format adds what the bot did about them (token refreshes, retries
exhausted, permission_denied with the scopes it lacks). Without such a log nothing is claimed about
the bot's side. DingTalk signals a QPS limit either as 429 or as 403 with a QpsLimit code: the code
tells the two 403s apart.
"""

from __future__ import annotations

from harness.analysis.diagnose.context import Context
from harness.analysis.diagnose.model import Evidence, Finding
from harness.analysis.report.model import ActivitySpan, ApiErrorSpan
from harness.core.contract import REQUIRED_SCOPE, BotEvent


def _kind(status: int, code: str) -> str | None:
    if status == 401:
        return "401"
    if status == 403:
        return "qps" if "QpsLimit" in code else "403"
    if status == 429:
        return "qps"
    return None


def _unauthorized(ctx: Context, api: str, span: ActivitySpan, evidence: list[Evidence]) -> Finding:
    logins = {k: v for k, v in (ctx.ledger.login_failures or {}).items() if v}
    examples = [ctx.bot.reply_failed_example.get((api, "401"), "")]
    text = " ".join(examples).lower()
    if logins:
        cause = (
            "wrong client secret / app secret: the platform refused the bot's credentials ("
            + ", ".join(f"{k} {v}" for k, v in logins.items())
            + ")"
        )
        action = "check the bot's DINGTALK client id / secret in its environment against the app's configuration"
    elif "expired" in text:
        cause = "expired access token: the bot used a token past its lifetime"
        action = "refresh the token before expiry (the SDK refreshes 5 min early) and once on 401"
    elif "injected" in text or ctx.injected(api, 401):
        cause = f"401s injected by the run's scenario ({ctx.injected(api, 401) or 'fault schedule'}): token rejected"
        action = "expected under this fault; check that the bot refreshed its token and retried once"
    else:
        cause = "invalid or expired access token, or a token signed with the wrong secret"
        action = "refresh the access token on 401 (once), and check the app secret the bot signs with"
    if ctx.bot.follows_contract:
        refreshed = ctx.bot.events.get(BotEvent.ACCESS_TOKEN_REFRESHED, 0)
        evidence.append(
            Evidence(
                f"the bot logged {refreshed} access-token refreshes",
                f"logs/bot.log event={BotEvent.ACCESS_TOKEN_REFRESHED}",
            )
        )
    else:
        evidence.append(Evidence(ctx.bot.absence, "logs/bot.log"))
    return Finding(
        f"api.401.{api}",
        f"{span.count} × 401 Unauthorized on {api}",
        "critical",
        f"The platform answered 401 InvalidAuthentication {span.count} times on {api}.",
        cause,
        action,
        "runbooks/401.md",
        evidence,
    )


def _forbidden(ctx: Context, api: str, span: ActivitySpan, evidence: list[Evidence]) -> Finding:
    logged = sorted(ctx.bot.permission_denied.get(api, set()))
    scopes = logged or ([REQUIRED_SCOPE[api]] if api in REQUIRED_SCOPE else [])
    scope_text = ", ".join(scopes) if scopes else "unknown (neither the platform nor the bot's log names it)"
    injected = ctx.injected(api, 403)
    cause = f"the app is missing the scope {scope_text}"
    if injected:
        evidence.append(Evidence(f"403s injected by the run's scenario ({injected})", "scenario.toml [[faults]]"))
        cause = f"403s injected by the run's scenario ({injected}), standing for a missing scope {scope_text}"
    evidence.append(
        Evidence(
            f"required scopes the platform named: {scope_text}",
            "logs/bot.log event=permission_denied requiredScopes"
            if logged
            else f"the platform's scope for {api} (accessdenieddetail.requiredScopes of its 403)",
        )
    )
    if ctx.bot.follows_contract:
        exhausted = sum(s.count for (a, st, _c), s in ctx.bot.retries_exhausted.items() if a == api and st == "403")
        evidence.append(
            Evidence(
                f"the bot logged {exhausted} calls giving up after retries on this 403 (a permission 403 "
                "must not be retried)",
                "logs/bot.log event=retries_exhausted",
            )
        )
    return Finding(
        f"api.403.{api}",
        f"{span.count} × 403 permission denied on {api}",
        "critical",
        f"The platform refused {span.count} calls to {api}: the access token lacks a permission.",
        cause,
        f"grant {scope_text} to the app in the developer console, then get a new access token",
        "runbooks/403.md",
        evidence,
    )


_QPS_FORMS = {429: "429 Throttling", 403: "403 QpsLimit"}


def _rate_limited(ctx: Context, api: str, statuses: list[int], span: ActivitySpan, evidence: list[Evidence]) -> Finding:
    """One finding per API for both forms of the QPS limit: a run may meet 429s and QpsLimit 403s."""
    codes = {str(s) for s in statuses}
    exhausted = sum(s.count for (a, st, _c), s in ctx.bot.retries_exhausted.items() if a == api and st in codes)
    failed = [(st, f) for st in sorted(codes, reverse=True) if (f := ctx.bot.reply_failed.get((api, st)))]
    evidence.append(Evidence(f"peak {span.peak_per_minute:.0f} rejections per wall minute", "ledger.jsonl deltas"))
    rejected = (ctx.ledger.lost_by_stage or {}).get("reply_rejected", 0)
    if rejected:
        evidence.append(
            Evidence(
                f"{rejected} messages were lost after the platform refused their reply",
                f"{ctx.ledger.source} lost_by_stage.reply_rejected",
            )
        )
    if ctx.bot.follows_contract:
        evidence.append(
            Evidence(
                f"the bot logged giving up {exhausted} times after the maximum attempts; "
                f"{span.count - exhausted} rejections were absorbed by retries",
                "logs/bot.log event=retries_exhausted",
            )
        )
    else:
        evidence.append(Evidence(ctx.bot.absence, "logs/bot.log"))
    for st, f in failed:
        evidence.append(
            Evidence(
                f"{f.count} replies failed because of the {_QPS_FORMS[int(st)]}{ctx.span(f)}",
                "logs/bot.log event=reply_failed",
            )
        )
    form = " and ".join(_QPS_FORMS[s] for s in sorted(set(statuses), reverse=True))
    injected = "; ".join(i for s in sorted(set(statuses)) if (i := ctx.injected(api, s)))
    cause = (
        f"injected by the run's scenario ({injected}); the finding shows how the bot coped"
        if injected
        else "the bot exceeded the platform's per-app per-API QPS limit"
    )
    return Finding(
        f"api.qps.{api}",
        f"{span.count} × rate limited ({form}) on {api}",
        "critical" if exhausted or rejected else "warning",
        f"The platform rate-limited {span.count} calls to {api} with {form}."
        + (
            " A 403 with a QpsLimit code is DingTalk's form of a rate limit, not a missing permission."
            if 403 in statuses
            else ""
        ),
        cause,
        "throttle calls per API (token bucket under the limit), batch streaming card updates, keep "
        "backoff with jitter on 429 / QpsLimit 403" + (", and raise the retry budget for replies" if exhausted else ""),
        "runbooks/429.md",
        evidence,
    )


def _final_totals(ctx: Context) -> list[ApiErrorSpan]:
    """The final ledger's response counts as spans of unknown time (when there were no snapshots)."""
    return [
        ApiErrorSpan(
            api=r.api, status=r.status, code=r.code, count=r.count, first_sim=None, last_sim=None, peak_per_minute=0.0
        )
        for r in ctx.ledger.api_responses or []
    ]


def _by_kind_and_api(spans: list[ApiErrorSpan]) -> dict[tuple[str, str], list[ApiErrorSpan]]:
    grouped: dict[tuple[str, str], list[ApiErrorSpan]] = {}
    for span in spans:
        kind = _kind(int(span.status), span.code)
        if kind and span.count:
            grouped.setdefault((kind, span.api), []).append(span)
    return grouped


def _merged(spans: list[ApiErrorSpan]) -> ActivitySpan:
    firsts = [s.first_sim for s in spans if s.first_sim is not None]
    lasts = [s.last_sim for s in spans if s.last_sim is not None]
    return ActivitySpan(
        count=sum(s.count for s in spans),
        first_sim=min(firsts, default=None),
        last_sim=max(lasts, default=None),
        peak_per_minute=max(s.peak_per_minute for s in spans),
    )


def findings(ctx: Context) -> list[Finding]:
    # no ledger.jsonl snapshots with these errors: fall back to the final totals
    grouped = _by_kind_and_api(ctx.report.api_errors) or _by_kind_and_api(_final_totals(ctx))
    out = []
    for (kind, api), spans in sorted(grouped.items()):
        total = _merged(spans)
        evidence = [
            Evidence(
                f"HTTP {s.status} {s.code} × {s.count}, between {ctx.sim(s.first_sim)} and "
                f"{ctx.sim(s.last_sim)} (resolution: the ledger snapshots)",
                "ledger api_responses (platform_api_responses_total)",
            )
            for s in spans
        ]
        if kind == "401":
            out.append(_unauthorized(ctx, api, total, evidence))
        elif kind == "403":
            out.append(_forbidden(ctx, api, total, evidence))
        else:
            out.append(_rate_limited(ctx, api, [int(s.status) for s in spans], total, evidence))
    return out

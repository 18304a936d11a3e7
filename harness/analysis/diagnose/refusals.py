"""Runbook as code: every call the platform refused the bot that the 401 / 403 / 429 findings do not
already explain: bad requests, unknown routes and resources, wrong methods, conflicts, platform errors
and the old API's errcodes (runbooks/400.md, 404.md, 405.md, 409.md, 5xx.md, errcode.md; 401.md,
403.md, 429.md for the stream and unknown routes).

Built from what the platform saw alone: the ledger's `refusals` (every refusal by class, with its
first reason and when) and refusals.jsonl (the first refusals of each class, for the reasons they
gave). A bot log in the optional format adds the replies the bot logged as failed on that API.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from harness.analysis.diagnose.context import Context
from harness.analysis.diagnose.model import Evidence, Finding
from harness.analysis.report.model import RefusalRow
from harness.core.contract import APIS

REFUSALS_FILE = "refusals.jsonl"
REASONS_SHOWN = 3

# Each kind of refusal: title, what it means, the likely cause, what to change in the bot, runbook page.
KINDS: dict[str, tuple[str, str, str, str, str]] = {
    "400": (
        "bad requests",
        "the platform could not accept the request as sent",
        "a required field missing or malformed, a body too large or not JSON (the reasons name the field)",
        "build the request as DingTalk's API reference gives it; check the field the reason names",
        "runbooks/400.md",
    ),
    "404-route": (
        "calls to routes the platform does not serve",
        "the platform has no API at this method and path",
        "a typo in the path, a wrong base URL (api.dingtalk.com vs oapi.dingtalk.com), or an API the "
        "emulator does not emulate (docs/protocol.md lists every route it serves)",
        "check the URL against DingTalk's API reference; if the API is real and the emulator lacks it, report it",
        "runbooks/404.md",
    ),
    "404": (
        "calls naming something the platform does not know",
        "the request named a resource (a card instance, ...) the platform has no record of",
        "the resource was never created, was created under another id, or the bot lost track of its id",
        "create the resource first and reuse its id unchanged (a card: its outTrackId, for every update and the finish)",
        "runbooks/404.md",
    ),
    "405": (
        "calls with the wrong HTTP method",
        "the route exists but not for this method",
        "the bot used another method than the API takes (e.g. POST where DingTalk's reference says PUT)",
        "use the method the API reference gives; the answer's Allow header names it",
        "runbooks/405.md",
    ),
    "409": (
        "conflicting calls",
        "the request conflicts with the platform's state",
        "an id reused for something else, or a change the platform's state no longer allows",
        "make ids unique per resource and re-read the state before changing it",
        "runbooks/409.md",
    ),
    "5xx": (
        "platform errors",
        "the platform failed to answer",
        "against the emulator an emulator bug (the reason names it, InternalError): the bot is not at fault; "
        "against DingTalk a transient failure",
        "report an emulator error with its reason; against DingTalk retry with backoff and jitter",
        "runbooks/5xx.md",
    ),
    "errcode": (
        "old-API refusals (errcode)",
        "DingTalk's old API (oapi) answered HTTP 200 with a nonzero errcode: a refusal despite the 200",
        "see the errcode: 40089 wrong appkey / appsecret on /gettoken, 310000 a custom robot's signature or "
        "timestamp, 300001 an unknown robot token, 90018 a QPS limit",
        "check the errcode, not only the HTTP status: fix the credentials or the signature it names",
        "runbooks/errcode.md",
    ),
    "401": (
        "unauthenticated calls",
        "the platform refused the caller's credentials or ticket",
        "the stream opened with an unknown, used or expired ticket, or a call without a valid token",
        "get a fresh ticket from connections/open for every stream connection; refresh access tokens early",
        "runbooks/401.md",
    ),
    "403": (
        "forbidden calls",
        "the platform refused the call for lack of a permission",
        "a missing permission scope",
        "grant the scope the answer names, then get a new access token",
        "runbooks/403.md",
    ),
    "qps": (
        "rate-limited calls",
        "the platform rate-limited the calls",
        "the bot exceeded the per-app per-API QPS limit",
        "throttle calls per API under the limit and back off with jitter",
        "runbooks/429.md",
    ),
}


def kind_of(row: RefusalRow) -> str:
    """Which runbook a refusal belongs to (its HTTP status, told apart further by its code)."""
    if row.status < 300:
        return "errcode"
    if row.status >= 500:
        return "5xx"
    if row.status == 404:
        return "404-route" if row.api == "unknown" or row.code == "InvalidAction.NotFound" else "404"
    if row.status == 403:
        return "qps" if "QpsLimit" in row.code else "403"
    if row.status == 429:
        return "qps"
    return str(row.status) if str(row.status) in KINDS else "400"


def _explained_elsewhere(row: RefusalRow) -> bool:
    """401 / 403 / 429 on an open API have their findings from the API responses (api_errors.py)."""
    return row.api in APIS and row.status in (401, 403, 429)


def _reasons(ctx: Context, rows: Iterable[RefusalRow]) -> Counter[str]:
    """The reasons the first refusals of these classes gave (refusals.jsonl, bounded per class)."""
    keys = {(r.api, r.method, r.route, r.status, r.code, r.cause) for r in rows}
    reasons: Counter[str] = Counter()
    for line in ctx.folder.iter_jsonl(REFUSALS_FILE, required=False):
        key = (
            line.get("api"),
            line.get("method"),
            line.get("route"),
            line.get("status"),
            line.get("code"),
            line.get("cause"),
        )
        if key in keys:
            reasons[str(line.get("reason", ""))] += 1
    return reasons


def _finding(ctx: Context, kind: str, api: str, rows: list[RefusalRow]) -> Finding:
    title, meaning, cause, action, runbook = KINDS[kind]
    total = sum(r.count for r in rows)
    evidence = [
        Evidence(
            f"{r.method} {r.route} answered HTTP {r.status} {r.code or ''} × {r.count}".replace("  ", " ")
            + f", {ctx.sim(r.first_sim)} to {ctx.sim(r.last_sim)}; first reason: {r.reason}",
            "ledger.json refusals (platform_refusals_total)",
        )
        for r in rows
    ]
    reasons = _reasons(ctx, rows)
    if len(reasons) > 1:
        shown = "; ".join(f"{why} (x{n})" for why, n in reasons.most_common(REASONS_SHOWN))
        evidence.append(Evidence(f"reasons of the first refusals: {shown}", f"{REFUSALS_FILE} reason"))
    failed = sum(
        s.count for (a, st), s in ctx.bot.reply_failed.items() if a == api and st in {str(r.status) for r in rows}
    )
    if ctx.bot.follows_contract and failed:
        evidence.append(Evidence(f"the bot logged {failed} replies failed on {api}", "logs/bot.log event=reply_failed"))
    if api == "unknown":
        where = "routes the platform does not serve"
    elif api == "stream":
        where = "the stream connection"
    else:
        where = api
    return Finding(
        f"refused.{kind}.{api}",
        f"{total} × {title} on {where}",
        "critical",
        f"The platform refused {total} of the bot's calls on {where}: {meaning}. Each counts against the "
        "refused-calls SLA.",
        cause,
        action,
        runbook,
        evidence,
    )


def findings(ctx: Context) -> list[Finding]:
    grouped: dict[tuple[str, str], list[RefusalRow]] = {}
    for row in ctx.report.refusals or []:
        if row.cause == "bot" and row.count and not _explained_elsewhere(row):
            grouped.setdefault((kind_of(row), row.api), []).append(row)
    return [_finding(ctx, kind, api, rows) for (kind, api), rows in sorted(grouped.items())]

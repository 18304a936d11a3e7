"""The failover section: each process fault of the run (manifest.json `process_faults`) with what the
ledger followed of it (ledger.json `incidents`). Nothing is estimated: every figure is the ledger's
count or a difference of two recorded times."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from harness.analysis.report.model import IncidentGroup, ProcessFault
from harness.core.runfolder.reader import RunFolder

UNANSWERED = ("late", "lost", "pending")


def _group(incident: dict[str, Any] | None, name: str) -> IncidentGroup | None:
    if incident is None or name not in incident:
        return None
    return IncidentGroup.model_validate(incident[name])


def process_fault(applied: dict[str, Any], incidents: dict[int, dict[str, Any]]) -> ProcessFault:
    incident = incidents.get(applied["incident"]) if applied.get("incident") is not None else None
    in_flight, sent_during = _group(incident, "in_flight"), _group(incident, "sent_during")
    recovered = (incident or {}).get("recovered_at")
    groups = [g for g in (in_flight, sent_during) if g is not None]
    total = sum(g.count for g in groups)
    lost = [m["msgId"] for m in (incident or {}).get("messages", []) if m.get("fate") in ("lost", "pending")]
    return ProcessFault(
        step=applied["step"],
        process=applied["process"],
        replica=applied.get("replica"),
        component=applied.get("component"),
        pid=applied.get("pid"),
        new_pid=applied.get("new_pid"),
        serving=bool(applied.get("serving")),
        wall=applied["wall"],
        sim=applied["sim"],
        skipped=applied.get("skipped"),
        incident=None if incident is None else applied["incident"],
        in_flight=in_flight,
        sent_during=sent_during,
        to_next_reply_s=None if recovered is None else max(0.0, round(recovered - applied["unix"], 3)),
        settle_s=(incident or {}).get("settle_s"),
        duplicate_replies=None if incident is None else incident.get("duplicate_replies"),
        availability=sum(g.answered_in_time for g in groups) / total if total else None,
        unaccounted=None if in_flight is None else in_flight.count - sum(in_flight.fates.model_dump().values()),
        lost_msg_ids=lost,
    )


def failover_section(folder: RunFolder, ledger: dict[str, Any] | None) -> list[ProcessFault] | None:
    """One entry per applied process fault; None when the run applied none. A ledger without incidents
    (an older emulator, a platform at a URL) leaves the fates unknown (None), and the report says so."""
    applied = folder.manifest.get("process_faults") or []
    if not applied:
        return None
    incidents = {i["id"]: i for i in (ledger or {}).get("incidents") or [] if isinstance(i, dict) and "id" in i}
    faults = []
    for entry in applied:
        try:
            faults.append(process_fault(entry, incidents))
        except (KeyError, TypeError, ValidationError) as exc:
            folder.problems.append(f"manifest.json process_faults / ledger.json incidents: {exc!r}; failover unknown")
    return faults

"""A version's lifecycle from its events, and where it serves now: tables and chart points."""

from __future__ import annotations

from governance.domain.audit import AuditEvent
from governance.domain.compliance_pack import Mark, Source
from governance.services.compliance import sources
from governance.services.compliance.records import VersionRecords

# What each lifecycle event did, in a reader's words.
WHAT = {
    "model.registered": "model registered",
    "model.version_registered": "version registered",
    "model.card_revised": "card revised",
    "model.risk_changed": "risk level changed",
    "compliance.document_registered": "compliance document registered",
    "model.evaluated": "evaluated",
    "approval.requested": "approval requested",
    "approval.decided": "decision",
    "approval.refused": "decision refused",
    "approval.approved": "approved",
    "approval.rejected": "rejected",
    "approval.cancelled": "request cancelled",
    "model.stage_changed": "stage changed",
    "model.promoted": "promoted",
    "promotion.break_glass": "break-glass promotion",
    "routing.changed": "routing changed",
    "rollout.started": "rollout started",
    "rollout.verdict": "canary verdict",
    "rollout.rolled_back": "rollout rolled back",
    "model.rolled_back": "rolled back",
    "model.alias_set": "alias set",
    "model.retirement_approved": "retirement approved",
    "retirement.checked": "retirement audit",
}
_LANE_OF = {
    "model.evaluated": "evaluation",
    "approval.requested": "approval",
    "approval.decided": "approval",
    "approval.refused": "approval",
    "approval.approved": "approval",
    "approval.rejected": "approval",
    "approval.cancelled": "approval",
    "routing.changed": "serving",
    "rollout.started": "serving",
    "rollout.verdict": "serving",
    "rollout.rolled_back": "serving",
    "model.rolled_back": "serving",
    "retirement.checked": "monitoring",
}


def lifecycle_events(records: VersionRecords) -> list[AuditEvent]:
    """The slice's lifecycle events, in chain order."""
    return [e for e in records.events if e.event_type in WHAT]


def lifecycle_rows(records: VersionRecords) -> tuple[list[list[str]], list[AuditEvent]]:
    """Item 6's table rows (event, when, who, what, why) and the events they come from."""
    events = lifecycle_events(records)
    rows = [[f"#{e.seq}", e.ts[:19].replace("T", " "), e.actor, _what(e), _why(e)] for e in events]
    return rows, events


def marks(records: VersionRecords) -> list[Mark]:
    """The timeline chart's points."""
    return [
        Mark(
            seq=e.seq,
            ts=e.ts,
            lane=_LANE_OF.get(e.event_type, "registry"),
            label=_what(e),
            alarm=_alarm(e),
        )
        for e in lifecycle_events(records)
    ]


def _what(found: AuditEvent) -> str:
    what, details = WHAT[found.event_type], found.details
    if found.event_type == "model.stage_changed":
        return f"{what}: {details.get('from')} → {details.get('to')}"
    if found.event_type in ("approval.decided", "approval.refused"):
        return f"{what}: {details.get('decision')} as {details.get('role')}"
    if found.event_type == "routing.changed":
        shares = ", ".join(f"{v} {w}%" for v, w in sorted((details.get("versions") or {}).items()))
        return f"{what} on {details.get('endpoint')}: {shares}"
    if found.event_type == "rollout.verdict":
        return f"{what} at {details.get('weight')}%: {details.get('verdict')}"
    if found.event_type == "model.evaluated":
        return f"{what}: gate {'passed' if details.get('passed') else 'failed'}"
    return what


def _why(found: AuditEvent) -> str:
    details = found.details
    for key in ("reason", "notes"):
        if details.get(key):
            return str(details[key])
    if found.event_type == "model.card_revised":
        return f"revision {details.get('revision')}"
    if details.get("request_id"):
        return f"request {details['request_id']}"
    if details.get("target_stage"):
        return f"towards {details['target_stage']}"
    return ""


def _alarm(found: AuditEvent) -> bool:
    details = found.details
    return (
        found.event_type
        in (
            "approval.refused",
            "approval.rejected",
            "rollout.rolled_back",
            "model.rolled_back",
            "promotion.break_glass",
        )
        or (found.event_type == "model.evaluated" and not details.get("passed"))
        or (found.event_type == "rollout.verdict" and details.get("verdict") == "fail")
        or (found.event_type == "retirement.checked" and details.get("verdict") != "retain")
    )


def served_rows(records: VersionRecords) -> tuple[list[list[str]], list[Source]]:
    """Where the version serves in each endpoint's live routing, with the specs cited."""
    version, rows, cited = records.version.version, [], []
    changes = {
        (e.details.get("endpoint"), e.details.get("spec")): e
        for e in records.of_type("routing.changed")
    }
    for served in records.endpoints:
        if not served.specs:
            continue
        live = served.specs[-1]
        share = live.spec.versions().get(version)
        if not share:
            continue
        rows.append(
            [
                served.endpoint.name,
                str(live.number),
                f"{share}%",
                live.created_at.strftime("%Y-%m-%d %H:%M"),
                live.actor,
                live.reason,
            ]
        )
        cited.append(sources.spec(live))
        event = changes.get((served.endpoint.name, live.number))
        if event is not None:
            cited.append(sources.event(event))
    return rows, cited

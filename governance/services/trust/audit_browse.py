"""The auditor's view of the trail: keyset pages, filtered exports, verification on demand.

Everything here is an auditor's act (the role that reads the whole trail). A verification run
from the console is recorded as an `audit.verified` event with its outcome, so the last
result is the trail's to tell (any server process shows the same one) and who asked is on
record.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel

from governance.bootstrap import Governance
from governance.domain.audit import MAC_PURPOSE, AuditEvent, authentic, export_line
from governance.domain.errors import GovernanceError
from governance.domain.identity import VerifiedActor
from governance.services.trust import audit
from governance.services.trust.roles import AUDITOR_ROLE, require_role
from governance.signing import Verifier, public_key_path, read_checkpoint
from governance.store.audit_log import hash_at, iter_rows, snapshot, to_event
from governance.store.audit_pages import TrailFilter, browse, filtered_rows

VERIFIED_EVENT = "audit.verified"
PAGE_SIZE = 50
# The anchor directory grows by one file per anchoring; the page lists the newest ones.
CHECKPOINTS_SHOWN = 20


class ShownEvent(BaseModel):
    """An event as the browser lists it, with whether its own hash and MAC hold."""

    event: AuditEvent
    authentic: bool
    # The details exactly as stored and hashed (canonical JSON), for display as text.
    details_text: str


class EventPage(BaseModel):
    """One page, newest first, and the cursors of the pages either side (None: no such page)."""

    events: list[ShownEvent]
    older_cursor: int | None  # ?before=
    newer_cursor: int | None  # ?after=


class ShownCheckpoint(BaseModel):
    """A signed checkpoint file and what checking it against the key and the table found."""

    file: str
    seq: int | None = None
    taken_at: str = ""
    events: int | None = None
    hash: str = ""
    signature_ok: bool = False
    matches_trail: bool = False
    problem: str = ""


class CheckpointList(BaseModel):
    """The newest signed checkpoints of the anchor directory, and how many it holds."""

    directory: str
    total: int
    shown: list[ShownCheckpoint]


def _auditor(gov: Governance, actor: VerifiedActor, act: str) -> None:
    require_role(gov, actor, AUDITOR_ROLE, act)


def page(
    gov: Governance,
    flt: TrailFilter,
    *,
    actor: VerifiedActor,
    before: int | None = None,
    after: int | None = None,
    limit: int = PAGE_SIZE,
) -> EventPage:
    """The matching events older than `before`, newer than `after`, or the newest; each checked."""
    _auditor(gov, actor, "browsing the audit trail")
    key = gov.keyring.derive(MAC_PURPOSE)
    with gov.engine.connect() as conn:
        found = browse(conn, flt, before=before, after=after, limit=limit)
    shown = [
        ShownEvent(event=to_event(row), authentic=authentic(row, key), details_text=row[7])
        for row in found.rows
    ]
    return EventPage(
        events=shown,
        older_cursor=shown[-1].event.seq if shown and found.has_older else None,
        newer_cursor=shown[0].event.seq if shown and found.has_newer else None,
    )


def export_lines(gov: Governance, flt: TrailFilter, *, actor: VerifiedActor) -> Iterator[str]:
    """The matching events as `audit export` writes them (the whole trail when unfiltered)."""
    _auditor(gov, actor, "exporting the audit trail")
    with snapshot(gov.engine) as conn:
        rows = iter_rows(conn) if flt == TrailFilter() else filtered_rows(conn, flt)
        for row in rows:
            yield export_line(row)


def verify_now(gov: Governance, *, actor: VerifiedActor, now: datetime) -> AuditEvent:
    """Run `audit verify` with the anchor directory's checkpoints; record and return the outcome."""
    _auditor(gov, actor, "verifying the audit trail")
    directory = gov.settings.resolved_anchor_dir
    try:
        anchors = audit.load_checkpoints((), directory if directory.is_dir() else None)
        report = audit.verify(gov, anchors)
        outcome = {
            "ok": True,
            "verified": report.chain.verified,
            "head_seq": report.chain.head_seq,
            "state_rows": report.state_rows,
            "checkpoints": report.checkpoints,
            "events_after_anchor": report.events_after_anchor,
        }
    except GovernanceError as exc:
        # A broken trail is the finding, not an error of the page: it is recorded and shown.
        outcome = {"ok": False, "problem": f"{type(exc).__name__}: {exc}"[:1000]}
    with gov.store.write() as tx:
        return tx.audit.append(VERIFIED_EVENT, actor=actor.name, now=now, details=outcome)


def last_verification(gov: Governance, *, actor: VerifiedActor) -> AuditEvent | None:
    """The newest `audit.verified` event, or None if the trail was never verified from here."""
    _auditor(gov, actor, "reading the last verification")
    with gov.store.read() as tx:
        return tx.audit.latest(VERIFIED_EVENT)


def _checked(gov: Governance, conn, path: Path, verifier: Verifier | None) -> ShownCheckpoint:
    try:
        signed = read_checkpoint(path)
    except GovernanceError as exc:
        return ShownCheckpoint(file=path.name, problem=str(exc))
    shown = ShownCheckpoint(
        file=path.name,
        seq=signed.seq,
        taken_at=signed.taken_at,
        events=signed.events,
        hash=signed.hash,
        matches_trail=signed.seq == 0 or hash_at(conn, signed.seq) == signed.hash,
    )
    if verifier is None:
        return shown.model_copy(update={"problem": "no public key to check the signature"})
    try:
        verifier.check(signed, path.name)
    except GovernanceError as exc:
        return shown.model_copy(update={"problem": str(exc)})
    return shown.model_copy(update={"signature_ok": True})


def checkpoints(gov: Governance, *, actor: VerifiedActor) -> CheckpointList:
    """The newest signed checkpoints in the anchor directory, each checked (key and table)."""
    _auditor(gov, actor, "reading the signed checkpoints")
    directory = gov.settings.resolved_anchor_dir
    names = sorted(directory.glob("*.json")) if directory.is_dir() else []
    key = public_key_path(gov.settings.resolved_signing_key_file)
    try:
        verifier = Verifier.from_file(key) if key.is_file() else None
    except GovernanceError:
        verifier = None
    newest = names[-CHECKPOINTS_SHOWN:][::-1]
    with gov.engine.connect() as conn:
        shown = [_checked(gov, conn, path, verifier) for path in newest]
    return CheckpointList(directory=str(directory), total=len(names), shown=shown)

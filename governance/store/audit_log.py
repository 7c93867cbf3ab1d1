"""The audit trail table: appending chained events inside a transaction, and reading them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from governance.domain.audit import (
    GENESIS_HASH,
    AuditEvent,
    EventRow,
    canonical_event,
    canonical_json,
    chain_hash,
    format_ts,
)
from governance.store.tables import audit_events

_COLUMNS = (
    audit_events.c.seq,
    audit_events.c.id,
    audit_events.c.ts,
    audit_events.c.event_type,
    audit_events.c.model,
    audit_events.c.version,
    audit_events.c.actor,
    audit_events.c.details,
    audit_events.c.prev_hash,
    audit_events.c.hash,
)
_HEAD = (
    sa.select(audit_events.c.seq, audit_events.c.hash).order_by(audit_events.c.seq.desc()).limit(1)
)
_INSERT = audit_events.insert()
# One fixed key for the whole chain: every appender queues on it (PostgreSQL only).
CHAIN_LOCK_KEY = 0x60F_A0D17


class AuditLog:
    """Appends and reads audit events on one connection, inside the caller's transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def append(
        self,
        event_type: str,
        *,
        actor: str,
        now: datetime,
        model: str | None = None,
        version: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditEvent:
        """Chain a new event after the head; the caller's transaction holds the chain lock."""
        head = self.conn.execute(_HEAD).first()
        seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
        event_id, ts, body = str(uuid.uuid4()), format_ts(now), canonical_json(details or {})
        digest = chain_hash(
            prev, canonical_event(seq, event_id, ts, event_type, model, version, actor, body)
        )
        row = {
            "seq": seq,
            "id": event_id,
            "ts": ts,
            "event_type": event_type,
            "model": model,
            "version": version,
            "actor": actor,
            "details": body,
            "prev_hash": prev,
            "hash": digest,
        }
        self.conn.execute(_INSERT, row)
        return AuditEvent(
            seq=seq,
            id=event_id,
            ts=ts,
            event_type=event_type,
            model=model,
            version=version,
            actor=actor,
            details=details or {},
            prev_hash=prev,
            hash=digest,
        )

    def query(
        self,
        *,
        model: str | None = None,
        version: str | None = None,
        event_type: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[AuditEvent]:
        """Events in chain order filtered by subject, type and time range [since, until)."""
        stmt = sa.select(*_COLUMNS).order_by(audit_events.c.seq)
        for column, value in (
            (audit_events.c.model, model),
            (audit_events.c.version, version),
            (audit_events.c.event_type, event_type),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        if since is not None:
            stmt = stmt.where(audit_events.c.ts >= format_ts(since))
        if until is not None:
            stmt = stmt.where(audit_events.c.ts < format_ts(until))
        if limit:
            stmt = stmt.limit(limit)
        return [to_event(tuple(row)) for row in self.conn.execute(stmt)]

    def hash_at(self, seq: int) -> str | None:
        """The stored hash of event `seq`, or None if there is no such event."""
        return self.conn.execute(
            sa.select(audit_events.c.hash).where(audit_events.c.seq == seq)
        ).scalar_one_or_none()


def iter_rows(conn: Connection, batch: int = 50_000) -> Iterator[EventRow]:
    """Stream all events in seq order as plain tuples, in keyset-paged batches."""
    after = 0
    sql = sa.select(*_COLUMNS).where(audit_events.c.seq > sa.bindparam("after"))
    sql = sql.order_by(audit_events.c.seq).limit(batch)
    while True:
        rows = conn.execute(sql, {"after": after}).all()
        if not rows:
            return
        yield from rows
        after = rows[-1][0]


def to_event(row: EventRow) -> AuditEvent:
    """Turn a stored row into an AuditEvent."""
    import json

    seq, eid, ts, etype, model, version, actor, details, prev, digest = row
    return AuditEvent(
        seq=seq,
        id=eid,
        ts=ts,
        event_type=etype,
        model=model,
        version=version,
        actor=actor,
        details=json.loads(details),
        prev_hash=prev,
        hash=digest,
    )

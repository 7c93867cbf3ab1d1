"""The audit trail table: appending chained, MACed events inside a transaction, and reading them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from governance.domain.audit import (
    GENESIS_HASH,
    MAC_PURPOSE,
    AuditEvent,
    EventRow,
    canonical_event,
    canonical_json,
    chain_hash,
    format_ts,
)
from governance.domain.errors import ConfigError
from governance.keyring import Keyring
from governance.store.tables_trust import audit_events

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
    audit_events.c.mac,
)
EVENT_COLUMNS = _COLUMNS
"""The stored columns of an event row, in `EventRow` order."""
_HEAD = (
    sa.select(audit_events.c.seq, audit_events.c.hash).order_by(audit_events.c.seq.desc()).limit(1)
)
_INSERT = audit_events.insert()
# One fixed key for the whole chain: every appender queues on it (PostgreSQL only).
CHAIN_LOCK_KEY = 0x60F_A0D17


class AuditLog:
    """Appends and reads audit events on one connection, inside the caller's transaction."""

    def __init__(
        self,
        conn: Connection,
        keyring: Keyring | None = None,
        identity_note: Callable[[], str | None] | None = None,
        prelude: Callable[[AuditLog, datetime], None] | None = None,
    ) -> None:
        self.conn = conn
        # MACs use a key kept outside the database, so a database writer cannot forge events.
        self.keyring = keyring
        # Under `identity: none` every event says that nobody's identity was verified.
        self.identity_note = identity_note
        # Runs once per transaction before its first event (the policy.loaded record).
        self.prelude = prelude
        self._prelude_ran = False

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
        """Chain and MAC a new event after the head (the caller's transaction holds the lock)."""
        if self.keyring is None:
            raise ConfigError("audit events need the secret key file to MAC them; none is set")
        if self.prelude is not None and not self._prelude_ran:
            self._prelude_ran = True  # set first: the prelude appends through here too
            self.prelude(self, now)
        note = self.identity_note() if self.identity_note else None
        if note:
            details = {**(details or {}), "identity": note}
        head = self.conn.execute(_HEAD).first()
        seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
        event_id, ts, body = str(uuid.uuid4()), format_ts(now), canonical_json(details or {})
        digest = chain_hash(
            prev, canonical_event(seq, event_id, ts, event_type, model, version, actor, body)
        )
        mac = self.keyring.mac(MAC_PURPOSE, digest)
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
            "mac": mac,
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
            mac=mac,
        )

    def record_context(self, now: datetime) -> None:
        """Run the transaction's prelude now (it records the policy in force), adding no event."""
        if self.prelude is not None and not self._prelude_ran:
            self._prelude_ran = True
            self.prelude(self, now)

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

    def latest(self, event_type: str) -> AuditEvent | None:
        """The newest event of a type, or None."""
        stmt = (
            sa.select(*_COLUMNS)
            .where(audit_events.c.event_type == event_type)
            .order_by(audit_events.c.seq.desc())
            .limit(1)
        )
        row = self.conn.execute(stmt).first()
        return to_event(tuple(row)) if row else None

    def first_with(
        self, event_type: str, key: str, value: Any, *, after: datetime | None = None
    ) -> AuditEvent | None:
        """The first event of a type whose details hold `key: value`, after a time if given."""
        # The canonical details text holds `"key":value` verbatim, so LIKE narrows the rows in
        # the database; the parsed details then confirm the key is a top-level one.
        fragment = canonical_json({key: value})[1:-1]
        escaped = fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = (
            sa.select(*_COLUMNS)
            .where(audit_events.c.event_type == event_type)
            .where(audit_events.c.details.like(f"%{escaped}%", escape="\\"))
            .order_by(audit_events.c.seq)
        )
        if after is not None:
            stmt = stmt.where(audit_events.c.ts > format_ts(after))
        for row in self.conn.execute(stmt):
            event = to_event(tuple(row))
            if event.details.get(key) == value:
                return event
        return None


def typed_rows(
    conn: Connection, event_types: tuple[str, ...], *, since: datetime | None = None
) -> list[EventRow]:
    """The stored rows of some event types (at or after `since`), in chain order, as tuples."""
    stmt = (
        sa.select(*_COLUMNS)
        .where(audit_events.c.event_type.in_(event_types))
        .order_by(audit_events.c.seq)
    )
    if since is not None:
        stmt = stmt.where(audit_events.c.ts >= format_ts(since))
    return [tuple(row) for row in conn.execute(stmt)]


def marked_events(conn: Connection, key: str, value: str) -> list[tuple[int, str]]:
    """(seq, ts) of every event whose details hold the top-level `key: value` note."""
    fragment = canonical_json({key: value})[1:-1]
    stmt = (
        sa.select(audit_events.c.seq, audit_events.c.ts, audit_events.c.details)
        .where(audit_events.c.details.like(f"%{fragment}%"))
        .order_by(audit_events.c.seq)
    )
    return [
        (seq, ts)
        for seq, ts, details in conn.execute(stmt)
        if json.loads(details).get(key) == value
    ]


def subject_rows(
    conn: Connection, event_type: str, model: str, version: str | None
) -> list[EventRow]:
    """The stored rows of one event type about one subject, in chain order, as tuples."""
    stmt = (
        sa.select(*_COLUMNS)
        .where(
            audit_events.c.event_type == event_type,
            audit_events.c.model == model,
            audit_events.c.version == version,
        )
        .order_by(audit_events.c.seq)
    )
    return [tuple(row) for row in conn.execute(stmt)]


def event_count(conn: Connection) -> int:
    """How many events the table holds."""
    return conn.execute(sa.select(sa.func.count()).select_from(audit_events)).scalar_one()


def head_seq(conn: Connection) -> int:
    """The seq of the newest event (0 for an empty trail): one primary-key lookup."""
    return conn.execute(sa.select(sa.func.max(audit_events.c.seq))).scalar_one() or 0


def hash_at(conn: Connection, seq: int) -> str | None:
    """The stored hash of event `seq`, or None if there is no such event."""
    stmt = sa.select(audit_events.c.hash).where(audit_events.c.seq == seq)
    return conn.execute(stmt).scalar_one_or_none()


@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """A read transaction whose statements all see one snapshot (events and state agree)."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            # READ COMMITTED would let a commit land between reading the events and the tables.
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


_PAGE = (
    sa.select(*_COLUMNS)
    .where(audit_events.c.seq > sa.bindparam("after"))
    .order_by(audit_events.c.seq)
    .limit(sa.bindparam("batch"))
)


def iter_rows(conn: Connection, batch: int = 50_000, after: int = 0) -> Iterator[EventRow]:
    """Stream the events after seq `after` in seq order as plain tuples, in keyset pages."""
    # The driver's own cursor, inside the caller's transaction: SQLAlchemy's Row objects cost
    # a third of the time of verifying a million events.
    compiled = _PAGE.compile(dialect=conn.dialect)
    sql = str(compiled)
    cursor = conn.connection.cursor()
    try:
        while True:
            params = compiled.construct_params({"after": after, "batch": batch})
            if compiled.positiontup is not None:
                params = tuple(params[name] for name in compiled.positiontup)
            cursor.execute(sql, params)
            rows = cursor.fetchall()
            if not rows:
                return
            yield from rows
            after = rows[-1][0]
    finally:
        cursor.close()


def to_event(row: EventRow) -> AuditEvent:
    """Turn a stored row into an AuditEvent."""
    seq, eid, ts, etype, model, version, actor, details, prev, digest, mac = row
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
        mac=mac,
    )

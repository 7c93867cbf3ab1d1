"""Keyset pages of the audit trail, newest first, for the console's browser; filtered exports.

A page is `seq < before` (older) or `seq > after` (newer), never OFFSET: with one filter on
model, actor or event type the database reads its (column, seq) index from the cursor
(0015_audit_browse), so the thousandth page costs what the first does. A time range is
checked on the rows that walk reads (`ts` is the appender's clock, which need not rise with
seq, so it cannot bound the walk).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlalchemy.engine import Connection

from governance.domain.audit import EventRow, format_ts
from governance.store.audit_log import EVENT_COLUMNS as _COLUMNS
from governance.store.tables_trust import audit_events

c = audit_events.c


class TrailFilter(BaseModel):
    """Which events a page or export holds: every given field matches; time is [since, until)."""

    model_config = ConfigDict(frozen=True)

    model: str | None = None
    actor: str | None = None
    event_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class RowPage(BaseModel):
    """One page of stored rows, newest first, and whether older or newer matching rows exist."""

    rows: list[tuple]
    has_older: bool
    has_newer: bool


def _where(stmt: sa.Select, flt: TrailFilter) -> sa.Select:
    equal = ((c.model, flt.model), (c.actor, flt.actor), (c.event_type, flt.event_type))
    for column, value in equal:
        if value is not None:
            stmt = stmt.where(column == value)
    if flt.since is not None:
        stmt = stmt.where(c.ts >= format_ts(flt.since))
    if flt.until is not None:
        stmt = stmt.where(c.ts < format_ts(flt.until))
    return stmt


def page_statement(
    flt: TrailFilter, *, before: int | None = None, after: int | None = None, limit: int = 50
) -> sa.Select:
    """The SELECT of one page: `limit + 1` rows in walk order (newest first unless `after`)."""
    stmt = _where(sa.select(*_COLUMNS), flt)
    if after is not None:
        return stmt.where(c.seq > after).order_by(c.seq.asc()).limit(limit + 1)
    if before is not None:
        stmt = stmt.where(c.seq < before)
    return stmt.order_by(c.seq.desc()).limit(limit + 1)


def _exists(conn: Connection, flt: TrailFilter, condition) -> bool:
    probe = _where(sa.select(c.seq), flt).where(condition).limit(1)
    return conn.execute(probe).first() is not None


def browse(
    conn: Connection,
    flt: TrailFilter,
    *,
    before: int | None = None,
    after: int | None = None,
    limit: int = 50,
) -> RowPage:
    """The page of matching rows older than `before`, newer than `after`, or the newest."""
    stmt = page_statement(flt, before=before, after=after, limit=limit)
    rows = [tuple(row) for row in conn.execute(stmt)]
    more = len(rows) > limit
    rows = rows[:limit]
    if after is not None:
        rows.reverse()  # walked oldest first from the cursor; shown newest first
        has_newer = more
        has_older = _exists(conn, flt, c.seq <= after)
    else:
        has_older = more
        has_newer = before is not None and _exists(conn, flt, c.seq >= before)
    return RowPage(rows=rows, has_older=has_older, has_newer=has_newer)


def filtered_rows(conn: Connection, flt: TrailFilter, batch: int = 5_000) -> Iterator[EventRow]:
    """Every matching stored row in chain order, read in keyset batches (for an export)."""
    after = 0
    while True:
        stmt = _where(sa.select(*_COLUMNS), flt).where(c.seq > after).order_by(c.seq).limit(batch)
        rows = [tuple(row) for row in conn.execute(stmt)]
        if not rows:
            return
        yield from rows
        after = rows[-1][0]

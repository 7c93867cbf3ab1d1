"""Keyset pages of the audit trail, newest first, for the console's browser; filtered exports.

A page is `seq < before` (older) or `seq > after` (newer), never OFFSET: with one filter on
model, actor or event type the database reads its (column, seq) index from the cursor
(0015_audit_browse), so the thousandth page costs what the first does. A time range alone
walks the (ts, seq) index instead, newest time first (the appender's clock rises with seq in
practice but nothing forces it to, so only that index bounds a window exactly); a time
range with another filter is checked on the rows that filter's walk reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlalchemy.engine import Connection

from governance.domain.audit import EventRow, format_ts
from governance.domain.errors import InvalidInput
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


def by_time(flt: TrailFilter) -> bool:
    """Whether pages of `flt` walk the (ts, seq) index: a time range and no other filter."""
    timed = flt.since is not None or flt.until is not None
    return timed and flt.model is None and flt.actor is None and flt.event_type is None


def _beyond(newer: bool, seq: int, ts: str | None, *, inclusive: bool = False):
    """Rows after (newer) or before the cursor event in walk order: by seq, or by (ts, seq)."""
    if newer:
        by_seq = c.seq >= seq if inclusive else c.seq > seq
        # `ts >= cursor` first, alone, so the (ts, seq) index bounds the range read.
        return by_seq if ts is None else sa.and_(c.ts >= ts, sa.or_(c.ts > ts, by_seq))
    by_seq = c.seq <= seq if inclusive else c.seq < seq
    return by_seq if ts is None else sa.and_(c.ts <= ts, sa.or_(c.ts < ts, by_seq))


def page_statement(
    flt: TrailFilter,
    *,
    before: int | None = None,
    after: int | None = None,
    limit: int = 50,
    cursor_ts: str | None = None,
) -> sa.Select:
    """The SELECT of one page: `limit + 1` rows in walk order (newest first unless `after`).

    A time-only filter walks (ts, seq), so a window far from the newest events costs one
    index range read (the cursor's `ts` must then be given); otherwise the walk is by seq.
    """
    stmt = _where(sa.select(*_COLUMNS), flt)
    keys = (c.ts, c.seq) if by_time(flt) else (c.seq,)
    if after is not None:
        stmt = stmt.where(_beyond(True, after, cursor_ts))
        return stmt.order_by(*(key.asc() for key in keys)).limit(limit + 1)
    if before is not None:
        stmt = stmt.where(_beyond(False, before, cursor_ts))
    return stmt.order_by(*(key.desc() for key in keys)).limit(limit + 1)


def _exists(conn: Connection, flt: TrailFilter, condition) -> bool:
    probe = _where(sa.select(c.seq), flt).where(condition).limit(1)
    return conn.execute(probe).first() is not None


def _cursor_ts(conn: Connection, seq: int) -> str:
    found = conn.execute(sa.select(c.ts).where(c.seq == seq)).scalar_one_or_none()
    if found is None:
        raise InvalidInput(f"there is no event {seq} to page from")
    return found


def browse(
    conn: Connection,
    flt: TrailFilter,
    *,
    before: int | None = None,
    after: int | None = None,
    limit: int = 50,
) -> RowPage:
    """The page of matching rows older than `before`, newer than `after`, or the newest."""
    cursor = after if after is not None else before
    ts = _cursor_ts(conn, cursor) if cursor is not None and by_time(flt) else None
    stmt = page_statement(flt, before=before, after=after, limit=limit, cursor_ts=ts)
    rows = [tuple(row) for row in conn.execute(stmt)]
    more = len(rows) > limit
    rows = rows[:limit]
    if after is not None:
        rows.reverse()  # walked oldest first from the cursor; shown newest first
        has_newer = more
        has_older = _exists(conn, flt, _beyond(False, after, ts, inclusive=True))
    else:
        has_older = more
        has_newer = before is not None and _exists(
            conn, flt, _beyond(True, before, ts, inclusive=True)
        )
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

"""Parts of the audit trail read by index: a subject's slice and the hashes at given seqs."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from governance.domain.audit import EventRow
from governance.store.audit_log import EVENT_COLUMNS as _COLUMNS
from governance.store.tables_trust import audit_events


def subject_slice(conn: Connection, model: str, version: str) -> list[EventRow]:
    """A version's events and its model's own (version NULL), in chain order, by index."""
    # Two lookups on the (model, version) index rather than one OR, which a planner may turn
    # into a scan of every event of the model.
    by_version = sa.select(*_COLUMNS).where(
        audit_events.c.model == model, audit_events.c.version == version
    )
    by_model = sa.select(*_COLUMNS).where(
        audit_events.c.model == model, audit_events.c.version.is_(None)
    )
    rows = [tuple(row) for stmt in (by_version, by_model) for row in conn.execute(stmt)]
    return sorted(rows, key=lambda row: row[0])


def hashes_at(conn: Connection, seqs: list[int]) -> dict[int, str | None]:
    """The stored hash of each seq (None where no event has it), by primary key."""
    found: dict[int, str | None] = dict.fromkeys(seqs)
    for start in range(0, len(seqs), 500):
        chunk = seqs[start : start + 500]
        stmt = sa.select(audit_events.c.seq, audit_events.c.hash).where(
            audit_events.c.seq.in_(chunk)
        )
        found.update({seq: digest for seq, digest in conn.execute(stmt)})
    return found

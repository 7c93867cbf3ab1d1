"""Indexes for the console's audit browser: each filter walks its events newest first by seq.

The browser pages by keyset (`seq < before` or `seq > after`, newest first, never OFFSET).
A filter on model, actor or event type is served by an index on (column, seq): the page is
a range read of that index from the cursor, so it costs the same at any depth of a
1,000,000-event trail. The earlier (model, version) and (event_type, ts) indexes end in the
row id (SQLite) or the heap (PostgreSQL), not seq, so a filtered page had to read and sort
every matching event. A time range alone walks (ts, seq), newest time first: `ts` is the
appender's clock, which nothing forces to rise with seq, so only an index on it bounds a
window exactly, however far back.

Revision ID: 0015_audit_browse
Revises: 0014_compliance_documents
Create Date: 2026-12-07
"""

from alembic import op

revision = "0015_audit_browse"
down_revision = "0014_compliance_documents"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_audit_events_model_seq", "audit_events", ["model", "seq"])
    op.create_index("ix_audit_events_actor_seq", "audit_events", ["actor", "seq"])
    op.create_index("ix_audit_events_type_seq", "audit_events", ["event_type", "seq"])
    op.create_index("ix_audit_events_ts_seq", "audit_events", ["ts", "seq"])


def downgrade() -> None:
    raise NotImplementedError("the audit trail is append-only; its schema is never downgraded")

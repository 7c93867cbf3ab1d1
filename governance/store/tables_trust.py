"""The append-only audit trail, enrolled people and their CLI sessions."""

from __future__ import annotations

import sqlalchemy as sa

from governance.store.columns import UTCDateTime, metadata

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("id", sa.String(36), nullable=False, unique=True),
    sa.Column("ts", sa.String(32), nullable=False),
    sa.Column("event_type", sa.String(64), nullable=False),
    sa.Column("model", sa.String(128)),
    sa.Column("version", sa.String(64)),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("details", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    # HMAC-SHA256 of `hash` with a key kept outside the database (invariant 2).
    sa.Column("mac", sa.String(64)),
    sa.Index("ix_audit_events_subject", "model", "version"),
    sa.Index("ix_audit_events_type_ts", "event_type", "ts"),
    # The audit browser's keyset pages: one filter, newest first by seq (0015_audit_browse).
    sa.Index("ix_audit_events_model_seq", "model", "seq"),
    sa.Index("ix_audit_events_actor_seq", "actor", "seq"),
    sa.Index("ix_audit_events_type_seq", "event_type", "seq"),
    sa.Index("ix_audit_events_ts_seq", "ts", "seq"),
)


people = sa.Table(
    "people",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    # The TOTP secret, AES-GCM encrypted with a key kept outside the database.
    sa.Column("totp_secret", sa.Text, nullable=False),
    sa.Column("enrolled_at", UTCDateTime, nullable=False),
    sa.Column("enrolled_by", sa.String(128), nullable=False),
    # The last accepted time step: a code is accepted once, and never an older one.
    sa.Column("last_used_step", sa.BigInteger),
)


cli_sessions = sa.Table(
    "cli_sessions",
    metadata,
    # sha256 of the session token: the token itself lives only in the user's session file.
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("person", sa.String(128), sa.ForeignKey("people.name"), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("ended_at", UTCDateTime),
    # HMAC of the row as opened (id, person, created_at, expires_at) under a key kept outside
    # the database: a row inserted or edited by a database writer opens no session.
    sa.Column("mac", sa.String(64)),
)

"""People and their authenticators, CLI sessions, request tokens, event MACs, one open request.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("totp_secret", sa.Text, nullable=False),
        sa.Column("enrolled_at", sa.DateTime, nullable=False),
        sa.Column("enrolled_by", sa.String(128), nullable=False),
        sa.Column("last_used_step", sa.BigInteger),
    )
    op.create_table(
        "cli_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("person", sa.String(128), sa.ForeignKey("people.name"), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.Column("ended_at", sa.DateTime),
    )
    op.create_table(
        "request_tokens",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("person", sa.String(128), nullable=False),
        sa.Column("model_name", sa.String(128), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("target_stage", sa.String(16), nullable=False),
        sa.Column("issued_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.Column("used_at", sa.DateTime),
        sa.Column("flow_run_id", sa.String(64)),
    )
    with op.batch_alter_table("approval_requests") as batch:
        # A break-glass retro-review has no evaluation run behind it.
        batch.alter_column("evaluation_run_id", existing_type=sa.String(36), nullable=True)
        batch.add_column(
            sa.Column("kind", sa.String(16), nullable=False, server_default="promotion")
        )
        batch.add_column(sa.Column("flow_run_id", sa.String(64)))
        batch.add_column(sa.Column("closed_reason", sa.Text))
        batch.add_column(
            sa.Column("identity", sa.String(16), nullable=False, server_default="totp")
        )
    op.create_index(
        "uq_approval_requests_one_open",
        "approval_requests",
        ["version_id", "target_stage", "kind"],
        unique=True,
        sqlite_where=sa.text("status = 'open'"),
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_index("ix_approval_requests_flow_run", "approval_requests", ["flow_run_id"])
    with op.batch_alter_table("approval_decisions") as batch:
        batch.add_column(
            sa.Column("verified", sa.Boolean, nullable=False, server_default=sa.true())
        )
    op.add_column("audit_events", sa.Column("mac", sa.String(64)))


def downgrade() -> None:
    raise NotImplementedError("the audit trail is append-only; its schema is never downgraded")

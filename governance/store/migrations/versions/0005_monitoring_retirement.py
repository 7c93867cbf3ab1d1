"""Reference profiles, ingested monitoring batches, and retirement-audit results.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reference_profiles",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "model_version_id",
            sa.Integer,
            sa.ForeignKey("model_versions.id"),
            nullable=False,
            unique=True,
        ),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("uri", sa.String(255), nullable=False),
        sa.Column("n_rows", sa.Integer, nullable=False),
        sa.Column("stats", sa.JSON, nullable=False),
        sa.Column("source", sa.String(255), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "monitoring_batches",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("model_version_id", sa.Integer, sa.ForeignKey("model_versions.id"), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("uri", sa.String(255), nullable=False),
        sa.Column("source_digest", sa.String(64), nullable=False),
        sa.Column("n_rows", sa.Integer, nullable=False),
        sa.Column("n_labels", sa.Integer, nullable=False),
        sa.Column("first_at", sa.DateTime, nullable=False),
        sa.Column("last_at", sa.DateTime, nullable=False),
        sa.Column("ingested_by", sa.String(128), nullable=False),
        sa.Column("ingested_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("model_version_id", "source_digest", name="uq_batches_version_source"),
    )
    op.create_index("ix_batches_version_last", "monitoring_batches", ["model_version_id", "last_at"])
    op.create_table(
        "retirement_audits",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("audit_run", sa.String(64), nullable=False),
        sa.Column("model_version_id", sa.Integer, sa.ForeignKey("model_versions.id"), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("successor", sa.String(64)),
        sa.Column("findings", sa.JSON, nullable=False),
        sa.Column("report_digest", sa.String(64)),
        sa.Column("checked_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("audit_run", "model_version_id", name="uq_audits_run_version"),
    )
    op.create_index(
        "ix_audits_version_time", "retirement_audits", ["model_version_id", "checked_at"]
    )


def downgrade() -> None:
    raise NotImplementedError("the audit trail is append-only; its schema is never downgraded")

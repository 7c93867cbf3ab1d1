"""Evaluation datasets and runs, approval requests, decisions and refused attempts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evaluation_datasets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("uri", sa.String(256), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("target", sa.String(256), nullable=False),
        sa.Column("group_columns", sa.JSON, nullable=False),
        sa.Column("n_rows", sa.Integer, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "evaluation_runs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("version_id", sa.Integer, sa.ForeignKey("model_versions.id"), nullable=False),
        sa.Column(
            "dataset_id", sa.Integer, sa.ForeignKey("evaluation_datasets.id"), nullable=False
        ),
        sa.Column("model_name", sa.String(128), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("dataset", sa.String(128), nullable=False),
        sa.Column("dataset_digest", sa.String(64), nullable=False),
        sa.Column("result", sa.JSON, nullable=False),
        sa.Column("decision", sa.JSON, nullable=False),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("policy_version", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_evaluation_runs_subject", "evaluation_runs", ["model_name", "version"])
    op.create_table(
        "approval_requests",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("version_id", sa.Integer, sa.ForeignKey("model_versions.id"), nullable=False),
        sa.Column(
            "evaluation_run_id",
            sa.String(36),
            sa.ForeignKey("evaluation_runs.id"),
            nullable=False,
        ),
        sa.Column("model_name", sa.String(128), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("target_stage", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(128), nullable=False),
        sa.Column("version_created_by", sa.String(128), nullable=False),
        sa.Column("required", sa.JSON, nullable=False),
        sa.Column("evidence", sa.JSON, nullable=False),
        sa.Column("evidence_digest", sa.String(64), nullable=False),
        sa.Column("policy_version", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.Column("status_changed_at", sa.DateTime, nullable=False),
        sa.Column("completed_at", sa.DateTime),
    )
    op.create_index("ix_approval_requests_status", "approval_requests", ["status"])
    op.create_index("ix_approval_requests_subject", "approval_requests", ["model_name", "version"])
    op.create_table(
        "approval_decisions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "request_id", sa.String(36), sa.ForeignKey("approval_requests.id"), nullable=False
        ),
        sa.Column("approver", sa.String(128), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("notes", sa.Text, nullable=False),
        sa.Column("evidence_digest", sa.String(64), nullable=False),
        sa.Column("policy_version", sa.String(64), nullable=False),
        sa.Column("decided_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_approval_decisions_request", "approval_decisions", ["request_id"])
    op.create_table(
        "approval_refusals",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "request_id", sa.String(36), sa.ForeignKey("approval_requests.id"), nullable=False
        ),
        sa.Column("approver", sa.String(128), nullable=False),
        sa.Column("role", sa.String(128), nullable=False),
        sa.Column("decision", sa.String(128), nullable=False),
        sa.Column("notes", sa.Text, nullable=False),
        sa.Column("error", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("attempted_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_approval_refusals_request", "approval_refusals", ["request_id"])


def downgrade() -> None:
    for table in (
        "approval_refusals",
        "approval_decisions",
        "approval_requests",
        "evaluation_runs",
        "evaluation_datasets",
    ):
        op.drop_table(table)

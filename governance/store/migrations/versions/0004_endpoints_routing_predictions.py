"""Endpoints, append-only routing specs, rollouts, the prediction log, outcomes, experiments.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "endpoints",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("model_name", sa.String(128), nullable=False),
        sa.Column("seed", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "routing_specs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("endpoint_id", sa.Integer, sa.ForeignKey("endpoints.id"), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("spec_hash", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("endpoint_id", "number", name="uq_routing_specs_endpoint_number"),
    )
    op.create_table(
        "rollouts",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("endpoint_id", sa.Integer, sa.ForeignKey("endpoints.id"), nullable=False),
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("flow_run_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("state", sa.JSON, nullable=False),
        sa.Column("heartbeat_at", sa.DateTime, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_index(
        "uq_rollouts_one_active",
        "rollouts",
        ["endpoint_id"],
        unique=True,
        sqlite_where=sa.text("status IN ('running', 'holding')"),
        postgresql_where=sa.text("status IN ('running', 'holding')"),
    )
    op.create_index("ix_rollouts_request", "rollouts", ["request_id"])
    op.create_table(
        "predictions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("endpoint", sa.String(64), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("variant", sa.String(80), nullable=False),
        sa.Column("bucket", sa.Integer, nullable=False),
        sa.Column("features", sa.JSON, nullable=False),
        sa.Column("output", sa.JSON),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_predictions_endpoint_time", "predictions", ["endpoint", "created_at"])
    op.create_table(
        "outcomes",
        sa.Column("prediction_id", sa.String(36), primary_key=True),
        sa.Column("label", sa.JSON),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("recorded_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "experiments",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("endpoint_id", sa.Integer, sa.ForeignKey("endpoints.id"), nullable=False),
        sa.Column("variants", sa.JSON, nullable=False),
        sa.Column("weights", sa.JSON, nullable=False),
        sa.Column("until_samples", sa.Integer),
        sa.Column("until_at", sa.DateTime),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_by", sa.String(128), nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("ended_at", sa.DateTime),
        sa.Column("flow_run_id", sa.String(64)),
        sa.Column("result", sa.JSON),
    )
    op.create_index(
        "uq_experiments_one_running",
        "experiments",
        ["endpoint_id"],
        unique=True,
        sqlite_where=sa.text("status = 'running'"),
        postgresql_where=sa.text("status = 'running'"),
    )


def downgrade() -> None:
    raise NotImplementedError("the audit trail is append-only; its schema is never downgraded")

"""Prompt versions, the production pointer's moves, suites, prompt evaluations and canaries.

Approval requests may now be about a prompt version (kind "prompt"): `version_id` becomes
nullable and `prompt_version_id` is added.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    _prompt_tables()
    _evaluation_tables()
    _approval_requests_for_prompts()


def _prompt_tables() -> None:
    op.create_table(
        "prompt_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("prompt_id", sa.String(128), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("template", sa.Text, nullable=False),
        sa.Column("template_digest", sa.String(64), nullable=False),
        sa.Column("variables", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("status_changed_at", sa.DateTime),
        sa.UniqueConstraint("prompt_id", "version", name="uq_prompt_versions_id_version"),
    )
    op.create_table(
        "prompt_pointer_moves",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("prompt_id", sa.String(128), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("previous_version", sa.String(64)),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("moved_by", sa.String(128), nullable=False),
        sa.Column("moved_at", sa.DateTime, nullable=False),
        sa.Column("request_id", sa.String(36)),
        sa.Column("approvers", sa.JSON, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_index(
        "ix_prompt_pointer_moves_prompt_time", "prompt_pointer_moves", ["prompt_id", "moved_at"]
    )
    op.create_table(
        "prompt_suites",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("uri", sa.String(255), nullable=False),
        sa.Column("n_cases", sa.Integer, nullable=False),
        sa.Column("registered_by", sa.String(128), nullable=False),
        sa.Column("registered_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("name", "digest", name="uq_prompt_suites_name_digest"),
    )


def _evaluation_tables() -> None:
    op.create_table(
        "prompt_evaluations",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("prompt_version_id", sa.Integer, sa.ForeignKey("prompt_versions.id")),
        sa.Column("model_version_id", sa.Integer, sa.ForeignKey("model_versions.id")),
        sa.Column("suite_id", sa.Integer, sa.ForeignKey("prompt_suites.id"), nullable=False),
        sa.Column("target", sa.JSON, nullable=False),
        sa.Column("result", sa.JSON, nullable=False),
        sa.Column("decision", sa.JSON, nullable=False),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("baseline_version", sa.String(64)),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("flow_run_id", sa.String(64)),
    )
    op.create_table(
        "prompt_rollouts",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("prompt_id", sa.String(128), nullable=False),
        sa.Column("candidate_version", sa.String(64), nullable=False),
        sa.Column("stable_version", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("steps", sa.JSON, nullable=False),
        sa.Column("step_index", sa.Integer, nullable=False),
        sa.Column("weight", sa.Integer, nullable=False),
        sa.Column("seed", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("verdicts", sa.JSON, nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_prompt_rollouts_prompt_status", "prompt_rollouts", ["prompt_id", "status"])
    op.create_table(
        "prompt_renders",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("prompt_id", sa.String(128), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("variant", sa.String(16), nullable=False),
        sa.Column("targeting_key", sa.String(256), nullable=False),
        sa.Column("rollout_id", sa.String(36)),
        sa.Column("rendered_at", sa.DateTime, nullable=False),
        sa.Column("success", sa.Boolean),
        sa.Column("latency_ms", sa.Float),
        sa.Column("outcome_at", sa.DateTime),
    )
    op.create_index("ix_prompt_renders_rollout", "prompt_renders", ["rollout_id", "variant"])


def _approval_requests_for_prompts() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        # SQLite rebuilds the table to drop NOT NULL; with foreign keys on, dropping the old
        # table would fail on its decisions, and the pragma only changes outside a transaction.
        op.execute("COMMIT")
        op.execute("PRAGMA foreign_keys=OFF")
        op.execute("BEGIN IMMEDIATE")
    op.drop_index("uq_approval_requests_one_open", table_name="approval_requests")
    with op.batch_alter_table("approval_requests") as batch:
        batch.alter_column("version_id", existing_type=sa.Integer, nullable=True)
        batch.add_column(
            sa.Column(
                "prompt_version_id",
                sa.Integer,
                sa.ForeignKey("prompt_versions.id", name="fk_approval_requests_prompt_version"),
            )
        )
    open_only = sa.text("status = 'open'")
    op.create_index(
        "uq_approval_requests_one_open",
        "approval_requests",
        ["version_id", "target_stage", "kind"],
        unique=True,
        sqlite_where=open_only,
        postgresql_where=open_only,
    )
    open_prompt = sa.text("status = 'open' AND prompt_version_id IS NOT NULL")
    op.create_index(
        "uq_approval_requests_one_open_prompt",
        "approval_requests",
        ["prompt_version_id", "target_stage"],
        unique=True,
        sqlite_where=open_prompt,
        postgresql_where=open_prompt,
    )
    if sqlite:
        broken = op.get_bind().exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"foreign keys broken by the approval_requests rebuild: {broken}")
        op.execute("COMMIT")
        op.execute("PRAGMA foreign_keys=ON")
        op.execute("BEGIN IMMEDIATE")


def downgrade() -> None:
    raise NotImplementedError("the audit trail is append-only; its schema is never downgraded")

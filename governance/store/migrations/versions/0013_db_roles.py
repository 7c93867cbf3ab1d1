"""Prompt render outcomes in a table of their own, so the gateway only ever appends.

A render's outcome was three columns of `prompt_renders` set by an UPDATE. The gateway's
PostgreSQL role (GOVERNANCE_GATEWAY_ROLE) may SELECT and INSERT what it serves and logs, and
never UPDATE or DELETE: so an outcome is now a row of `prompt_render_outcomes`, recorded
once (its primary key is the render's id). Outcomes recorded before this revision are
copied over (`recorded_at` from `outcome_at`), then the old columns are dropped.

Revision ID: 0013_db_roles
Revises: 0010_run_parameters
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_db_roles"
down_revision = "0010_run_parameters"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prompt_render_outcomes",
        sa.Column(
            "render_id",
            sa.String(36),
            sa.ForeignKey("prompt_renders.id", name="fk_prompt_render_outcomes_render"),
            primary_key=True,
        ),
        sa.Column("success", sa.Boolean, nullable=False),
        sa.Column("latency_ms", sa.Float),
        sa.Column("recorded_at", sa.DateTime, nullable=False),
    )
    op.execute(
        "INSERT INTO prompt_render_outcomes (render_id, success, latency_ms, recorded_at)"
        " SELECT id, success, latency_ms, COALESCE(outcome_at, rendered_at)"
        " FROM prompt_renders WHERE success IS NOT NULL"
    )
    # Plain ALTER TABLE ... DROP COLUMN on both backends (SQLite has it since 3.35): none of
    # the three is indexed or constrained, and no table rebuild touches the foreign keys.
    for column in ("success", "latency_ms", "outcome_at"):
        op.drop_column("prompt_renders", column)


def downgrade() -> None:
    raise NotImplementedError("the audit trail is append-only; its schema is never downgraded")

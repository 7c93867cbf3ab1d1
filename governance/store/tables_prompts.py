"""Prompts: versions, production-pointer moves, suites, evaluations, canaries, renders."""

from __future__ import annotations

import sqlalchemy as sa

from governance.store.columns import UTCDateTime, metadata

prompt_versions = sa.Table(
    "prompt_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("prompt_id", sa.String(128), nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("template", sa.Text, nullable=False),
    sa.Column("template_digest", sa.String(64), nullable=False),
    sa.Column("variables", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("status_changed_at", UTCDateTime),
    sa.UniqueConstraint("prompt_id", "version", name="uq_prompt_versions_id_version"),
)


# Append-only: the production pointer is the latest move, and every earlier one stays.
prompt_pointer_moves = sa.Table(
    "prompt_pointer_moves",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("prompt_id", sa.String(128), nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("previous_version", sa.String(64)),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("moved_by", sa.String(128), nullable=False),
    sa.Column("moved_at", UTCDateTime, nullable=False),
    sa.Column("request_id", sa.String(36)),
    sa.Column("approvers", sa.JSON, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Index("ix_prompt_pointer_moves_prompt_time", "prompt_id", "moved_at"),
)


prompt_suites = sa.Table(
    "prompt_suites",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("uri", sa.String(255), nullable=False),
    sa.Column("n_cases", sa.Integer, nullable=False),
    sa.Column("registered_by", sa.String(128), nullable=False),
    sa.Column("registered_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("name", "digest", name="uq_prompt_suites_name_digest"),
)


prompt_evaluations = sa.Table(
    "prompt_evaluations",
    metadata,
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
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("flow_run_id", sa.String(64)),
)


prompt_rollouts = sa.Table(
    "prompt_rollouts",
    metadata,
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
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index("ix_prompt_rollouts_prompt_status", "prompt_id", "status"),
)


prompt_renders = sa.Table(
    "prompt_renders",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("prompt_id", sa.String(128), nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("variant", sa.String(16), nullable=False),
    sa.Column("targeting_key", sa.String(256), nullable=False),
    sa.Column("rollout_id", sa.String(36)),
    sa.Column("rendered_at", UTCDateTime, nullable=False),
    # The client application whose key fetched the render.
    sa.Column("client", sa.String(64)),
    sa.Index("ix_prompt_renders_rollout", "rollout_id", "variant"),
)


# A render's outcome, once: a row of its own (not columns of the render) so that the
# gateway's database role appends outcomes and never needs UPDATE on anything.
prompt_render_outcomes = sa.Table(
    "prompt_render_outcomes",
    metadata,
    sa.Column(
        "render_id",
        sa.String(36),
        sa.ForeignKey("prompt_renders.id", name="fk_prompt_render_outcomes_render"),
        primary_key=True,
    ),
    sa.Column("success", sa.Boolean, nullable=False),
    sa.Column("latency_ms", sa.Float),
    sa.Column("recorded_at", UTCDateTime, nullable=False),
    # The client application whose key posted the outcome.
    sa.Column("client", sa.String(64)),
)

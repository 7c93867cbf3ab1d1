"""Evaluation runs, approval requests with their decisions and refusals, request tokens."""

from __future__ import annotations

import sqlalchemy as sa

from governance.store.columns import UTCDateTime, metadata

evaluation_runs = sa.Table(
    "evaluation_runs",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("version_id", sa.Integer, sa.ForeignKey("model_versions.id"), nullable=False),
    sa.Column("dataset_id", sa.Integer, sa.ForeignKey("evaluation_datasets.id"), nullable=False),
    # Versions and datasets are immutable, so their names are copied for plain reads.
    sa.Column("model_name", sa.String(128), nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("dataset", sa.String(128), nullable=False),
    sa.Column("dataset_digest", sa.String(64), nullable=False),
    sa.Column("result", sa.JSON, nullable=False),
    sa.Column("decision", sa.JSON, nullable=False),
    sa.Column("passed", sa.Boolean, nullable=False),
    sa.Column("policy_version", sa.String(64), nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_evaluation_runs_subject", "model_name", "version"),
)


approval_requests = sa.Table(
    "approval_requests",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    # Exactly one of version_id (a model version) and prompt_version_id (kind "prompt") is set.
    sa.Column("version_id", sa.Integer, sa.ForeignKey("model_versions.id")),
    # Named as migration 0006 names it, so a later migration can address it on both databases.
    sa.Column(
        "prompt_version_id",
        sa.Integer,
        sa.ForeignKey("prompt_versions.id", name="fk_approval_requests_prompt_version"),
    ),
    # Null for a request that is not a promotion, and for an LLM version's promotion, whose
    # evaluation is a prompt_evaluations row named in the evidence.
    sa.Column("evaluation_run_id", sa.String(36), sa.ForeignKey("evaluation_runs.id")),
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
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("status_changed_at", UTCDateTime, nullable=False),
    # Set once the approved move is carried out; after that no decision may change the request.
    sa.Column("completed_at", UTCDateTime),
    # "promotion" (asked for by promote-model), "retro_review" (after a break-glass) or
    # "retirement" (opened by the retirement audit).
    sa.Column("kind", sa.String(16), nullable=False, server_default="promotion"),
    # The promote-model run that owns the request, so a re-executed run finds it again.
    sa.Column("flow_run_id", sa.String(64)),
    sa.Column("closed_reason", sa.Text),
    # "totp" when every actor was verified with a one-time code, "none" otherwise.
    sa.Column("identity", sa.String(16), nullable=False, server_default="totp"),
    # The parameters of the flow run the approvals are for (its resumes must still match).
    sa.Column("run_parameters", sa.JSON),
    sa.Index("ix_approval_requests_status", "status"),
    sa.Index(
        "uq_approval_requests_one_open",
        "version_id",
        "target_stage",
        "kind",
        unique=True,
        sqlite_where=sa.text("status = 'open'"),
        postgresql_where=sa.text("status = 'open'"),
    ),
    sa.Index(
        "uq_approval_requests_one_open_prompt",
        "prompt_version_id",
        "target_stage",
        unique=True,
        sqlite_where=sa.text("status = 'open' AND prompt_version_id IS NOT NULL"),
        postgresql_where=sa.text("status = 'open' AND prompt_version_id IS NOT NULL"),
    ),
    sa.Index("ix_approval_requests_flow_run", "flow_run_id"),
    sa.Index("ix_approval_requests_subject", "model_name", "version"),
)


approval_decisions = sa.Table(
    "approval_decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("request_id", sa.String(36), sa.ForeignKey("approval_requests.id"), nullable=False),
    sa.Column("approver", sa.String(128), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("decision", sa.String(16), nullable=False),
    sa.Column("notes", sa.Text, nullable=False),
    sa.Column("evidence_digest", sa.String(64), nullable=False),
    sa.Column("policy_version", sa.String(64), nullable=False),
    sa.Column("decided_at", UTCDateTime, nullable=False),
    # False only under `identity: none`, where nobody's one-time code was checked.
    sa.Column("verified", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Index("ix_approval_decisions_request", "request_id"),
)


# Refused attempts live apart from decisions so that no query can count one as an approval.
approval_refusals = sa.Table(
    "approval_refusals",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("request_id", sa.String(36), sa.ForeignKey("approval_requests.id"), nullable=False),
    sa.Column("approver", sa.String(128), nullable=False),
    sa.Column("role", sa.String(128), nullable=False),
    sa.Column("decision", sa.String(128), nullable=False),
    sa.Column("notes", sa.Text, nullable=False),
    sa.Column("error", sa.String(64), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("attempted_at", UTCDateTime, nullable=False),
    sa.Index("ix_approval_refusals_request", "request_id"),
)


request_tokens = sa.Table(
    "request_tokens",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("person", sa.String(128), nullable=False),
    sa.Column("model_name", sa.String(128), nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("target_stage", sa.String(16), nullable=False),
    sa.Column("issued_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("used_at", UTCDateTime),
    # The flow run that consumed it: a re-executed run may present it again, nobody else.
    sa.Column("flow_run_id", sa.String(64)),
    # The run parameters it was minted for; the token's MAC covers their digest.
    sa.Column("parameters", sa.JSON),
)

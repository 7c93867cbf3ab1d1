"""The governance schema as SQLAlchemy Core tables (Alembic migrations mirror it)."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

metadata = sa.MetaData()


class UTCDateTime(TypeDecorator):
    """Stores naive UTC, returns aware UTC, so SQLite and PostgreSQL read back the same value."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        """Convert an aware datetime to naive UTC for storage."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are refused; pass an aware UTC time")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        """Attach UTC to the stored naive value."""
        return None if value is None else value.replace(tzinfo=UTC)


registered_models = sa.Table(
    "registered_models",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("owner", sa.String(128), nullable=False),
    sa.Column("team", sa.String(128), nullable=False),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("risk_level", sa.String(16), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("model_id", sa.Integer, sa.ForeignKey("registered_models.id"), nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("stage", sa.String(16), nullable=False),
    sa.Column("artifact_uri", sa.String(256)),
    sa.Column("artifact_digest", sa.String(64)),
    sa.Column("llm_config", sa.JSON),
    sa.Column("training_data_version", sa.String(128), nullable=False),
    sa.Column("training_pipeline", sa.String(256), nullable=False),
    sa.Column("hyperparameters", sa.JSON, nullable=False),
    sa.Column("metrics", sa.JSON, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("stage_changed_at", UTCDateTime),
    sa.Column("sunset_at", UTCDateTime),
    sa.UniqueConstraint("model_id", "version", name="uq_model_versions_model_version"),
    # The database itself refuses a second production version of one model.
    sa.Index(
        "uq_model_versions_one_production",
        "model_id",
        unique=True,
        sqlite_where=sa.text("stage = 'production'"),
        postgresql_where=sa.text("stage = 'production'"),
    ),
    sa.Index("ix_model_versions_stage", "stage"),
)

model_aliases = sa.Table(
    "model_aliases",
    metadata,
    sa.Column("model_id", sa.Integer, sa.ForeignKey("registered_models.id"), primary_key=True),
    sa.Column("alias", sa.String(128), primary_key=True),
    sa.Column("version_id", sa.Integer, sa.ForeignKey("model_versions.id"), nullable=False),
)

model_cards = sa.Table(
    "model_cards",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("version_id", sa.Integer, sa.ForeignKey("model_versions.id"), nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("card", sa.JSON, nullable=False),
    sa.Column("card_hash", sa.String(64), nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("version_id", "revision", name="uq_model_cards_version_revision"),
)

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
)

evaluation_datasets = sa.Table(
    "evaluation_datasets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("uri", sa.String(256), nullable=False),
    sa.Column("format", sa.String(16), nullable=False),
    sa.Column("target", sa.String(256), nullable=False),
    sa.Column("group_columns", sa.JSON, nullable=False),
    sa.Column("n_rows", sa.Integer, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

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
)

endpoints = sa.Table(
    "endpoints",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("model_name", sa.String(128), nullable=False),
    # Hashed with every targeting key: per-endpoint, so endpoints don't share user groups.
    sa.Column("seed", sa.String(64), nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

# Append-only (the application role may only insert): history is what "what served E at T"
# answers from, so no spec is ever edited in place.
routing_specs = sa.Table(
    "routing_specs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("endpoint_id", sa.Integer, sa.ForeignKey("endpoints.id"), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("spec_hash", sa.String(64), nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("endpoint_id", "number", name="uq_routing_specs_endpoint_number"),
)

rollouts = sa.Table(
    "rollouts",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("endpoint_id", sa.Integer, sa.ForeignKey("endpoints.id"), nullable=False),
    sa.Column("request_id", sa.String(36), nullable=False),
    sa.Column("flow_run_id", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    # The whole Rollout record (steps, current step, bake, verdicts) as its domain JSON.
    sa.Column("state", sa.JSON, nullable=False),
    sa.Column("heartbeat_at", UTCDateTime, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index(
        "uq_rollouts_one_active",
        "endpoint_id",
        unique=True,
        sqlite_where=sa.text("status IN ('running', 'holding')"),
        postgresql_where=sa.text("status IN ('running', 'holding')"),
    ),
    sa.Index("ix_rollouts_request", "request_id"),
)

predictions = sa.Table(
    "predictions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("endpoint", sa.String(64), nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("variant", sa.String(80), nullable=False),
    sa.Column("bucket", sa.Integer, nullable=False),
    sa.Column("features", sa.JSON, nullable=False),
    sa.Column("output", sa.JSON),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_predictions_endpoint_time", "endpoint", "created_at"),
)

outcomes = sa.Table(
    "outcomes",
    metadata,
    sa.Column("prediction_id", sa.String(36), primary_key=True),
    sa.Column("label", sa.JSON),
    # Numeric outcome fields (revenue, clicks...) that A/B tests report as business metrics.
    sa.Column("metrics", sa.JSON, nullable=False),
    sa.Column("recorded_at", UTCDateTime, nullable=False),
)

experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("endpoint_id", sa.Integer, sa.ForeignKey("endpoints.id"), nullable=False),
    sa.Column("variants", sa.JSON, nullable=False),
    sa.Column("weights", sa.JSON, nullable=False),
    sa.Column("until_samples", sa.Integer),
    sa.Column("until_at", UTCDateTime),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("started_by", sa.String(128), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("ended_at", UTCDateTime),
    sa.Column("flow_run_id", sa.String(64)),
    sa.Column("result", sa.JSON),
    sa.Index(
        "uq_experiments_one_running",
        "endpoint_id",
        unique=True,
        sqlite_where=sa.text("status = 'running'"),
        postgresql_where=sa.text("status = 'running'"),
    ),
)

# One per version: the reference sample (content-addressed parquet) and its column statistics.
reference_profiles = sa.Table(
    "reference_profiles",
    metadata,
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
    sa.Column("created_at", UTCDateTime, nullable=False),
)

# Batches scored outside the gateway: features, predictions and labels as one parquet file.
monitoring_batches = sa.Table(
    "monitoring_batches",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("model_version_id", sa.Integer, sa.ForeignKey("model_versions.id"), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("uri", sa.String(255), nullable=False),
    sa.Column("source_digest", sa.String(64), nullable=False),
    sa.Column("n_rows", sa.Integer, nullable=False),
    sa.Column("n_labels", sa.Integer, nullable=False),
    sa.Column("first_at", UTCDateTime, nullable=False),
    sa.Column("last_at", UTCDateTime, nullable=False),
    sa.Column("ingested_by", sa.String(128), nullable=False),
    sa.Column("ingested_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("model_version_id", "source_digest", name="uq_batches_version_source"),
    sa.Index("ix_batches_version_last", "model_version_id", "last_at"),
)

# One row per version per audit run: the verdict and every finding with its figures.
retirement_audits = sa.Table(
    "retirement_audits",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("audit_run", sa.String(64), nullable=False),
    sa.Column("model_version_id", sa.Integer, sa.ForeignKey("model_versions.id"), nullable=False),
    sa.Column("verdict", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("successor", sa.String(64)),
    sa.Column("findings", sa.JSON, nullable=False),
    sa.Column("report_digest", sa.String(64)),
    sa.Column("checked_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("audit_run", "model_version_id", name="uq_audits_run_version"),
    sa.Index("ix_audits_version_time", "model_version_id", "checked_at"),
)

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
    sa.Column("success", sa.Boolean),
    sa.Column("latency_ms", sa.Float),
    sa.Column("outcome_at", UTCDateTime),
    sa.Index("ix_prompt_renders_rollout", "rollout_id", "variant"),
)

"""Serving: endpoints, routing specs, rollouts, the prediction log, outcomes, experiments."""

from __future__ import annotations

import sqlalchemy as sa

from governance.store.columns import UTCDateTime, metadata

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
    # HMAC over (endpoint, number, content hash) under a key outside the database; NULL on
    # specs written before migration 0007 (their routing.changed event vouches for them).
    sa.Column("spec_mac", sa.String(64)),
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
    # The client application whose key asked for it (NULL: before 0012, or keys off).
    sa.Column("client", sa.String(64)),
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
    # The client application whose key posted it (NULL: before 0012, or keys off).
    sa.Column("client", sa.String(64)),
)


# Keys of the gateway's client applications. Only the key's sha256 is stored; `mac` seals the
# row as `clients create` made it (keyring purpose `client-key-row`), so a database writer
# without the secret key cannot mint a key by inserting a row or widen one by editing it.
client_keys = sa.Table(
    "client_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("app", sa.String(64), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    # Endpoint names, or ["*"] for every endpoint; routes among predict, outcomes, prompts.
    sa.Column("endpoints", sa.JSON, nullable=False),
    sa.Column("routes", sa.JSON, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("revoked_by", sa.String(128)),
    sa.Column("revoked_at", UTCDateTime),
    sa.Column("mac", sa.String(64)),
    sa.Index("ix_client_keys_app", "app"),
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

"""Monitoring: reference profiles, ingested batches and retirement-audit results."""

from __future__ import annotations

import sqlalchemy as sa

from governance.store.columns import UTCDateTime, metadata

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

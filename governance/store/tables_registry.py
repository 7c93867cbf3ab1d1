"""Registered models, their versions, aliases and cards, compliance documents, and evaluation
datasets."""

from __future__ import annotations

import sqlalchemy as sa

from governance.store.columns import UTCDateTime, metadata

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


# The provider-written compliance.yaml of a model (Annex IV): numbered revisions, like cards,
# each registered by a `compliance.document_registered` event carrying its digest.
compliance_documents = sa.Table(
    "compliance_documents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("model_id", sa.Integer, sa.ForeignKey("registered_models.id"), nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("document", sa.JSON, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("model_id", "revision", name="uq_compliance_documents_model_revision"),
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

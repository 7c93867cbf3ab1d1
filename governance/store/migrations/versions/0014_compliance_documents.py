"""The provider-written compliance.yaml of each model, in numbered revisions like cards.

`compliance_documents` holds each revision's validated document (canonical JSON), its
sha256 digest, who registered it and when; the `compliance.document_registered` event of
each revision carries the same digest, so `audit verify` names a row no event accounts for.
The application role may only read and append it (store/db_roles.py, granted by
`governance init`): a revision is never rewritten, a new one is registered.

Revision ID: 0014_compliance_documents
Revises: 0012_client_keys
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_compliance_documents"
down_revision = "0012_client_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "compliance_documents",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("model_id", sa.Integer, sa.ForeignKey("registered_models.id"), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("document", sa.JSON, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint(
            "model_id", "revision", name="uq_compliance_documents_model_revision"
        ),
    )


def downgrade() -> None:
    raise NotImplementedError("the audit trail is append-only; its schema is never downgraded")

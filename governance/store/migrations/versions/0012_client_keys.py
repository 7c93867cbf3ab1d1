"""Client keys of the gateway, and the client application behind every logged use.

`client_keys` holds each key's sha256 (never the key), its application, its scope (endpoints
and routes), who made and revoked it, and a MAC over the row made with the secret key, so a
row inserted or edited without the key opens nothing. Predictions, outcomes and prompt
renders (and render outcomes) record the client application whose key posted them; rows from
before this revision have none. Roles' rights are per table (granted by `governance init`,
store/db_roles.py), so re-running init grants them the new table.

Revision ID: 0012_client_keys
Revises: 0013_db_roles (written beside it; chained after it when main was merged)
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_client_keys"
down_revision = "0013_db_roles"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "client_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("app", sa.String(64), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("endpoints", sa.JSON, nullable=False),
        sa.Column("routes", sa.JSON, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("revoked_by", sa.String(128)),
        sa.Column("revoked_at", sa.DateTime),
        sa.Column("mac", sa.String(64)),
    )
    op.create_index("ix_client_keys_app", "client_keys", ["app"])
    op.add_column("predictions", sa.Column("client", sa.String(64)))
    op.add_column("outcomes", sa.Column("client", sa.String(64)))
    op.add_column("prompt_renders", sa.Column("client", sa.String(64)))
    op.add_column("prompt_render_outcomes", sa.Column("client", sa.String(64)))


def downgrade() -> None:
    raise NotImplementedError("the audit trail is append-only; its schema is never downgraded")

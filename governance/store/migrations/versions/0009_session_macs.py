"""CLI sessions carry a MAC over their row, made with the key when the session was opened.

A row written without the key (inserted, or with its person or expiry changed) no longer
opens a session. Rows from before this revision have no MAC: their holders log in again.
The application role's rights are per table (granted by `governance init`), so the new
column needs no grant of its own.

Revision ID: 0009_session_macs
Revises: 0007_spec_macs
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_session_macs"
down_revision = "0007_spec_macs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("cli_sessions", sa.Column("mac", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("cli_sessions") as batch:
        batch.drop_column("mac")

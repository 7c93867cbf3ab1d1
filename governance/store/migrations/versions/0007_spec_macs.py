"""Routing specs carry a MAC over (endpoint, number, content hash), made when they are written.

The gateway serves a spec only if its content hashes to what the key vouched for. Specs
written before this revision have no MAC (a migration has no key); the gateway accepts
such a spec only when its content hashes to the hash its MAC-verified `routing.changed`
event records.

Revision ID: 0007_spec_macs
Revises: 0006
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_spec_macs"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("routing_specs", sa.Column("spec_mac", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("routing_specs") as batch:
        batch.drop_column("spec_mac")

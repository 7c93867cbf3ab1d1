"""The parameters a promotion run was submitted with, bound to its token and its request.

`request_tokens.parameters` holds what `governance promote` submitted (the token's MAC covers
their digest); `approval_requests.run_parameters` holds what the run was approved for, so a
resumed run whose parameters were changed through the Prefect API is voided.

Revision ID: 0010_run_parameters
Revises: 0009_session_macs
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_run_parameters"
down_revision = "0009_session_macs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: tokens and requests made before this revision were bound to no parameters.
    op.add_column("request_tokens", sa.Column("parameters", sa.JSON))
    op.add_column("approval_requests", sa.Column("run_parameters", sa.JSON))


def downgrade() -> None:
    raise NotImplementedError("the audit trail is append-only; its schema is never downgraded")

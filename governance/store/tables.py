"""The whole governance schema: every table module's tables on the one MetaData.

Alembic's environment and the schema-drift test compare the migrations with this `metadata`,
so it must hold every table: importing the table modules here is what registers them.
Code that needs a table imports it from its module (`governance.store.tables_registry`...).
"""

from __future__ import annotations

from governance.store import (  # noqa: F401  (imported to register their tables)
    tables_monitoring,
    tables_promotion,
    tables_prompts,
    tables_registry,
    tables_rollout,
    tables_trust,
)
from governance.store.columns import metadata

__all__ = ["metadata"]

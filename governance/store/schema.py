"""Creating, upgrading and checking the governance schema through Alembic."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import Engine

from governance.domain.errors import StoreUnavailable
from governance.store.db_roles import grant_app_role, grant_roles

__all__ = ["current_revision", "grant_app_role", "head_revision", "require_current", "upgrade"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    """The newest migration revision shipped with this code."""
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(
    engine: Engine, app_role: str = "", gateway_role: str = "", auditor_role: str = ""
) -> tuple[str | None, str]:
    """Create or upgrade the schema to head, then grant each named role its rights.

    PostgreSQL only (store/db_roles.py): the application's, the gateway's and the auditor's
    roles. Run on every init, so tables a migration added get their grants too.
    """
    before = current_revision(engine)
    config = _config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        try:
            command.upgrade(config, "head")
        except CommandError as exc:
            # e.g. a revision this code does not know (a newer release stamped the database)
            raise StoreUnavailable(
                f"cannot upgrade the governance database from revision {before} to "
                f"{head_revision()}: {exc}"
            ) from None
        if conn.dialect.name == "postgresql":
            grant_roles(conn, app=app_role, gateway=gateway_role, auditor=auditor_role)
    return before, head_revision()


def require_current(engine: Engine) -> None:
    """Raise StoreUnavailable unless the schema is at head, telling the user to run init."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        state = "is empty" if current is None else f"is at revision {current}, code needs {head}"
        raise StoreUnavailable(f"governance database {state}: run `governance init`")

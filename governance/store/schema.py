"""Creating, upgrading and checking the governance schema through Alembic."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import Connection, Engine

from governance.domain.errors import ConfigError, StoreUnavailable

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


def upgrade(engine: Engine, app_role: str = "") -> tuple[str | None, str]:
    """Create or upgrade the schema to head, then grant `app_role` its rights (PostgreSQL)."""
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
        if app_role and conn.dialect.name == "postgresql":
            grant_app_role(conn, app_role)
    return before, head_revision()


def require_current(engine: Engine) -> None:
    """Raise StoreUnavailable unless the schema is at head, telling the user to run init."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        state = "is empty" if current is None else f"is at revision {current}, code needs {head}"
        raise StoreUnavailable(f"governance database {state}: run `governance init`")


# What the application may do to the audit trail (read, append) and to the schema revision
# (read); every other table gets plain read/write rights.
_LIMITED_RIGHTS = {
    "audit_events": "SELECT, INSERT",
    "routing_specs": "SELECT, INSERT",
    "reference_profiles": "SELECT, INSERT",
    "retirement_audits": "SELECT, INSERT",
    "prompt_pointer_moves": "SELECT, INSERT",
    "prompt_evaluations": "SELECT, INSERT",
    "alembic_version": "SELECT",
}


def grant_app_role(conn: Connection, role: str) -> None:
    """Let the application role use every table, but not rewrite the audit trail.

    Runs as the owner of the schema (who ran the migrations): the application role owns
    nothing, so it can neither drop nor disable the audit triggers, and it gets no UPDATE,
    DELETE or TRUNCATE on audit_events.
    """
    owner, schema = conn.execute(sa.text("SELECT current_user, current_schema()")).one()
    _check_app_role(conn, role, owner)
    quote = conn.dialect.identifier_preparer.quote
    grantee = quote(role)
    tables = conn.execute(
        sa.text("SELECT tablename FROM pg_tables WHERE schemaname = :schema"), {"schema": schema}
    ).scalars()
    for table in tables.all():
        name = quote(table)
        conn.exec_driver_sql(f"REVOKE ALL ON {name} FROM {grantee}")
        rights = _LIMITED_RIGHTS.get(table, "SELECT, INSERT, UPDATE, DELETE")
        conn.exec_driver_sql(f"GRANT {rights} ON {name} TO {grantee}")
    conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {quote(schema)} TO {grantee}")
    conn.exec_driver_sql(
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {quote(schema)} TO {grantee}"
    )


def _check_app_role(conn: Connection, role: str, owner: str) -> None:
    """Refuse an application role that could act as the owner (and so rewrite the trail)."""
    found = conn.execute(
        sa.text(
            "SELECT rolsuper OR rolcreaterole, pg_has_role(:role, :owner, 'MEMBER')"
            " FROM pg_roles WHERE rolname = :role"
        ),
        {"role": role, "owner": owner},
    ).first()
    problem = None
    if found is None:
        problem = "does not exist"
    elif found[0]:
        problem = "is a superuser or may create roles, so it could make itself the owner"
    elif role == owner or found[1]:
        problem = f"is, or is a member of, the owner role {owner!r} that runs the migrations"
    if problem:
        raise ConfigError(f"setting GOVERNANCE_APP_ROLE: role {role!r} {problem}")

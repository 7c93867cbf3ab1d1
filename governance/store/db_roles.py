"""The PostgreSQL roles beside the owner, and what `governance init` grants each of them.

- The owner (whoever runs `governance init`) runs the migrations and owns every table and
  trigger.
- The application role (GOVERNANCE_APP_ROLE: the governance server, the flow workers) reads
  and writes state, and may only read and append the audit trail.
- The gateway's role (GOVERNANCE_GATEWAY_ROLE) reads what serving needs (routing, versions,
  their registration events, prompts) and appends predictions, outcomes, prompt renders and
  their outcomes: no UPDATE or DELETE anywhere, no audit event, no people or sessions.
- The auditor's role (GOVERNANCE_AUDITOR_ROLE) reads everything but people's TOTP secrets
  and the session rows, and writes nothing.

Each role is refused (ConfigError naming its setting) if it could act as the owner, and a
narrow role (gateway, auditor) if it is a member of the application role.

Each grant starts from REVOKE ALL on every table of the schema, so running init again (after
a migration added a table, or a role's rights were narrowed) leaves exactly what is listed
here. A table no list names gets nothing from the gateway's role.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from governance.domain.errors import ConfigError

# What the application may do to the audit trail and the append-only history tables (read,
# append) and to the schema revision (read); every other table gets plain read/write rights.
APP_LIMITED_RIGHTS = {
    "audit_events": "SELECT, INSERT",
    "routing_specs": "SELECT, INSERT",
    "reference_profiles": "SELECT, INSERT",
    "retirement_audits": "SELECT, INSERT",
    "prompt_pointer_moves": "SELECT, INSERT",
    "prompt_evaluations": "SELECT, INSERT",
    # A compliance document's revision is never rewritten: a new one is registered.
    "compliance_documents": "SELECT, INSERT",
    "alembic_version": "SELECT",
}

# Every table the gateway touches (governance/serving/ and the services it calls), and how.
GATEWAY_RIGHTS = {
    # open_governance checks the schema revision.
    "alembic_version": "SELECT",
    # The routing cache: endpoints and their newest specs.
    "endpoints": "SELECT",
    "routing_specs": "SELECT",
    # The model cache: a version's row, checked against its MAC-verified registration event;
    # a spec older than seals is checked against its routing.changed event.
    "registered_models": "SELECT",
    "model_versions": "SELECT",
    "audit_events": "SELECT",
    # The prediction log (insert_many skips ids already stored) and outcomes, once each.
    "predictions": "SELECT, INSERT",
    "outcomes": "SELECT, INSERT",
    # The prompt cache: the pointer, the versions and a running canary.
    "prompt_versions": "SELECT",
    "prompt_pointer_moves": "SELECT",
    "prompt_rollouts": "SELECT",
    # The render log during a canary and each render's outcome, once.
    "prompt_renders": "SELECT, INSERT",
    "prompt_render_outcomes": "SELECT, INSERT",
    # The client keys it checks every request against (revocations: audit_events above).
    "client_keys": "SELECT",
}

# What the auditor may not read: secrets a reader could act with. A table named here is
# withheld whole; people's other columns stay readable, so `audit verify` (whose replay reads
# who is enrolled) runs as the auditor's role.
AUDITOR_WITHHELD_TABLES = {
    "cli_sessions": "the session rows and their MACs",
}
AUDITOR_WITHHELD_COLUMNS = {
    "people": {"totp_secret": "every person's TOTP secret (encrypted under the key file)"},
}

APP_SETTING = "GOVERNANCE_APP_ROLE"
GATEWAY_SETTING = "GOVERNANCE_GATEWAY_ROLE"
AUDITOR_SETTING = "GOVERNANCE_AUDITOR_ROLE"


def grant_roles(conn: Connection, app: str = "", gateway: str = "", auditor: str = "") -> None:
    """Grant each named role its rights (an empty name is skipped); run as the owner.

    Refuses (ConfigError naming the setting) a role that could act as the owner, one named
    by two settings, or a narrow role that is a member of the application role.
    """
    named = [(APP_SETTING, app), (GATEWAY_SETTING, gateway), (AUDITOR_SETTING, auditor)]
    named = [(setting, role) for setting, role in named if role]
    seen: dict[str, str] = {}
    for setting, role in named:
        if role in seen:
            raise ConfigError(
                f"setting {setting}: role {role!r} is also {seen[role]}; each part of the"
                " stack needs a role of its own"
            )
        seen[role] = setting
    if app:
        grant_app_role(conn, app)
    if gateway:
        grant_gateway_role(conn, gateway, app_role=app)
    if auditor:
        grant_auditor_role(conn, auditor, app_role=app)


def grant_app_role(conn: Connection, role: str) -> None:
    """Let the application role use every table, but not rewrite the audit trail.

    Runs as the owner of the schema (who ran the migrations): the application role owns
    nothing, so it can neither drop nor disable the audit triggers, and it gets no UPDATE,
    DELETE or TRUNCATE on audit_events.
    """
    _grant(conn, role, APP_SETTING, lambda table: APP_LIMITED_RIGHTS.get(table, _READ_WRITE))
    schema = quoted_schema(conn)
    conn.exec_driver_sql(
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {_quote(conn, role)}"
    )


def grant_gateway_role(conn: Connection, role: str, app_role: str = "") -> None:
    """Let the gateway's role read what serving needs and append what it logs (GATEWAY_RIGHTS)."""
    _grant(conn, role, GATEWAY_SETTING, GATEWAY_RIGHTS.get, app_role)


def grant_auditor_role(conn: Connection, role: str, app_role: str = "") -> None:
    """Let the auditor's role read every table but AUDITOR_WITHHELD_TABLES and the columns of
    AUDITOR_WITHHELD_COLUMNS, and write nothing."""

    def rights_of(table: str) -> str | None:
        if table in AUDITOR_WITHHELD_TABLES:
            return None
        withheld = AUDITOR_WITHHELD_COLUMNS.get(table)
        if withheld is None:
            return "SELECT"
        readable = [c for c in _columns(conn, table) if c not in withheld]
        return f"SELECT ({', '.join(_quote(conn, c) for c in readable)})"

    _grant(conn, role, AUDITOR_SETTING, rights_of, app_role)


_READ_WRITE = "SELECT, INSERT, UPDATE, DELETE"


def _grant(conn: Connection, role: str, setting: str, rights_of, app_role: str = "") -> None:
    """REVOKE ALL on every table of the schema from `role`, then grant `rights_of(table)`."""
    owner, schema = conn.execute(sa.text("SELECT current_user, current_schema()")).one()
    check_role(conn, role, owner, setting, app_role)
    grantee = _quote(conn, role)
    tables = conn.execute(
        sa.text("SELECT tablename FROM pg_tables WHERE schemaname = :schema"), {"schema": schema}
    ).scalars()
    for table in tables.all():
        name = _quote(conn, table)
        conn.exec_driver_sql(f"REVOKE ALL ON {name} FROM {grantee}")
        rights = rights_of(table)
        if rights:
            conn.exec_driver_sql(f"GRANT {rights} ON {name} TO {grantee}")
    conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {_quote(conn, schema)} TO {grantee}")


def check_role(conn: Connection, role: str, owner: str, setting: str, app_role: str = "") -> None:
    """Refuse a role that could act as the owner (and so rewrite the trail), or, for a narrow
    role, one that inherits the application role's rights."""
    found = conn.execute(
        sa.text(
            "SELECT rolsuper OR rolcreaterole, pg_has_role(:role, :owner, 'MEMBER'),"
            " CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :app)"
            "   THEN pg_has_role(:role, :app, 'MEMBER') ELSE false END"
            " FROM pg_roles WHERE rolname = :role"
        ),
        {"role": role, "owner": owner, "app": app_role},
    ).first()
    problem = None
    if found is None:
        problem = "does not exist"
    elif found[0]:
        problem = "is a superuser or may create roles, so it could make itself the owner"
    elif role == owner or found[1]:
        problem = f"is, or is a member of, the owner role {owner!r} that runs the migrations"
    elif found[2]:
        problem = f"is a member of the application role {app_role!r}, so it holds its rights"
    if problem:
        raise ConfigError(f"setting {setting}: role {role!r} {problem}")


def _columns(conn: Connection, table: str) -> list[str]:
    """The columns of a table of the current schema, in order."""
    return list(
        conn.execute(
            sa.text(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND table_name = :table"
                " ORDER BY ordinal_position"
            ),
            {"table": table},
        ).scalars()
    )


def quoted_schema(conn: Connection) -> str:
    """The current schema's name, quoted for SQL."""
    return _quote(conn, conn.execute(sa.text("SELECT current_schema()")).scalar_one())


def _quote(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)

"""PostgreSQL role separation: migrations run as the owner; the application's role appends to
the audit trail through the services but cannot change, empty or unprotect it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from seeding import make_settings
from test_audit_trail import register, rows

from governance.bootstrap import open_governance
from governance.cli import run
from governance.config import EXAMPLE_POLICY
from governance.domain.errors import ConfigError
from governance.keyring import create_secret_key
from governance.services.registry import versions
from governance.services.trust import audit
from governance.store.engine import create_store_engine
from governance.store.schema import upgrade

# Runs against the test server only; the `gov` fixture's two backends do not apply here.
pytestmark = pytest.mark.usefixtures("postgres_databases")


class Roles:
    """An owner role, an application role and a database the owner owns (all throwaway)."""

    def __init__(self, databases) -> None:
        suffix = uuid.uuid4().hex[:8]
        self.admin = databases.admin
        self.owner, self.app, self.database = f"gov_owner_{suffix}", f"gov_app_{suffix}", ""
        self.base = databases.base

    def create(self) -> None:
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE ROLE "{self.owner}" LOGIN')
            conn.exec_driver_sql(f'CREATE ROLE "{self.app}" LOGIN NOINHERIT')
            self.database = f"gov_{uuid.uuid4().hex[:12]}"
            conn.exec_driver_sql(f'CREATE DATABASE "{self.database}" OWNER "{self.owner}"')

    def url(self, role: str) -> str:
        """The throwaway database's URL as `role` (the test server trusts local logins)."""
        url = self.base.set(username=role, password=None, database=self.database)
        return url.render_as_string(hide_password=False)

    def drop(self) -> None:
        with self.admin.connect() as conn:
            if self.database:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{self.app}"')
            conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{self.owner}"')


@pytest.fixture
def roles(postgres_databases) -> Iterator[Roles]:
    """Fresh owner and application roles with a database owned by the owner."""
    made = Roles(postgres_databases)
    made.create()
    yield made
    made.drop()


@pytest.fixture
def app_gov(roles, tmp_path, monkeypatch, churn_model, example_card, model_bytes, now):
    """`governance init` as the owner with GOVERNANCE_APP_ROLE, then the app's instance."""
    owner_settings = make_settings(tmp_path, roles.url(roles.owner))
    monkeypatch.setenv("GOVERNANCE_HOME", str(owner_settings.home))
    monkeypatch.setenv("GOVERNANCE_DATABASE_URL", roles.url(roles.owner))
    monkeypatch.setenv("GOVERNANCE_ARTIFACT_ROOT", str(owner_settings.artifact_root))
    monkeypatch.setenv("GOVERNANCE_POLICY_FILE", str(EXAMPLE_POLICY))
    monkeypatch.setenv("GOVERNANCE_APP_ROLE", roles.app)
    assert run(["init"]) == 0
    gov = open_governance(make_settings(tmp_path, roles.url(roles.app)))
    register(gov, churn_model, example_card, model_bytes[0], "1.0.0", now)
    yield gov
    gov.close()


OWNER_ONLY = "must be owner of"
NOT_GRANTED = "permission denied for table"
REFUSED = {
    "drop_trigger": ("DROP TRIGGER audit_events_no_change ON audit_events", OWNER_ONLY),
    "drop_truncate_trigger": ("DROP TRIGGER audit_events_no_truncate ON audit_events", OWNER_ONLY),
    "disable_triggers": ("ALTER TABLE audit_events DISABLE TRIGGER ALL", OWNER_ONLY),
    "drop_function": ("DROP FUNCTION audit_events_append_only() CASCADE", OWNER_ONLY),
    "take_ownership": ("ALTER TABLE audit_events OWNER TO CURRENT_USER", OWNER_ONLY),
    "drop_table": ("DROP TABLE audit_events", OWNER_ONLY),
    "update": ("UPDATE audit_events SET actor = 'mallory' WHERE seq = 2", NOT_GRANTED),
    "update_mac": ("UPDATE audit_events SET mac = NULL", NOT_GRANTED),
    "delete": ("DELETE FROM audit_events WHERE seq = 2", NOT_GRANTED),
    "truncate": ("TRUNCATE audit_events", NOT_GRANTED),
    "rewrite_revision": ("UPDATE alembic_version SET version_num = 'x'", NOT_GRANTED),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_the_app_role_cannot_change_or_unprotect_the_trail(case, roles, app_gov):
    statement, words = REFUSED[case]
    before = rows(app_gov)
    engine = create_store_engine(roles.url(roles.app))
    try:
        with pytest.raises(sa.exc.ProgrammingError, match=words), engine.begin() as conn:
            conn.exec_driver_sql(statement)
    finally:
        engine.dispose()
    # policy.loaded, then the fixture's two events.
    assert rows(app_gov) == before and len(before) == 3
    assert audit.verify(app_gov).chain.verified == 3


def test_the_app_role_writes_through_the_services(roles, app_gov, now, model_bytes, example_card):
    spec = versions.VersionSpec(name="churn", version="1.1.0", created_by="alice")
    versions.register_version(app_gov, spec, example_card, artifact=model_bytes[1], now=now)
    versions.set_alias(app_gov, "churn", "champion", "1.1.0", actor="bob", now=now)
    versions.set_alias(app_gov, "churn", "champion", "1.0.0", actor="bob", now=now)
    report = audit.verify(app_gov)
    # policy.loaded, the fixture's two events and these three.
    assert report.chain.verified == 6 and report.chain.macs_checked and report.state_rows == 6
    with app_gov.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT current_user").scalar_one() == roles.app
        owners = conn.exec_driver_sql(
            "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'"
        ).scalars()
        assert list(owners) == [roles.owner]


@pytest.mark.parametrize(
    ("who", "words"),
    [
        ("owner", "is, or is a member of, the owner role"),
        ("nobody", "does not exist"),
        ("postgres", "is a superuser or may create roles"),
    ],
)
def test_init_refuses_an_app_role_that_could_act_as_the_owner(roles, tmp_path, who, words):
    role = {"owner": roles.owner, "nobody": f"nobody_{uuid.uuid4().hex[:6]}"}.get(who, who)
    settings = make_settings(tmp_path, roles.url(roles.owner))
    create_secret_key(settings.resolved_secret_key_file)
    bare = open_governance(settings, check_schema=False)
    try:
        with pytest.raises(
            ConfigError, match=f"^setting GOVERNANCE_APP_ROLE: role '{role}' {words}"
        ):
            upgrade(bare.engine, app_role=role)
    finally:
        bare.close()

"""The gateway's and the auditor's PostgreSQL roles: each can do its job and nothing more.

`governance init`, run as the owner with GOVERNANCE_APP_ROLE, GOVERNANCE_GATEWAY_ROLE and
GOVERNANCE_AUDITOR_ROLE, grants them (store/db_roles.py). A real `governance serve` process
runs as the gateway's role with only the gateway's purpose key file, and serves; every write
and read outside its job is refused by PostgreSQL; the auditor reads and verifies the trail.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx
import psycopg
import pytest
import sqlalchemy as sa
from gatewaykit import ENDPOINT, change_routing, client_headers, gateway_process, serve_churn
from promptkit import start_canary
from seeding import make_settings
from test_audit_roles import Roles

from governance.bootstrap import Governance, open_governance
from governance.cli import run
from governance.config import EXAMPLE_POLICY, Settings
from governance.domain.errors import ConfigError
from governance.keyring import write_purpose_keys
from governance.services.rollout.gateway_credentials import CREDENTIAL_HEADER, mint, routing_scope
from governance.services.trust import audit, identity
from governance.serving.key_purposes import GATEWAY_PURPOSES
from governance.store.db_roles import GATEWAY_RIGHTS
from governance.store.engine import create_store_engine
from governance.store.schema import upgrade
from governance.store.tables_prompts import prompt_render_outcomes, prompt_renders
from governance.store.tables_rollout import outcomes, predictions

# Runs against the test server only; the `gov` fixture's two backends do not apply here.
pytestmark = pytest.mark.usefixtures("postgres_databases")

ROW = {"age": 50, "income": 3, "tenure": 2}
PREDICT = f"/v1/endpoints/{ENDPOINT}/predict"


class Stack(Roles):
    """Roles' owner and application role, plus a gateway and an auditor role."""

    def __init__(self, databases) -> None:
        super().__init__(databases)
        suffix = self.owner.rsplit("_", 1)[1]
        self.gateway, self.auditor = f"gov_gateway_{suffix}", f"gov_auditor_{suffix}"

    def create(self) -> None:
        super().create()
        with self.admin.connect() as conn:
            for role in (self.gateway, self.auditor):
                conn.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN NOINHERIT')

    def drop(self) -> None:
        super().drop()
        with self.admin.connect() as conn:
            for role in (self.gateway, self.auditor):
                conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{role}"')


@pytest.fixture
def stack(postgres_databases, tmp_path, monkeypatch) -> Iterator[Stack]:
    """The four roles, and `governance init` run as the owner naming the other three."""
    made = Stack(postgres_databases)
    made.create()
    owner = make_settings(tmp_path, made.url(made.owner))
    monkeypatch.setenv("GOVERNANCE_HOME", str(owner.home))
    monkeypatch.setenv("GOVERNANCE_DATABASE_URL", made.url(made.owner))
    monkeypatch.setenv("GOVERNANCE_ARTIFACT_ROOT", str(owner.resolved_artifact_root))
    monkeypatch.setenv("GOVERNANCE_POLICY_FILE", str(EXAMPLE_POLICY))
    monkeypatch.setenv("GOVERNANCE_APP_ROLE", made.app)
    monkeypatch.setenv("GOVERNANCE_GATEWAY_ROLE", made.gateway)
    monkeypatch.setenv("GOVERNANCE_AUDITOR_ROLE", made.auditor)
    try:
        assert run(["init"]) == 0
        yield made
    finally:
        made.drop()


@pytest.fixture
def gov(stack, tmp_path) -> Iterator[Governance]:
    """The application's instance (its role, the master key), as the server would hold it."""
    instance = open_governance(make_settings(tmp_path, stack.url(stack.app)))
    yield instance
    instance.close()


@pytest.fixture
def gateway_keys(gov, tmp_path) -> Path:
    """The gateway's purpose key file, derived from the master."""
    path = tmp_path / "gateway-host" / "gateway.keys"
    write_purpose_keys(gov.keyring, GATEWAY_PURPOSES, path)
    return path


def gateway_settings(stack: Stack, tmp_path: Path, keys: Path) -> Settings:
    """What a gateway host holds: the gateway role's URL and its purpose key file."""
    home = tmp_path / "gateway-host"
    return Settings(
        home=home,
        database_url=stack.url(stack.gateway),
        artifact_root=tmp_path / "artifacts",
        policy_file=EXAMPLE_POLICY,
        secret_key_file=keys,
        session_file=home / "session.json",
    )


def until(check, what: str, timeout: float = 10.0) -> None:
    """Wait for `check()`; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.05)


def rows_of(gov: Governance, table: sa.Table) -> list[dict]:
    with gov.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(table.select())]


def test_a_gateway_process_serves_as_the_gateway_role_with_only_its_key_file(
    stack, gov, gateway_keys, tmp_path, register_churn, now
):
    serve_churn(gov, register_churn, now)
    _, rollout = start_canary(gov, now)
    settings = gateway_settings(stack, tmp_path, gateway_keys)
    # A client key made with the master: the gateway checks its row with its own subkey.
    headers = client_headers(gov, "checkout")
    with (
        gateway_process(settings) as (url, _),
        httpx.Client(base_url=url, timeout=30, headers=headers) as client,
    ):
        # A verified version (its registration event's MAC checks out) under a sealed spec.
        answer = client.post(PREDICT, json={"rows": [ROW], "targeting_key": "u1"})
        assert answer.status_code == 200, answer.text
        assert (answer.json()["version"], answer.json()["spec"]) == ("1.0.0", 1)
        pid = answer.json()["predictions"][0]["prediction_id"]
        outcome = client.post("/v1/outcomes", json={"prediction_id": pid, "label": 1})
        assert (outcome.status_code, outcome.json()) == (
            200,
            {"prediction_id": pid, "recorded": True, "already_recorded": False},
        )
        # A new sealed spec goes live, and its version is checked and loaded.
        change_routing(gov, now, stable="1.1.0")
        until(lambda: client.post(PREDICT, json={"rows": [ROW]}).json()["version"] == "1.1.0",
              "spec 2 live")  # fmt: skip
        # A credential minted with the master opens the full routing: the same subkey. It is
        # minted at the gateway's time (its Date header): the process keeps the real clock.
        gateway_now = parsedate_to_datetime(answer.headers["date"])
        credential = mint(gov.keyring, routing_scope(ENDPOINT), gateway_now)
        full = client.get(f"/v1/endpoints/{ENDPOINT}", headers={CREDENTIAL_HEADER: credential})
        assert full.status_code == 200 and "seed" in full.json()
        # A prompt canary's render is logged, and its outcome recorded once.
        rendered = {}

        def render() -> bool:
            rendered.update(client.get("/v1/prompts/support", params={"targeting_key": "k"}).json())
            return rendered.get("render_id") is not None

        until(render, "the prompt canary served")
        body = {"render_id": rendered["render_id"], "success": True, "latency_ms": 12.0}
        assert client.post("/v1/prompts/outcomes", json=body).status_code == 200
        assert client.post("/v1/prompts/outcomes", json=body).status_code == 409
        metrics = client.get("/metrics").text
    assert "gateway_routing_specs_refused_total{" not in metrics
    # What it wrote, read back as the application.
    assert {r["id"]: r["version"] for r in rows_of(gov, predictions)}[pid] == "1.0.0"
    assert {r["client"] for r in rows_of(gov, predictions)} == {"checkout"}
    assert [(r["prediction_id"], r["label"]) for r in rows_of(gov, outcomes)] == [(pid, 1)]
    renders = rows_of(gov, prompt_renders)
    assert [(r["id"], r["rollout_id"]) for r in renders] == [(rendered["render_id"], rollout.id)]
    recorded = rows_of(gov, prompt_render_outcomes)
    assert [(r["render_id"], r["success"], r["latency_ms"]) for r in recorded] == [
        (rendered["render_id"], True, 12.0)
    ]
    # The trail the app wrote verifies (promptkit seeds its request without events, so the
    # replay against the tables is left out).
    assert audit.verify(gov, reconcile=False).chain.macs_checked


def test_the_gateway_key_file_cannot_decrypt_a_secret_or_open_a_session(
    stack, gov, gateway_keys, tmp_path, now
):
    enrolled = identity.enroll(gov, "carol", actor="admin", now=now)
    code = __import__("pyotp").TOTP(enrolled.secret).at(now)
    held = open_governance(
        make_settings(tmp_path, stack.url(stack.app)).model_copy(
            update={"secret_key_file": gateway_keys}
        )
    )
    try:
        words = f"^key file {re.escape(str(gateway_keys))} holds no key for purpose 'totp-secret'$"
        with pytest.raises(ConfigError, match=words):
            identity.login(held, "carol", code, now=now)
        for purpose in ("cli-session", "cli-session-row", "request-token"):
            with pytest.raises(ConfigError, match=f"holds no key for purpose '{purpose}'$"):
                held.keyring.mac(purpose, "anything")
    finally:
        held.close()
    # Nothing changed: no session, and the code still opens one with the master key.
    assert identity.login(gov, "carol", code, now=now).person == "carol"


def refused(url: str, statement: str, table: str) -> None:
    """`statement` fails with InsufficientPrivilege naming `table`."""
    engine = create_store_engine(url)
    try:
        with pytest.raises(sa.exc.ProgrammingError) as caught, engine.begin() as conn:
            conn.exec_driver_sql(statement)
    finally:
        engine.dispose()
    assert isinstance(caught.value.orig, psycopg.errors.InsufficientPrivilege), statement
    said = str(caught.value.orig).splitlines()[0]
    assert said == f"permission denied for table {table}", statement


GATEWAY_REFUSED = {
    "update_routing": ("UPDATE routing_specs SET spec_mac = NULL", "routing_specs"),
    "insert_routing": ("INSERT INTO routing_specs (endpoint_id) VALUES (1)", "routing_specs"),
    "insert_event": (
        "INSERT INTO audit_events (seq, id, ts, event_type, actor, details, prev_hash, hash)"
        " VALUES (999, 'x', 'x', 'x', 'x', '{}', 'x', 'x')",
        "audit_events",
    ),
    "read_people": ("SELECT name FROM people", "people"),
    "read_sessions": ("SELECT id FROM cli_sessions", "cli_sessions"),
    "delete_predictions": ("DELETE FROM predictions", "predictions"),
    "update_outcomes": ("UPDATE outcomes SET label = '0'", "outcomes"),
    "update_renders": ("UPDATE prompt_renders SET variant = 'stable'", "prompt_renders"),
    "delete_render_outcomes": ("DELETE FROM prompt_render_outcomes", "prompt_render_outcomes"),
    "update_versions": ("UPDATE model_versions SET stage = 'production'", "model_versions"),
    "update_endpoints": ("UPDATE endpoints SET seed = 'x'", "endpoints"),
    "read_requests": ("SELECT id FROM approval_requests", "approval_requests"),
    "read_tokens": ("SELECT id FROM request_tokens", "request_tokens"),
    "truncate_predictions": ("TRUNCATE predictions", "predictions"),
}


def test_the_gateway_role_is_refused_everything_else(stack):
    # One database for every case (each init costs seconds); each statement in its own
    # transaction, so one refusal does not hide the next.
    for statement, table in GATEWAY_REFUSED.values():
        refused(stack.url(stack.gateway), statement, table)


def test_the_gateway_role_holds_exactly_its_grants(stack):
    engine = create_store_engine(stack.url(stack.owner))
    try:
        with engine.connect() as conn:
            held = conn.execute(
                sa.text(
                    "SELECT table_name, privilege_type FROM information_schema.role_table_grants"
                    " WHERE grantee = :role"
                ),
                {"role": stack.gateway},
            ).all()
    finally:
        engine.dispose()
    grants: dict[str, set[str]] = {}
    for table, privilege in held:
        grants.setdefault(table, set()).add(privilege)
    assert grants == {
        table: {p.strip() for p in rights.split(",")} for table, rights in GATEWAY_RIGHTS.items()
    }


AUDITOR_REFUSED = {
    "read_secrets": ("SELECT totp_secret FROM people", "people"),
    "read_all_of_people": ("SELECT * FROM people", "people"),
    "read_sessions": ("SELECT id FROM cli_sessions", "cli_sessions"),
    "insert_event": (
        "INSERT INTO audit_events (seq, id, ts, event_type, actor, details, prev_hash, hash)"
        " VALUES (999, 'x', 'x', 'x', 'x', '{}', 'x', 'x')",
        "audit_events",
    ),
    "update_versions": ("UPDATE model_versions SET stage = 'production'", "model_versions"),
    "delete_predictions": ("DELETE FROM predictions", "predictions"),
    "insert_outcome": (
        "INSERT INTO outcomes (prediction_id, metrics, recorded_at) VALUES ('p', '{}', now())",
        "outcomes",
    ),
    "update_people": ("UPDATE people SET last_used_step = 0", "people"),
}


def test_the_auditor_role_writes_nothing_and_reads_no_secret(stack):
    for statement, table in AUDITOR_REFUSED.values():
        refused(stack.url(stack.auditor), statement, table)


def test_the_auditor_role_reads_and_verifies_the_trail(stack, gov, tmp_path, now):
    identity.enroll(gov, "carol", actor="admin", now=now)
    # What an auditor's host holds: its role's URL and the audit-mac and routing-spec subkeys.
    keys = tmp_path / "auditor-host" / "auditor.keys"
    write_purpose_keys(gov.keyring, ["audit-mac", "routing-spec"], keys)
    settings = make_settings(tmp_path, stack.url(stack.auditor)).model_copy(
        update={"secret_key_file": keys}
    )
    auditor = open_governance(settings)
    try:
        report = audit.verify(auditor)
        # policy.loaded and person.enrolled, MAC-checked; carol's people row replayed.
        assert (report.chain.verified, report.chain.macs_checked, report.state_rows) == (
            2,
            True,
            1,
        )
        with auditor.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT name FROM people").scalars().all() == ["carol"]
            assert conn.exec_driver_sql("SELECT current_user").scalar_one() == stack.auditor
    finally:
        auditor.close()


@pytest.mark.parametrize(
    ("setting", "who", "words"),
    [
        ("GATEWAY", "owner", "is, or is a member of, the owner role"),
        ("AUDITOR", "postgres", "is a superuser or may create roles"),
        ("GATEWAY", "member_of_app", "is a member of the application role"),
        ("AUDITOR", "app", "is also GOVERNANCE_APP_ROLE"),
        ("GATEWAY", "nobody", "does not exist"),
    ],
)
def test_init_refuses_a_role_that_could_do_more(stack, gov, setting, who, words):
    role = {"owner": stack.owner, "app": stack.app, "postgres": "postgres"}.get(who)
    if who == "member_of_app":
        role = stack.gateway
        with stack.admin.connect() as conn:
            conn.exec_driver_sql(f'GRANT "{stack.app}" TO "{role}"')
    role = role or f"nobody_{uuid.uuid4().hex[:6]}"
    roles = {"app_role": stack.app, f"{setting.lower()}_role": role}
    owner = create_store_engine(stack.url(stack.owner))
    try:
        with pytest.raises(
            ConfigError, match=f"^setting GOVERNANCE_{setting}_ROLE: role '{role}' {words}"
        ):
            upgrade(owner, **roles)
    finally:
        owner.dispose()


def test_init_again_grants_new_tables_and_takes_back_what_is_not_listed(stack, tmp_path):
    owner = create_store_engine(stack.url(stack.owner))
    try:
        with owner.begin() as conn:
            # What a later migration might add, and a right someone granted by hand.
            conn.exec_driver_sql("CREATE TABLE later_table (id integer PRIMARY KEY)")
            conn.exec_driver_sql(f'GRANT UPDATE ON routing_specs TO "{stack.gateway}"')
        assert run(["init"]) == 0
    finally:
        owner.dispose()
    auditor = create_store_engine(stack.url(stack.auditor))
    try:
        with auditor.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM later_table").scalar_one() == 0
    finally:
        auditor.dispose()
    refused(stack.url(stack.gateway), "SELECT id FROM later_table", "later_table")
    refused(stack.url(stack.gateway), "UPDATE routing_specs SET spec_mac = NULL", "routing_specs")

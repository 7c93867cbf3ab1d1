"""`governance people`, `login` and `logout` in-process, on SQLite and PostgreSQL."""

from __future__ import annotations

import getpass
import hashlib
import json
import stat
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
import sqlalchemy as sa

from governance.bootstrap import open_governance
from governance.cli import context, people, run
from governance.config import EXAMPLE_POLICY
from governance.domain.errors import NotLoggedIn
from governance.domain.identity import VerifiedActor
from governance.store.tables_trust import cli_sessions
from governance.store.tables_trust import people as people_table


class Clock:
    """The CLI's clock, held still so codes and expiry times are exact."""

    def __init__(self, start) -> None:
        self.at = start

    def __call__(self):
        return self.at


@pytest.fixture
def home(tmp_path: Path, database_url: str, now, monkeypatch) -> Path:
    """An initialised governance home on the test's backend, with a fixed CLI clock."""
    monkeypatch.chdir(tmp_path)
    for key in ("GOVERNANCE_ARTIFACT_ROOT", "GOVERNANCE_SECRET_KEY_FILE", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("GOVERNANCE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GOVERNANCE_DATABASE_URL", database_url)
    monkeypatch.setenv("GOVERNANCE_POLICY_FILE", str(EXAMPLE_POLICY))
    monkeypatch.setenv("GOVERNANCE_SESSION_FILE", str(tmp_path / "config" / "session.json"))
    clock = Clock(now)
    monkeypatch.setattr(context, "now", clock)
    monkeypatch.setattr(people, "now", clock)
    assert run(["init"]) == 0
    return tmp_path


def session_file(home: Path) -> Path:
    return home / "config" / "session.json"


def table(rows_of: sa.Table) -> list[dict]:
    """Rows of an identity table, read through the configured database."""
    gov = open_governance()
    try:
        with gov.engine.connect() as conn:
            return [r._asdict() for r in conn.execute(sa.select(rows_of))]
    finally:
        gov.close()


def audit_types() -> list[str]:
    gov = open_governance()
    try:
        with gov.store.read() as tx:
            return [e.event_type for e in tx.audit.query()]
    finally:
        gov.close()


def enroll(name: str, capsys) -> pyotp.TOTP:
    """Enrol through the CLI and read the secret off its output, as a person would type it."""
    capsys.readouterr()
    assert run(["people", "enroll", name]) == 0
    out = capsys.readouterr().out
    [secret] = [line.split(": ")[1] for line in out.splitlines() if line.startswith("secret for")]
    return pyotp.TOTP(secret)


def fails(argv: list[str], capsys) -> str:
    """Run a command that must fail with exit 1 and one `error:` line; return that line."""
    capsys.readouterr()
    assert run(argv) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    return err


def test_enroll_shows_a_qr_code_the_uri_and_the_secret(home, capsys, now):
    capsys.readouterr()
    assert run(["people", "enroll", " Carol "]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "enrolled carol; scan this with an authenticator app:"
    assert all(set(line) <= set(" █▀▄") for line in out[1:-2]) and len(out) > 20
    secret = out[-1].removeprefix("secret for manual entry: ")
    assert out[-2] == f"otpauth://totp/governance:carol?secret={secret}&issuer=governance"
    [row] = table(people_table)
    assert row["name"] == "carol" and row["enrolled_by"] == f"cli:{getpass.getuser()}"
    assert secret not in row["totp_secret"].upper()
    assert audit_types()[-1] == "person.enrolled"

    assert run(["people", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    listed = {line.split()[1]: line for line in lines if line.startswith("│ ")}
    [header] = [line for line in lines if line.startswith("┃ name")]
    columns = [cell.strip() for cell in header.split("┃")[1:-1]]
    assert columns == ["name", "roles", "enrolled", "enrolled at", "enrolled by"]
    assert "ml_lead" in listed["carol"] and "yes" in listed["carol"]
    assert "2026-11-23 12:00 UTC" in listed["carol"]
    assert "no" in listed["dave"] and "risk_officer" in listed["dave"]
    assert sorted(listed) == ["alice", "bob", "carol", "dave", "erin", "frank", "grace"]


def test_enroll_refusals_are_one_line_and_change_nothing(home, capsys, now):
    assert fails(["people", "enroll", "mallory"], capsys) == (
        "error: mallory is not in the policy roster"
    )
    assert fails(["people", "enroll", "car\x1bol"], capsys) == (
        "error: a person's name holds control characters: 'car\\x1bol'"
    )
    assert fails(["people", "enroll", "c" * 129], capsys) == (
        "error: a person's name is longer than 128 characters"
    )
    assert table(people_table) == [] and audit_types() == []
    first = enroll("carol", capsys)
    assert fails(["people", "enroll", "CAROL"], capsys) == (
        "error: carol is already enrolled (since 2026-11-23T12:00:00+00:00); "
        "pass --replace to issue a new secret"
    )
    assert fails(["people", "enroll", "carol", "--replace"], capsys) == (
        "error: not logged in: run `governance login NAME --code CODE`"
    )
    assert run(["login", "carol", "--code", first.at(now)]) == 0
    capsys.readouterr()
    assert fails(["people", "enroll", "carol", "--replace"], capsys) == (
        "error: carol cannot replace their own authenticator: another logged-in person must"
    )
    dave = enroll("dave", capsys)
    assert run(["login", "dave", "--code", dave.at(now)]) == 0
    capsys.readouterr()
    assert run(["people", "enroll", "carol", "--replace"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("enrolled carol (the previous authenticator no longer works);")
    assert first.secret not in out
    assert audit_types() == [
        "policy.loaded",
        "person.enrolled",
        "person.logged_in",
        "person.enrolled",
        "person.logged_in",
        "person.logged_out",
        "person.enrolled",
    ]


def test_login_writes_a_private_session_file_and_logout_removes_it(home, capsys, now):
    carol = enroll("carol", capsys)
    assert run(["login", "carol", "--code", carol.at(now)]) == 0
    assert capsys.readouterr().out == "logged in as carol until 2026-11-23 20:00 UTC\n"
    path = session_file(home)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = json.loads(path.read_text())
    assert sorted(saved) == ["expires_at", "person", "token"] and saved["person"] == "carol"
    [row] = table(cli_sessions)
    assert row["person"] == "carol" and row["ended_at"] is None
    gov = open_governance()
    try:
        assert context.current_actor(gov) == VerifiedActor(name="carol", method="totp")
    finally:
        gov.close()

    assert run(["logout"]) == 0
    assert capsys.readouterr().out == "logged out carol\n"
    assert not path.exists() and table(cli_sessions)[0]["ended_at"] is not None
    assert run(["logout"]) == 0
    assert capsys.readouterr().out == "not logged in\n"
    gov = open_governance()
    try:
        with pytest.raises(NotLoggedIn) as caught:
            context.current_actor(gov)
    finally:
        gov.close()
    assert str(caught.value) == "not logged in: run `governance login NAME --code CODE`"
    assert audit_types() == [
        "policy.loaded",
        "person.enrolled",
        "person.logged_in",
        "person.logged_out",
    ]


def test_login_refusals_are_one_line_and_leave_no_session(home, capsys, now):
    carol = enroll("carol", capsys)
    wrong = f"{(int(carol.at(now)) + 1) % 1_000_000:06d}"
    assert fails(["login", "carol", "--code", wrong], capsys) == (
        "error: one-time code for carol is wrong or expired"
    )
    assert fails(["login", "carol"], capsys) == "error: one-time code for carol is missing"
    assert fails(["login", "erin", "--code", "123456"], capsys) == (
        "error: erin has no authenticator: run `governance people enroll erin`"
    )
    assert fails(["login", "carol", "--code", carol.at(now), "--hours", "0"], capsys) == (
        "error: session hours must be more than 0 and at most 168"
    )
    assert not session_file(home).exists() and table(cli_sessions) == []
    assert run(["login", "carol", "--code", carol.at(now)]) == 0
    assert fails(["login", "carol", "--code", carol.at(now)], capsys) == (
        "error: one-time code for carol was already used"
    )
    assert len(table(cli_sessions)) == 1


def test_an_unwritable_session_file_refuses_before_the_code_is_spent(
    home, capsys, monkeypatch, now
):
    carol = enroll("carol", capsys)
    (home / "afile").write_text("")
    target = home / "afile" / "session.json"
    monkeypatch.setenv("GOVERNANCE_SESSION_FILE", str(target))
    assert fails(["login", "carol", "--code", carol.at(now)], capsys) == (
        f"error: session file {target}: cannot write ({home / 'afile'} is not a directory)"
    )
    assert table(cli_sessions) == [] and table(people_table)[0]["last_used_step"] is None


def test_the_default_session_file_lives_in_the_config_directory(home, capsys, monkeypatch, now):
    monkeypatch.delenv("GOVERNANCE_SESSION_FILE")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "xdg"))
    carol = enroll("carol", capsys)
    assert run(["login", "carol", "--code", carol.at(now)]) == 0
    path = home / "xdg" / "governance" / "session.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert run(["logout"]) == 0 and not path.exists()


def test_enrolment_records_the_logged_in_person(home, capsys, now):
    carol = enroll("carol", capsys)
    assert run(["login", "carol", "--code", carol.at(now)]) == 0
    enroll("dave", capsys)
    enrolled_by = {row["name"]: row["enrolled_by"] for row in table(people_table)}
    assert enrolled_by == {"carol": f"cli:{getpass.getuser()}", "dave": "carol"}


def test_logging_in_as_someone_else_ends_the_previous_session(home, capsys, now):
    carol, dave = enroll("carol", capsys), enroll("dave", capsys)
    assert run(["login", "carol", "--code", carol.at(now)]) == 0
    context.now.at = now + timedelta(minutes=5)
    assert run(["login", "dave", "--code", dave.at(context.now.at)]) == 0
    sessions = {row["person"]: row["ended_at"] for row in table(cli_sessions)}
    assert sessions["carol"] is not None and sessions["dave"] is None
    assert json.loads(session_file(home).read_text())["person"] == "dave"
    assert audit_types()[-3:] == ["person.logged_in", "person.logged_in", "person.logged_out"]


def test_identity_none_logs_in_without_a_code_and_says_so(home, capsys, monkeypatch):
    policy = home / "governance.yaml"
    policy.write_text(EXAMPLE_POLICY.read_text() + "\nidentity: none\n")
    monkeypatch.setenv("GOVERNANCE_POLICY_FILE", str(policy))
    capsys.readouterr()
    assert run(["login", "Erin"]) == 0
    assert capsys.readouterr().out == (
        "logged in as erin until 2026-11-23 20:00 UTC (identities not verified)\n"
    )
    gov = open_governance()
    try:
        assert context.current_actor(gov) == VerifiedActor(name="erin", method="none")
    finally:
        gov.close()
    assert run(["people", "list"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "policy identity: none (identities not verified)"
    )
    assert fails(["login", "mallory"], capsys) == "error: mallory is not in the policy roster"
    assert run(["logout"]) == 0
    assert capsys.readouterr().out == "logged out erin\n"


def write_db(statement) -> None:
    """What a database writer without the key can do: change identity rows directly."""
    gov = open_governance()
    try:
        with gov.engine.begin() as conn:
            conn.execute(statement)
    finally:
        gov.close()


NOT_GENUINE = (
    "error: not logged in: the session of carol is not genuine (its record does not carry "
    "the MAC `governance login` made); run `governance login NAME --code CODE`"
)


def test_a_session_row_inserted_without_the_key_acts_as_nobody(home, capsys, now):
    enroll("carol", capsys)
    enroll("dave", capsys)
    # The writer makes up a token and stores its sha256 as a live session of carol's.
    token = "made-up-token"
    write_db(
        cli_sessions.insert().values(
            id=hashlib.sha256(token.encode()).hexdigest(),
            person="carol",
            created_at=now,
            expires_at=now + timedelta(hours=8),
        )
    )
    path = session_file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"token": token, "person": "carol", "expires_at": "x"}))
    before = table(people_table)
    # Replacing dave's authenticator is an act a logged-in person other than dave may do.
    assert fails(["people", "enroll", "dave", "--replace"], capsys) == NOT_GENUINE
    assert table(people_table) == before
    assert audit_types() == ["policy.loaded", "person.enrolled", "person.enrolled"]


def test_a_session_whose_expiry_was_extended_is_not_genuine(home, capsys, now):
    carol = enroll("carol", capsys)
    enroll("dave", capsys)
    assert run(["login", "carol", "--code", carol.at(now), "--hours", "1"]) == 0
    write_db(cli_sessions.update().values(expires_at=now + timedelta(days=365)))
    context.now.at = now + timedelta(hours=2)
    assert fails(["people", "enroll", "dave", "--replace"], capsys) == NOT_GENUINE


def test_clearing_ended_at_does_not_reopen_a_logged_out_session(home, capsys, now):
    carol = enroll("carol", capsys)
    enroll("dave", capsys)
    assert run(["login", "carol", "--code", carol.at(now)]) == 0
    kept = session_file(home).read_text()
    context.now.at = now + timedelta(minutes=10)
    assert run(["logout"]) == 0
    # The holder kept a copy of the session file; the writer clears the logout in the row.
    session_file(home).write_text(kept)
    write_db(cli_sessions.update().values(ended_at=None))
    assert table(cli_sessions)[0]["ended_at"] is None
    before = table(people_table)
    assert fails(["people", "enroll", "dave", "--replace"], capsys) == (
        "error: not logged in: the session of carol ended at 2026-11-23T12:10:00+00:00 "
        "(logged out); run `governance login NAME --code CODE`"
    )
    assert table(people_table) == before


def test_clearing_ended_at_does_not_reopen_a_session_of_a_replaced_authenticator(
    home, capsys, monkeypatch, now
):
    carol, dave = enroll("carol", capsys), enroll("dave", capsys)
    assert run(["login", "carol", "--code", carol.at(now)]) == 0
    # dave, logged in at his own desk (his own session file), replaces carol's authenticator.
    monkeypatch.setenv("GOVERNANCE_SESSION_FILE", str(home / "dave" / "session.json"))
    context.now.at = now + timedelta(minutes=10)
    assert run(["login", "dave", "--code", dave.at(context.now.at)]) == 0
    context.now.at = now + timedelta(minutes=20)
    assert run(["people", "enroll", "carol", "--replace"]) == 0  # ends carol's sessions
    monkeypatch.setenv("GOVERNANCE_SESSION_FILE", str(session_file(home)))
    write_db(cli_sessions.update().where(cli_sessions.c.person == "carol").values(ended_at=None))
    assert fails(["people", "enroll", "dave", "--replace"], capsys) == (
        "error: not logged in: the session of carol ended at 2026-11-23T12:20:00+00:00 "
        "(the authenticator was replaced); run `governance login NAME --code CODE`"
    )

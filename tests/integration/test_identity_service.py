"""Enrolment, one-time codes, CLI sessions and request tokens on real SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest
import sqlalchemy as sa

from governance.config import EXAMPLE_POLICY
from governance.domain.errors import (
    Conflict,
    InvalidCode,
    InvalidInput,
    NotEnrolled,
    NotInRoster,
    NotLoggedIn,
    ParametersChanged,
    RequesterNotVerified,
)
from governance.domain.identity import VerifiedActor
from governance.domain.run_parameters import parameters_digest
from governance.services.promotion import request_tokens as promotion_request_tokens
from governance.services.trust import identity, spent_codes
from governance.store.tables_promotion import request_tokens
from governance.store.tables_trust import cli_sessions, people

HINT = "run `governance login NAME --code CODE`"
CAROL = VerifiedActor(name="carol", method="totp")
TAMPERED = "the request token's MAC does not match (tampered)"


def rows(gov, table) -> list[dict]:
    """Every row of a table as plain dicts, in primary-key order."""
    with gov.engine.connect() as conn:
        key = list(table.primary_key.columns)
        return [r._asdict() for r in conn.execute(sa.select(table).order_by(*key))]


def events(gov, prefix: str = "") -> list[tuple[str, str, dict]]:
    """(type, actor, details) of every audit event whose type starts with `prefix`."""
    with gov.store.read() as tx:
        found = tx.audit.query()
    return [(e.event_type, e.actor, e.details) for e in found if e.event_type.startswith(prefix)]


def set_policy(gov, tmp_path: Path, extra: str = "", drop: str | None = None) -> None:
    """Apply the example policy with `extra` appended and an optional roster line removed."""
    text = EXAMPLE_POLICY.read_text()
    if drop:
        text = "".join(line for line in text.splitlines(True) if not line.startswith(drop))
    path = tmp_path / "policy.yaml"
    path.write_text(text + extra)
    gov.settings.policy_file = path
    gov.reload_policy()


def totp_of(gov, name: str) -> pyotp.TOTP:
    """The authenticator an enrolled person holds, read back through the key."""
    stored = rows(gov, people)
    [row] = [r for r in stored if r["name"] == name]
    return pyotp.TOTP(gov.keyring.decrypt("totp-secret", row["totp_secret"]))


def last_step(gov, name: str) -> int | None:
    return next(r["last_used_step"] for r in rows(gov, people) if r["name"] == name)


def refused(exc_type, call, *args, **kwargs) -> str:
    """Call, expect exactly `exc_type`, and return its message."""
    with pytest.raises(exc_type) as caught:
        call(*args, **kwargs)
    assert type(caught.value) is exc_type
    return str(caught.value)


@pytest.fixture
def carol(gov, now) -> pyotp.TOTP:
    """carol (ml_lead) enrolled by the CLI user root; her authenticator."""
    made = identity.enroll(gov, " Carol ", actor="cli:root", now=now)
    return pyotp.TOTP(made.secret)


# --- enrolment -------------------------------------------------------------------------------


def test_enroll_gives_an_otpauth_uri_and_stores_the_secret_encrypted(gov, now):
    made = identity.enroll(gov, " Carol ", actor="cli:root", now=now)
    assert made.name == "carol"
    uri = urlparse(made.uri)
    assert (uri.scheme, uri.netloc, uri.path) == ("otpauth", "totp", "/governance:carol")
    assert parse_qs(uri.query) == {"secret": [made.secret], "issuer": ["governance"]}
    assert pyotp.parse_uri(made.uri).secret == made.secret
    [row] = rows(gov, people)
    assert row["name"] == "carol" and row["enrolled_by"] == "cli:root"
    assert row["enrolled_at"] == now
    assert row["last_used_step"] is None
    # At rest the column holds AES-GCM ciphertext, not the secret in any casing.
    assert made.secret not in row["totp_secret"].upper()
    assert gov.keyring.decrypt("totp-secret", row["totp_secret"]) == made.secret
    # The first write under the policy records it first (policy.loaded).
    assert [e[0] for e in events(gov)] == ["policy.loaded", "person.enrolled"]
    assert events(gov, "person.") == [
        ("person.enrolled", "cli:root", {"name": "carol", "replaced": False, "sessions_ended": 0})
    ]
    with gov.engine.connect() as conn:
        trail = conn.execute(sa.text("SELECT details FROM audit_events")).scalars().all()
    assert all(made.secret not in text for text in trail)


def test_enroll_refuses_people_outside_the_roster_and_changes_nothing(gov, now):
    message = refused(NotInRoster, identity.enroll, gov, "Mallory", actor="cli:root", now=now)
    assert message == "mallory is not in the policy roster"
    assert rows(gov, people) == [] and events(gov) == []


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("car\x00ol", "a person's name holds control characters: 'car\\x00ol'"),
        ("carol\x1b[2J", "a person's name holds control characters: 'carol\\x1b[2j'"),
        ("c" * 129, "a person's name is longer than 128 characters"),
        ("  ", "a person's name is empty"),
    ],
)
def test_bad_names_are_invalid_input_everywhere_and_change_nothing(gov, now, name, message):
    assert refused(InvalidInput, identity.enroll, gov, name, actor="cli:root", now=now) == message
    assert refused(InvalidInput, identity.verify_code, gov, name, "123456", now=now) == message
    assert refused(InvalidInput, identity.login, gov, name, "123456", now=now) == message
    assert rows(gov, people) == [] and rows(gov, cli_sessions) == [] and events(gov) == []


def test_second_enrolment_needs_replace_which_retires_the_old_secret(gov, now, carol):
    later = now + timedelta(hours=1)
    ticket = identity.login(gov, "carol", carol.at(now), now=now)
    message = refused(Conflict, identity.enroll, gov, "carol", actor="cli:root", now=later)
    assert message == (
        "carol is already enrolled (since 2026-11-23T12:00:00+00:00); "
        "pass --replace to issue a new secret"
    )
    assert [r["enrolled_by"] for r in rows(gov, people)] == ["cli:root"]

    made = identity.enroll(gov, "carol", actor="dave", now=later, replace=True)
    assert made.secret != carol.secret
    [row] = rows(gov, people)
    assert row["enrolled_by"] == "dave" and row["last_used_step"] is None
    assert events(gov, "person.enrolled")[-1] == (
        "person.enrolled",
        "dave",
        {"name": "carol", "replaced": True, "sessions_ended": 1},
    )
    # The session opened with the old authenticator ended with it; its codes no longer verify.
    assert refused(NotLoggedIn, identity.session_actor, gov, ticket.token, now=later) == (
        f"not logged in: the session of carol ended at 2026-11-23T13:00:00+00:00; {HINT}"
    )
    old_code = carol.at(later)
    assert old_code not in {pyotp.TOTP(made.secret).at(later, counter_offset=o) for o in (-1, 0, 1)}
    message = refused(InvalidCode, identity.verify_code, gov, "carol", old_code, now=later)
    assert message == "one-time code for carol is wrong or expired"


def test_people_lists_every_roster_person_enrolled_or_not(gov, now, carol):
    listed = {p.name: p for p in identity.people(gov)}
    assert sorted(listed) == ["alice", "bob", "carol", "dave", "erin", "frank", "grace"]
    assert listed["carol"].roles == ["ml_lead"] and listed["carol"].enrolled_at == now
    assert listed["carol"].enrolled_by == "cli:root"
    assert listed["frank"].roles == ["ml_lead", "risk_officer"]
    assert listed["dave"].enrolled_at is None and listed["dave"].enrolled_by is None


# --- one-time codes --------------------------------------------------------------------------


def test_a_right_code_is_accepted_once(gov, now, carol):
    assert identity.verify_code(gov, "CAROL", carol.at(now), now=now) == CAROL
    assert last_step(gov, "carol") == carol.timecode(now)
    message = refused(InvalidCode, identity.verify_code, gov, "carol", carol.at(now), now=now)
    assert message == "one-time code for carol was already used"
    assert last_step(gov, "carol") == carol.timecode(now)


def test_one_step_either_side_is_accepted_in_order_and_older_steps_are_refused(gov, now, carol):
    step = carol.timecode(now)
    for offset in (-1, 0, 1):
        code = carol.at(now, counter_offset=offset)
        assert identity.verify_code(gov, "carol", code, now=now) == CAROL
        assert last_step(gov, "carol") == step + offset
    # Every code of the window is now spent, including the oldest one.
    for offset in (-1, 0, 1):
        code = carol.at(now, counter_offset=offset)
        message = refused(InvalidCode, identity.verify_code, gov, "carol", code, now=now)
        assert message == "one-time code for carol was already used"
    assert last_step(gov, "carol") == step + 1


def test_a_code_older_than_the_last_used_one_is_refused(gov, now, carol):
    assert identity.verify_code(gov, "carol", carol.at(now, counter_offset=1), now=now) == CAROL
    message = refused(InvalidCode, identity.verify_code, gov, "carol", carol.at(now), now=now)
    assert message == "one-time code for carol was already used"
    assert last_step(gov, "carol") == carol.timecode(now) + 1


@pytest.mark.parametrize("offset", [-2, 2, -10])
def test_codes_two_or_more_steps_away_are_wrong_or_expired(gov, now, carol, offset):
    code = carol.at(now, counter_offset=offset)
    assert code not in {carol.at(now, counter_offset=o) for o in (-1, 0, 1)}
    message = refused(InvalidCode, identity.verify_code, gov, "carol", code, now=now)
    assert message == "one-time code for carol is wrong or expired"
    assert last_step(gov, "carol") is None and len(events(gov)) == 2  # policy, enrolment


def test_a_code_for_another_person_is_wrong_for_this_one(gov, now, monkeypatch):
    # Fixed secrets, so that the two people's codes cannot collide by chance.
    fixed = iter(["JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "KRUGKIDROVUWG2ZAMJZG653OEBTG66BA"])
    monkeypatch.setattr(identity.pyotp, "random_base32", lambda: next(fixed))
    identity.enroll(gov, "carol", actor="cli:root", now=now)
    dave = pyotp.TOTP(identity.enroll(gov, "dave", actor="cli:root", now=now).secret)
    assert dave.at(now) not in {totp_of(gov, "carol").at(now, counter_offset=o) for o in (-1, 0, 1)}
    message = refused(InvalidCode, identity.verify_code, gov, "carol", dave.at(now), now=now)
    assert message == "one-time code for carol is wrong or expired"
    assert last_step(gov, "carol") is None and last_step(gov, "dave") is None
    assert identity.verify_code(gov, "dave", dave.at(now), now=now) == VerifiedActor(
        name="dave", method="totp"
    )


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (None, "one-time code for carol is missing"),
        ("  ", "one-time code for carol is missing"),
        ("12345", "one-time code for carol must be 6 digits"),
        ("1234567", "one-time code for carol must be 6 digits"),
        ("12a456", "one-time code for carol must be 6 digits"),
        ("\uff11\uff12\uff13\uff14\uff15\uff16", "one-time code for carol must be 6 digits"),
    ],
)
def test_malformed_codes_are_refused_before_any_check(gov, now, carol, code, message):
    assert refused(InvalidCode, identity.verify_code, gov, "carol", code, now=now) == message
    assert last_step(gov, "carol") is None


def test_a_code_typed_as_the_app_shows_it_is_accepted(gov, now, carol):
    code = carol.at(now)
    assert identity.verify_code(gov, "carol", f" {code[:3]} {code[3:]} ", now=now) == CAROL


def test_one_code_presented_twice_at_once_is_accepted_once(gov, now, carol):
    barrier = threading.Barrier(2)

    def attempt() -> str:
        barrier.wait()
        try:
            return identity.verify_code(gov, "carol", carol.at(now), now=now).name
        except InvalidCode as exc:
            return str(exc)

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(lambda _: attempt(), range(2)))
    assert outcomes == ["carol", "one-time code for carol was already used"]
    assert last_step(gov, "carol") == carol.timecode(now)


def test_unenrolled_and_unlisted_people_are_refused(gov, now, carol):
    message = refused(NotEnrolled, identity.verify_code, gov, "erin", "123456", now=now)
    assert message == "erin has no authenticator: run `governance people enroll erin`"
    message = refused(NotInRoster, identity.verify_code, gov, "mallory", "123456", now=now)
    assert message == "mallory is not in the policy roster"


def test_verify_code_in_burns_the_step_only_when_the_callers_transaction_commits(gov, now, carol):
    policy = gov.policy
    with pytest.raises(RuntimeError), gov.store.write() as tx:
        assert identity.verify_code_in(tx, policy, "carol", carol.at(now), now=now) == CAROL
        raise RuntimeError("the caller's later step failed")
    assert last_step(gov, "carol") is None
    assert identity.verify_code(gov, "carol", carol.at(now), now=now) == CAROL


# --- sessions --------------------------------------------------------------------------------


def test_login_session_and_logout(gov, now, carol):
    ticket = identity.login(gov, "Carol", carol.at(now), now=now)
    assert ticket.person == "carol" and ticket.expires_at == now + timedelta(hours=8)
    [row] = rows(gov, cli_sessions)
    session_id = hashlib.sha256(ticket.token.encode()).hexdigest()
    assert row["id"] == session_id and row["person"] == "carol" and row["ended_at"] is None
    assert ticket.token not in json.dumps(rows(gov, cli_sessions), default=str)
    assert identity.session_actor(gov, ticket.token, now=now + timedelta(hours=7)) == CAROL

    assert identity.logout(gov, ticket.token, now=now + timedelta(hours=1)) == "carol"
    assert rows(gov, cli_sessions)[0]["ended_at"] is not None
    assert refused(NotLoggedIn, identity.session_actor, gov, ticket.token, now=now) == (
        f"not logged in: the session of carol ended at 2026-11-23T13:00:00+00:00; {HINT}"
    )
    assert identity.logout(gov, ticket.token, now=now + timedelta(hours=2)) is None
    assert [(t, a, d) for t, a, d in events(gov, "person.log")] == [
        (
            "person.logged_in",
            "carol",
            {"name": "carol", "session": session_id, "expires_at": "2026-11-23T20:00:00.000000Z"},
        ),
        ("person.logged_out", "carol", {"name": "carol", "session": session_id}),
    ]


def test_sessions_expire_and_unknown_or_missing_ones_say_so(gov, now, carol):
    ticket = identity.login(gov, "carol", carol.at(now), now=now, hours=0.5)
    expiry = now + timedelta(minutes=30)
    assert identity.session_actor(gov, ticket.token, now=expiry - timedelta(seconds=1)) == CAROL
    assert refused(NotLoggedIn, identity.session_actor, gov, ticket.token, now=expiry) == (
        f"not logged in: the session of carol expired at 2026-11-23T12:30:00+00:00; {HINT}"
    )
    assert refused(NotLoggedIn, identity.session_actor, gov, None, now=now) == (
        "not logged in: run `governance login NAME --code CODE`"
    )
    assert refused(NotLoggedIn, identity.session_actor, gov, "forged", now=now) == (
        f"not logged in: the session is unknown; {HINT}"
    )
    assert refused(NotLoggedIn, identity.session_actor, gov, "none.e30.bad", now=now) == (
        f"not logged in: the session is unknown; {HINT}"
    )
    assert refused(NotLoggedIn, identity.session_actor, gov, "none.é.é", now=now) == (
        f"not logged in: the session is unknown; {HINT}"
    )
    assert identity.logout(gov, "forged", now=now) is None
    assert identity.logout(gov, None, now=now) is None
    assert len(events(gov, "person.logged_out")) == 0


def test_a_refused_login_opens_no_session_and_writes_nothing(gov, now, carol):
    wrong = f"{(int(carol.at(now)) + 1) % 1_000_000:06d}"
    message = refused(InvalidCode, identity.login, gov, "carol", wrong, now=now)
    assert message == "one-time code for carol is wrong or expired"
    message = refused(InvalidInput, identity.login, gov, "carol", carol.at(now), now=now, hours=0)
    assert message == "session hours must be more than 0 and at most 168"
    assert rows(gov, cli_sessions) == [] and len(events(gov)) == 2  # policy, enrolment
    assert last_step(gov, "carol") is None


def test_a_session_needs_its_person_to_stay_in_the_roster(gov, now, carol, tmp_path):
    ticket = identity.login(gov, "carol", carol.at(now), now=now)
    # carol leaves; frank keeps the ml_lead role, so the policy stays valid.
    set_policy(gov, tmp_path, drop="  carol:")
    message = refused(NotInRoster, identity.session_actor, gov, ticket.token, now=now)
    assert message == "carol is not in the policy roster"


# --- request tokens --------------------------------------------------------------------------


def mint(gov, now, **overrides) -> str:
    subject = {"model": "churn", "version": "1.1.0", "target": "production", **overrides}
    return promotion_request_tokens.mint_request_token(gov, CAROL, now=now, **subject)


def consume(gov, token, now, run="run-1", **overrides) -> VerifiedActor:
    subject = {"model": "churn", "version": "1.1.0", "target": "production", **overrides}
    with gov.store.write() as tx:
        return promotion_request_tokens.consume_request_token_in(
            tx, token, flow_run_id=run, now=now, **subject
        )


def not_verified(gov, token, now, **kwargs) -> str:
    with pytest.raises(RequesterNotVerified) as caught:
        consume(gov, token, now, **kwargs)
    assert type(caught.value) is RequesterNotVerified
    return str(caught.value)


def test_a_request_token_is_consumed_once_and_re_presented_by_its_own_run(gov, now):
    token = mint(gov, now)
    token_id, mac = token.split(".")
    assert len(mac) == 64
    [row] = rows(gov, request_tokens)
    assert (row["id"], row["person"], row["used_at"], row["flow_run_id"]) == (
        token_id,
        "carol",
        None,
        None,
    )
    assert consume(gov, token, now + timedelta(minutes=1)) == CAROL
    [row] = rows(gov, request_tokens)
    assert row["flow_run_id"] == "run-1" and row["used_at"] is not None
    # The same run after a resume, hours later and past expiry, gets the same requester.
    assert consume(gov, token, now + timedelta(hours=5)) == CAROL
    message = not_verified(gov, token, now + timedelta(minutes=2), run="run-2")
    assert message == "requester not verified: the request token was already used by flow run run-1"
    assert rows(gov, request_tokens)[0]["flow_run_id"] == "run-1"
    assert [(t, a) for t, a, _ in events(gov, "request_token")] == [
        ("request_token.issued", "carol"),
        ("request_token.used", "carol"),
    ]
    assert events(gov, "request_token.used")[0][2] == {
        "token_id": token_id,
        "target_stage": "production",
        "flow_run_id": "run-1",
    }


def test_tampered_forged_and_malformed_tokens_are_refused(gov, now):
    token = mint(gov, now)
    token_id, mac = token.split(".")
    tampered = f"{token_id}.{mac[:-1]}{'0' if mac[-1] != '0' else '1'}"
    prefix = "requester not verified: "
    assert not_verified(gov, tampered, now) == prefix + TAMPERED
    assert not_verified(gov, None, now) == (
        prefix + "the run carries no request token (start it with `governance promote`)"
    )
    assert not_verified(gov, "garbage", now) == prefix + "the request token is malformed"
    assert not_verified(gov, f"{token_id}.é", now) == prefix + "the request token is malformed"
    assert not_verified(gov, f"{'x' * 37}.{mac}", now) == prefix + "the request token is malformed"
    assert not_verified(gov, f"{'0' * 36}.{mac}", now) == prefix + "the request token is unknown"
    # Someone who can write the database, but lacks the key, cannot re-bind the token.
    with gov.engine.begin() as conn:
        conn.execute(request_tokens.update().values(person="dave"))
    assert not_verified(gov, token, now) == prefix + TAMPERED
    assert rows(gov, request_tokens)[0]["used_at"] is None
    assert len(events(gov, "request_token.used")) == 0


@pytest.mark.parametrize(
    ("subject", "shown"),
    [
        ({"version": "1.2.0"}, "churn 1.2.0 -> production"),
        ({"target": "staging"}, "churn 1.1.0 -> staging"),
        ({"model": "fraud"}, "fraud 1.1.0 -> production"),
    ],
)
def test_a_token_for_another_subject_is_refused(gov, now, subject, shown):
    token = mint(gov, now)
    assert not_verified(gov, token, now, **subject) == (
        f"requester not verified: the request token is for churn 1.1.0 -> production, not {shown}"
    )
    assert rows(gov, request_tokens)[0]["used_at"] is None


def test_an_expired_token_is_refused(gov, now):
    token = mint(gov, now, ttl_seconds=60)
    assert not_verified(gov, token, now + timedelta(seconds=60)) == (
        "requester not verified: the request token expired at 2026-11-23T12:01:00+00:00"
    )
    assert rows(gov, request_tokens)[0]["used_at"] is None


def test_minting_refuses_bad_subjects(gov, now):
    assert refused(InvalidInput, mint, gov, now, version="") == (
        "a request token needs a model name of 1 to 128 characters and a version of 1 to 64"
    )
    assert refused(InvalidInput, mint, gov, now, target="prod") == (
        "unknown stage 'prod': expected one of development, staging, production, deprecated, "
        "retired"
    )
    assert refused(InvalidInput, mint, gov, now, ttl_seconds=0) == (
        "a request token's lifetime must be more than 0 seconds"
    )
    assert rows(gov, request_tokens) == [] and events(gov) == []


# --- identity: none --------------------------------------------------------------------------


def test_identity_none_skips_codes_but_not_the_roster(gov, now, tmp_path):
    set_policy(gov, tmp_path, extra="\nidentity: none\n")
    unverified = VerifiedActor(name="erin", method="none")
    assert identity.verify_code(gov, "Erin", None, now=now) == unverified
    assert refused(NotInRoster, identity.verify_code, gov, "mallory", None, now=now) == (
        "mallory is not in the policy roster"
    )
    ticket = identity.login(gov, "erin", None, now=now)
    assert ticket.token.startswith("none.") and ticket.person == "erin"
    assert rows(gov, cli_sessions) == [] and rows(gov, people) == []
    assert identity.session_actor(gov, ticket.token, now=now) == unverified
    assert refused(NotLoggedIn, identity.session_actor, gov, None, now=now) == (
        "not logged in: run `governance login NAME`"
    )
    token = promotion_request_tokens.mint_request_token(
        gov, unverified, model="churn", version="1.1.0", target="staging", now=now
    )
    with gov.store.write() as tx:
        actor = promotion_request_tokens.consume_request_token_in(
            tx, token, model="churn", version="1.1.0", target="staging", flow_run_id="r", now=now
        )
    assert actor == unverified

    # Turning verification back on invalidates the unverified session.
    set_policy(gov, tmp_path)
    assert refused(NotLoggedIn, identity.session_actor, gov, ticket.token, now=now) == (
        "not logged in: the session of erin was opened under `identity: none` and the policy "
        f"now verifies identities; {HINT}"
    )
    assert identity.logout(gov, ticket.token, now=now) == "erin"
    assert [t for t, _, _ in events(gov, "person.")] == ["person.logged_in", "person.logged_out"]


def test_a_code_read_from_a_form_is_spent_whatever_became_of_the_attempt(gov, now, carol):
    # What a flow does with the code of an answer it refused (say, in a role carol lacks).
    code = carol.at(now)
    assert spent_codes.spend_code(gov, "carol", code, now=now) == ["carol"]
    assert last_step(gov, "carol") == carol.timecode(now)
    message = refused(InvalidCode, identity.login, gov, "carol", code, now=now)
    assert message == "one-time code for carol was already used"
    # Typed under another name, it is still carol's code, and spent as hers.
    later = now + timedelta(seconds=30)
    code = carol.at(later)
    assert spent_codes.spend_code(gov, "Dave", code, now=later) == ["carol"]
    message = refused(InvalidCode, identity.login, gov, "carol", code, now=later)
    assert message == "one-time code for carol was already used"
    # A code that is nobody's spends nothing.
    wrong = f"{(int(carol.at(later + timedelta(seconds=30))) + 1) % 1_000_000:06d}"
    assert spent_codes.spend_code(gov, "carol", wrong, now=later) == []


SUBMITTED = {"model": "churn", "version": "1.1.0", "target": "staging", "strategy": "direct"}


def test_a_token_vouches_only_for_the_parameters_it_was_minted_for(gov, now):
    token = mint(gov, now, target="staging", parameters=SUBMITTED)
    changed = {**SUBMITTED, "strategy": "canary"}
    with pytest.raises(ParametersChanged) as caught:
        consume(gov, token, now, target="staging", run_parameters=changed)
    assert str(caught.value) == (
        "approvals void: the run's parameter strategy changed since it was submitted "
        "(strategy was 'direct', now 'canary')"
    )
    assert rows(gov, request_tokens)[0]["used_at"] is None
    assert consume(gov, token, now, target="staging", run_parameters=dict(SUBMITTED)) == CAROL
    # The run, re-executed after someone changed its parameters, is refused again.
    with pytest.raises(ParametersChanged, match="parameter strategy changed"):
        consume(gov, token, now, target="staging", run_parameters=changed)
    [issued] = events(gov, "request_token.issued")
    assert issued[2]["parameters_digest"] == parameters_digest(SUBMITTED)


def test_a_database_writer_cannot_rebind_a_token_to_other_parameters(gov, now):
    token = mint(gov, now, target="staging", parameters=SUBMITTED)
    changed = {**SUBMITTED, "strategy": "canary"}
    with gov.engine.begin() as conn:
        conn.execute(request_tokens.update().values(parameters=changed))
    message = not_verified(gov, token, now, target="staging", run_parameters=changed)
    assert message == "requester not verified: " + TAMPERED

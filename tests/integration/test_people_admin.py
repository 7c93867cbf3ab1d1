"""An admin's acts on people (roles, enrolment, sessions, code locks), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
import sqlalchemy as sa

from governance.bootstrap import open_governance
from governance.config import EXAMPLE_POLICY
from governance.domain.audit import canonical_event, chain_hash
from governance.domain.errors import (
    ChainBroken,
    CodesLocked,
    Conflict,
    InvalidCode,
    InvalidInput,
    NotInRoster,
    NotLoggedIn,
    RoleNotHeld,
    SeparationOfDuties,
)
from governance.domain.identity import VerifiedActor
from governance.services.trust import audit, code_locks, identity, people_admin
from governance.services.trust.roles import ADMIN_ROLE, require_role
from governance.store.tables_trust import cli_sessions, people

GRACE = VerifiedActor(name="grace", method="totp")
CAROL = VerifiedActor(name="carol", method="totp")
HINT = "run `governance login NAME --code CODE`"


def events(gov, prefix: str = "person.") -> list[tuple[str, str, dict]]:
    """(type, actor, details) of the events whose type starts with `prefix`, in chain order."""
    with gov.store.read() as tx:
        return [
            (e.event_type, e.actor, {k: v for k, v in e.details.items() if k != "identity"})
            for e in tx.audit.query()
            if e.event_type.startswith(prefix)
        ]


def refused(error, call, *args, **kwargs) -> str:
    with pytest.raises(error) as caught:
        call(*args, **kwargs)
    assert type(caught.value) is error
    return str(caught.value)


def wrong(code: str) -> str:
    return f"{(int(code) + 500_000) % 1_000_000:06d}"


# --- roles --------------------------------------------------------------------------------


def test_grants_and_revocations_change_the_roster_in_force_and_are_audited(gov, now):
    people_admin.grant(gov, "Mallory ", "ml_lead", actor=GRACE, now=now)
    people_admin.revoke_role(gov, "frank", "ml_lead", actor=GRACE, now=now)
    people_admin.grant(gov, "bob", "auditor", actor=GRACE, now=now)

    roster = gov.policy.roster
    assert roster["mallory"] == ["ml_lead"] and roster["frank"] == ["risk_officer"]
    assert roster["bob"] == ["ml_engineer", "auditor"]
    # The version names the file: role changes are their own events, not a new policy.
    assert gov.policy.version == gov.file_policy.version
    assert "mallory" not in gov.file_policy.roster
    assert events(gov) == [
        (
            "person.role_granted",
            "grace",
            {"name": "mallory", "role": "ml_lead", "added_to_roster": True},
        ),
        ("person.role_revoked", "grace", {"name": "frank", "role": "ml_lead"}),
        (
            "person.role_granted",
            "grace",
            {"name": "bob", "role": "auditor", "added_to_roster": False},
        ),
    ]
    listed = {p.name: p.roles for p in identity.people(gov, now=now)}
    assert listed["mallory"] == ["ml_lead"] and listed["frank"] == ["risk_officer"]
    # A person added by a grant can now be enrolled (by an admin, as grace is in the roster).
    assert identity.enroll(gov, "mallory", actor=GRACE, now=now).name == "mallory"
    require_role(gov, VerifiedActor(name="bob", method="totp"), "auditor", "reading the trail")
    # The trail verifies and the replay accounts for everything.
    assert audit.verify(gov).chain.verified == len(events(gov, ""))


def test_another_process_sees_a_change_at_its_next_session_check(gov, now, codes):
    other = open_governance(gov.settings)
    try:
        dave = identity.login(other, "dave", codes("dave"), now=now)
        assert "risk_officer" in other.policy.roster["dave"]  # read and kept
        people_admin.revoke_role(gov, "dave", "risk_officer", actor=GRACE, now=now)
        assert "risk_officer" in other.policy.roster["dave"]  # this process has not looked yet
        identity.session_actor(other, dave.token, now=now)  # every request checks its session
        assert other.policy.roster["dave"] == []
    finally:
        other.close()


def test_role_change_refusals_name_the_problem_and_change_nothing(gov, now):
    before = events(gov)
    assert refused(
        RoleNotHeld, people_admin.grant, gov, "carol", "legal", actor=CAROL, now=now
    ) == ("carol does not hold the role admin: granting legal to carol refused")
    assert (
        refused(
            RoleNotHeld, people_admin.revoke_role, gov, "dave", "risk_officer", actor=CAROL, now=now
        )
        == "carol does not hold the role admin: revoking risk_officer from dave refused"
    )
    assert (
        refused(
            SeparationOfDuties, people_admin.grant, gov, "grace", "ml_lead", actor=GRACE, now=now
        )
        == "grace cannot change their own roles: another admin must"
    )
    assert (
        refused(
            SeparationOfDuties,
            people_admin.revoke_role,
            gov,
            "grace",
            "admin",
            actor=GRACE,
            now=now,
        )
        == "grace cannot change their own roles: another admin must"
    )
    assert refused(InvalidInput, people_admin.grant, gov, "bob", "owner", actor=GRACE, now=now) == (
        "unknown role 'owner' (expected one of ml_engineer, ml_lead, risk_officer, legal, "
        "admin, auditor)"
    )
    assert refused(Conflict, people_admin.grant, gov, "carol", "ml_lead", actor=GRACE, now=now) == (
        "carol already holds the role ml_lead"
    )
    assert (
        refused(Conflict, people_admin.revoke_role, gov, "carol", "legal", actor=GRACE, now=now)
        == "carol does not hold the role legal"
    )
    assert (
        refused(
            NotInRoster, people_admin.revoke_role, gov, "mallory", "legal", actor=GRACE, now=now
        )
        == "mallory is not in the policy roster"
    )
    # erin is the only legal: high-risk production could no longer be approved.
    assert refused(
        Conflict, people_admin.revoke_role, gov, "erin", "legal", actor=GRACE, now=now
    ) == (
        "revoking legal from erin refused, the roster could no longer staff the rules: "
        "approvals: role legal needs 1 approver(s) but the roster gives it to 0 (nobody)"
    )
    # With frank's ml_lead gone, carol is the only one left: her role cannot go too.
    people_admin.revoke_role(gov, "frank", "ml_lead", actor=GRACE, now=now)
    assert refused(
        Conflict, people_admin.revoke_role, gov, "carol", "ml_lead", actor=GRACE, now=now
    ) == (
        "revoking ml_lead from carol refused, the roster could no longer staff the rules: "
        "approvals: role ml_lead needs 1 approver(s) but the roster gives it to 0 (nobody)"
    )
    assert events(gov, "person.")[len(before) :] == [
        ("person.role_revoked", "grace", {"name": "frank", "role": "ml_lead"})
    ]


def test_an_admin_whose_role_was_revoked_elsewhere_is_refused_under_the_lock(gov, now):
    people_admin.grant(gov, "ivan", "admin", actor=GRACE, now=now)
    ivan = VerifiedActor(name="ivan", method="totp")
    other = open_governance(gov.settings)
    try:
        assert "admin" in other.policy.roster["ivan"]  # kept by the other process
        people_admin.revoke_role(gov, "ivan", "admin", actor=GRACE, now=now)
        # The check inside the transaction reads the trail again, whatever the process kept.
        assert (
            refused(RoleNotHeld, people_admin.grant, other, "bob", "legal", actor=ivan, now=now)
            == "ivan does not hold the role admin: granting legal to bob refused"
        )
    finally:
        other.close()


def forge_event(gov, event_type: str, details: str) -> int:
    """Append an event chained by the published rule, with a MAC made without the key."""
    with gov.engine.begin() as conn:
        seq, head = conn.exec_driver_sql(
            "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1"
        ).one()
        fields = (seq + 1, f"forged-{seq + 1}", "2026-11-23T12:00:00.000000Z", event_type)
        fields += (None, None, "mallory", details)
        digest = chain_hash(head, canonical_event(*fields))
        conn.execute(
            sa.text(
                "INSERT INTO audit_events (seq, id, ts, event_type, model, version, actor,"
                " details, prev_hash, hash, mac) VALUES (:s, :i, :t, :e, :m, :v, :a, :d, :p, :h,"
                " :mac)"
            ),
            dict(zip("sitemvad", fields, strict=True)) | {"p": head, "h": digest, "mac": "ab" * 32},
        )
    return seq + 1


def test_a_forged_role_grant_changes_nothing_and_audit_verify_names_it(gov, now):
    people_admin.grant(gov, "bob", "legal", actor=GRACE, now=now)  # a genuine one before it
    seq = forge_event(gov, "person.role_granted", '{"name":"alice","role":"admin"}')
    gov.refresh_roster()
    assert gov.policy.roster["alice"] == ["ml_engineer"]
    assert gov.policy.roster["bob"] == ["ml_engineer", "legal"]
    alice = VerifiedActor(name="alice", method="totp")
    assert refused(RoleNotHeld, people_admin.grant, gov, "dave", "legal", actor=alice, now=now) == (
        "alice does not hold the role admin: granting legal to dave refused"
    )
    with pytest.raises(ChainBroken, match=f"event {seq}: MAC does not match"):
        audit.verify(gov)


# --- enrolment ----------------------------------------------------------------------------


def test_enrolment_is_the_host_operators_until_the_first_admin_then_an_admins(gov, now):
    identity.enroll(gov, "carol", actor="cli:root", now=now)  # nobody is an admin yet
    made = identity.enroll_first_admin(gov, "grace", now=now)
    assert made.name == "grace" and made.uri.startswith("otpauth://totp/governance:grace")
    refusal = refused(RoleNotHeld, identity.enroll, gov, "dave", actor="cli:root", now=now)
    assert refusal == (
        "cli:root does not hold the role admin: enrolling dave refused (once an admin is "
        "enrolled, enrolment is an admin's act: log in as one)"
    )
    assert refused(RoleNotHeld, identity.enroll, gov, "dave", actor=CAROL, now=now) == (
        "carol does not hold the role admin: enrolling dave refused (once an admin is "
        "enrolled, enrolment is an admin's act: log in as one)"
    )
    assert refused(
        RoleNotHeld, identity.enroll, gov, "carol", actor=CAROL, now=now, replace=True
    ).startswith("carol does not hold the role admin: enrolling carol refused")
    assert refused(Conflict, identity.enroll_first_admin, gov, "erin", now=now) == (
        "an admin is already enrolled (grace): the first admin is made once; an admin enrols "
        "everyone else"
    )
    identity.enroll(gov, "dave", actor=GRACE, now=now)
    identity.enroll(gov, "carol", actor=GRACE, now=now, replace=True)
    with gov.engine.connect() as conn:
        by = dict(conn.execute(sa.select(people.c.name, people.c.enrolled_by)).all())
    assert by == {"carol": "grace", "grace": "server-init", "dave": "grace"}
    assert [(t, a, d["name"]) for t, a, d in events(gov)] == [
        ("person.enrolled", "cli:root", "carol"),
        ("person.enrolled", "server-init", "grace"),
        ("person.enrolled", "grace", "dave"),
        ("person.enrolled", "grace", "carol"),
    ]


def test_deleting_the_admins_rows_does_not_reopen_the_operators_enrolment(gov, now):
    identity.enroll_first_admin(gov, "grace", now=now)
    with gov.engine.begin() as conn:
        conn.execute(people.delete())
    assert refused(RoleNotHeld, identity.enroll, gov, "dave", actor="cli:root", now=now) == (
        "cli:root does not hold the role admin: enrolling dave refused (once an admin is "
        "enrolled, enrolment is an admin's act: log in as one)"
    )
    assert refused(Conflict, identity.enroll_first_admin, gov, "erin", now=now).startswith(
        "an admin is already enrolled (grace)"
    )


def test_the_first_admin_may_be_someone_new_or_already_enrolled(gov, now):
    old = identity.enroll(gov, "carol", actor="cli:root", now=now)
    made = identity.enroll_first_admin(gov, "carol", now=now, actor="cli:ops")
    assert made.secret != old.secret  # the operator hands over a new authenticator
    assert gov.policy.roster["carol"] == ["ml_lead", "admin"]
    assert events(gov)[1:] == [
        (
            "person.role_granted",
            "cli:ops",
            {"name": "carol", "role": "admin", "added_to_roster": False},
        ),
        ("person.enrolled", "cli:ops", {"name": "carol", "replaced": True, "sessions_ended": 0}),
    ]


def test_a_new_person_can_be_the_first_admin(gov, now):
    identity.enroll_first_admin(gov, "Root ", now=now)
    assert gov.policy.roster["root"] == [ADMIN_ROLE]
    assert [t for t, _, _ in events(gov)] == ["person.role_granted", "person.enrolled"]


# --- sessions -------------------------------------------------------------------------------


def test_an_admin_revokes_every_live_session_and_each_is_refused_saying_so(gov, now, codes):
    first = identity.login(gov, "dave", codes("dave"), now=now)
    later = now + timedelta(minutes=1)
    second = identity.login(gov, "dave", codes("dave", later), now=later)
    carol = identity.login(gov, "carol", codes("carol"), now=now)
    assert (
        refused(RoleNotHeld, people_admin.revoke_sessions, gov, "dave", actor=CAROL, now=later)
        == "carol does not hold the role admin: revoking the sessions of dave refused"
    )

    at = now + timedelta(minutes=2)
    assert people_admin.revoke_sessions(gov, "Dave", actor=GRACE, now=at) == 2
    for ticket in (first, second):
        assert refused(NotLoggedIn, identity.session_actor, gov, ticket.token, now=at) == (
            "not logged in: the session of dave ended at 2026-11-23T12:02:00+00:00 "
            f"(revoked by grace); {HINT}"
        )
    # Clearing `ended_at` reopens nothing: the trail says the sessions were revoked.
    with gov.engine.begin() as conn:
        conn.execute(cli_sessions.update().values(ended_at=None))
    assert refused(NotLoggedIn, identity.session_actor, gov, first.token, now=at).endswith(
        f"(revoked by grace); {HINT}"
    )
    assert identity.session_actor(gov, carol.token, now=at).name == "carol"
    assert events(gov, "person.sessions") == [
        ("person.sessions_revoked", "grace", {"name": "dave", "count": 2})
    ]
    # A session opened after the revocation is live.
    after = at + timedelta(minutes=1)
    again = identity.login(gov, "dave", codes("dave", after), now=after)
    assert identity.session_actor(gov, again.token, now=after).name == "dave"


# --- wrong codes ----------------------------------------------------------------------------


def last_step(gov, name: str) -> int | None:
    with gov.engine.connect() as conn:
        return conn.execute(
            sa.select(people.c.last_used_step).where(people.c.name == name)
        ).scalar_one()


def test_the_sixth_wrong_code_is_refused_by_the_lock_which_is_audited(gov, now, codes):
    dave = pyotp.TOTP(codes.secrets["dave"])
    until = "2026-11-23T12:19:00+00:00"  # 15 minutes after the fifth wrong code
    for minute in range(4):
        at = now + timedelta(minutes=minute)
        message = refused(
            InvalidCode, identity.verify_code, gov, "dave", wrong(dave.at(at)), now=at
        )
        assert message == "one-time code for dave is wrong or expired"
    fifth = now + timedelta(minutes=4)
    assert refused(InvalidCode, identity.login, gov, "dave", wrong(dave.at(fifth)), now=fifth) == (
        "one-time code for dave is wrong or expired; codes for dave are locked until "
        f"{until}: 5 wrong codes in 15 minutes"
    )
    sixth = now + timedelta(minutes=5)
    locked = f"codes for dave are locked until {until}: 5 wrong codes in 15 minutes"
    # Even the right code: the lock is on the person's checks, not on wrong answers.
    assert refused(CodesLocked, identity.login, gov, "dave", dave.at(sixth), now=sixth) == locked
    assert last_step(gov, "dave") is None
    with gov.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(cli_sessions)).scalar() == 0
    recorded = events(gov, "person.code")
    assert recorded[:5] == [
        (
            "person.code_refused",
            "dave",
            {"name": "dave", "reason": "wrong or expired", "failures": n},
        )
        for n in range(1, 6)
    ]
    assert recorded[5:] == [
        (
            "person.codes_locked",
            "system",
            {
                "name": "dave",
                "until": "2026-11-23T12:19:00.000000Z",
                "failures": 5,
                "window_minutes": 15,
            },
        )
    ]
    listed = {p.name: p for p in identity.people(gov, now=sixth)}
    assert str(listed["dave"].codes_locked_until) == "2026-11-23 12:19:00+00:00"
    assert listed["carol"].codes_locked_until is None
    # Other people's codes are unaffected; dave's work again once the lock lifts.
    assert identity.verify_code(gov, "carol", codes("carol", sixth), now=sixth).name == "carol"
    lifted = now + timedelta(minutes=19)
    assert identity.verify_code(gov, "dave", dave.at(lifted), now=lifted).name == "dave"
    assert identity.people(gov, now=lifted)[3].codes_locked_until is None


def test_wrong_codes_outside_15_minutes_do_not_add_up(gov, now, codes):
    dave = pyotp.TOTP(codes.secrets["dave"])
    for minute in (0, 1, 2, 3, 16):
        at = now + timedelta(minutes=minute)
        message = refused(
            InvalidCode, identity.verify_code, gov, "dave", wrong(dave.at(at)), now=at
        )
        assert message == "one-time code for dave is wrong or expired"
    at = now + timedelta(minutes=17)
    assert identity.verify_code(gov, "dave", dave.at(at), now=at).name == "dave"
    # A sliding window: at 12:16 the wrong codes of 12:00 and 12:01 no longer count.
    assert [d["failures"] for _, _, d in events(gov, "person.code_refused")] == [1, 2, 3, 4, 3]
    assert events(gov, "person.codes_locked") == []


def test_a_wrong_code_is_counted_even_when_the_callers_transaction_commits(gov, now, codes):
    dave = pyotp.TOTP(codes.secrets["dave"])
    with gov.store.write() as tx:
        with pytest.raises(InvalidCode):
            identity.verify_code_in(tx, gov.policy, "dave", wrong(dave.at(now)), now=now)
        tx.audit.append("test.marker", actor="test", now=now, details={})
    assert [t for t, _, _ in events(gov, "")][-2:] == ["test.marker", "person.code_refused"]


def test_an_admin_lifts_a_lock_early_and_it_is_audited(gov, now, codes):
    dave = pyotp.TOTP(codes.secrets["dave"])
    assert refused(Conflict, code_locks.unlock, gov, "dave", actor=GRACE, now=now) == (
        "codes for dave are not locked"
    )
    for _ in range(5):
        with pytest.raises(InvalidCode):
            identity.verify_code(gov, "dave", wrong(dave.at(now)), now=now)
    at = now + timedelta(minutes=1)
    assert refused(RoleNotHeld, code_locks.unlock, gov, "dave", actor=CAROL, now=at) == (
        "carol does not hold the role admin: unlocking the codes of dave refused"
    )
    assert str(code_locks.unlock(gov, "dave", actor=GRACE, now=at)) == "2026-11-23 12:15:00+00:00"
    assert events(gov, "person.codes_unlocked") == [
        (
            "person.codes_unlocked",
            "grace",
            {"name": "dave", "was_locked_until": "2026-11-23T12:15:00.000000Z"},
        )
    ]
    assert identity.verify_code(gov, "dave", dave.at(at), now=at).name == "dave"
    # The count starts again: one more wrong code locks nothing.
    later = at + timedelta(minutes=1)
    with pytest.raises(InvalidCode, match=r"wrong or expired$"):
        identity.verify_code(gov, "dave", wrong(dave.at(later)), now=later)


def test_a_forged_unlock_lifts_nothing(gov, now, codes):
    dave = pyotp.TOTP(codes.secrets["dave"])
    for _ in range(5):
        with pytest.raises(InvalidCode):
            identity.verify_code(gov, "dave", wrong(dave.at(now)), now=now)
    forge_event(gov, "person.codes_unlocked", '{"name":"dave"}')
    at = now + timedelta(minutes=1)
    assert refused(CodesLocked, identity.verify_code, gov, "dave", dave.at(at), now=at).startswith(
        "codes for dave are locked until 2026-11-23T12:15:00+00:00"
    )


def test_a_policy_loaded_event_records_the_file_not_the_role_changes(gov, now, tmp_path):
    people_admin.grant(gov, "mallory", "ml_lead", actor=GRACE, now=now)
    edited = tmp_path / "governance.yaml"
    edited.write_text(
        EXAMPLE_POLICY.read_text().replace(
            "approval_timeout_hours: 72", "approval_timeout_hours: 48"
        )
    )
    gov.settings.policy_file = edited
    gov.reload_policy()
    people_admin.grant(gov, "bob", "legal", actor=GRACE, now=now)
    loaded = [d for t, _, d in events(gov, "policy.loaded")]
    assert len(loaded) == 2 and loaded[1]["digest"] == gov.file_policy.version
    assert "mallory" not in loaded[1]["policy"]["roster"]
    assert loaded[1]["changed"] == {"approval_timeout_hours": {"from": 72.0, "to": 48.0}}
    assert gov.policy.roster["mallory"] == ["ml_lead"]  # still in force, from the trail

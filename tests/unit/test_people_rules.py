"""The roster's recorded role changes and the wrong-code lock, as pure rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from governance.domain.code_locks import (
    CODE_REFUSED,
    CODES_LOCKED,
    CODES_UNLOCKED,
    CodeStanding,
    LockEvent,
    lock_message,
    standing,
)
from governance.domain.roster_changes import RoleChange, apply_changes, change_of

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def test_the_newest_change_of_a_role_wins_over_the_file_and_a_grant_may_add_a_person():
    roster = {"carol": ["ml_lead"], "dave": ["risk_officer"]}
    changes = [
        RoleChange("carol", "ml_lead", granted=False),
        RoleChange("mallory", "ml_engineer", granted=True),
        RoleChange("carol", "ml_lead", granted=True),
        RoleChange("dave", "risk_officer", granted=False),
        RoleChange("dave", "legal", granted=False),  # not held: nothing to take
    ]
    assert apply_changes(roster, changes) == {
        "carol": ["ml_lead"],
        "dave": [],
        "mallory": ["ml_engineer"],
    }
    assert roster == {"carol": ["ml_lead"], "dave": ["risk_officer"]}  # not mutated


def test_only_well_formed_role_events_are_changes():
    assert change_of("person.role_granted", {"name": "bob", "role": "legal"}) == RoleChange(
        "bob", "legal", granted=True
    )
    assert change_of("person.role_revoked", {"name": "bob", "role": "legal"}).granted is False
    assert change_of("person.enrolled", {"name": "bob", "role": "legal"}) is None
    assert change_of("person.role_granted", {"name": "bob", "role": 3}) is None


def test_five_wrong_codes_in_a_sliding_window_and_a_lock_that_lifts():
    wrong = [LockEvent(CODE_REFUSED, minutes(m)) for m in (0, 1, 2, 3)]
    assert standing(wrong, minutes(3)) == CodeStanding(failures=4, locked_until=None)
    assert standing(wrong, minutes(15.5)).failures == 3  # the one at 12:00 left the window
    locked = [*wrong, LockEvent(CODES_LOCKED, minutes(4), until=minutes(19))]
    assert standing(locked, minutes(18)) == CodeStanding(failures=0, locked_until=minutes(19))
    assert standing(locked, minutes(19)) == CodeStanding(failures=0, locked_until=None)
    unlocked = [*locked, LockEvent(CODES_UNLOCKED, minutes(5))]
    assert standing(unlocked, minutes(6)) == CodeStanding(failures=0, locked_until=None)
    # An event after `now` (another process's clock ahead) is not counted yet.
    assert standing(wrong, minutes(1.5)).failures == 2


def test_the_lock_message_names_person_time_and_rule():
    assert lock_message("dave", minutes(19)) == (
        "codes for dave are locked until 2026-11-23T12:19:00+00:00: 5 wrong codes in 15 minutes"
    )

"""The rate limit on wrong one-time codes: 5 wrong codes in 15 minutes lock a person's codes.

The rule reads recorded events only (`person.code_refused`, `person.codes_locked`,
`person.codes_unlocked`), so every server process applies the same count and nothing about it
lives in one process's memory.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

CODE_REFUSED = "person.code_refused"
CODES_LOCKED = "person.codes_locked"
CODES_UNLOCKED = "person.codes_unlocked"
LOCK_EVENTS = (CODE_REFUSED, CODES_LOCKED, CODES_UNLOCKED)

MAX_WRONG_CODES = 5
WINDOW = timedelta(minutes=15)
LOCK_FOR = timedelta(minutes=15)
# How far back a check must read: a failure inside the window, or a lock still in force.
LOOKBACK = max(WINDOW, LOCK_FOR)


@dataclass(frozen=True)
class LockEvent:
    """One recorded event about a person's codes, at its time."""

    event_type: str
    at: datetime
    until: datetime | None = None


@dataclass(frozen=True)
class CodeStanding:
    """Where a person's code checks stand at a moment."""

    # Wrong codes counted towards the next lock (since the window opened or the last lock).
    failures: int
    # When the lock in force lifts, or None when codes are checked.
    locked_until: datetime | None


def standing(events: Iterable[LockEvent], now: datetime) -> CodeStanding:
    """The standing after a person's events (in chain order) as of `now`.

    A lock, or an admin's unlock, starts the count again: after a lock lifts the person has
    five tries again, not one.
    """
    failures: list[datetime] = []
    locked_until: datetime | None = None
    for event in events:
        if event.at > now:
            continue
        if event.event_type == CODE_REFUSED:
            failures.append(event.at)
        elif event.event_type == CODES_LOCKED:
            failures, locked_until = [], event.until
        elif event.event_type == CODES_UNLOCKED:
            failures, locked_until = [], None
    counted = sum(1 for at in failures if at > now - WINDOW)
    if locked_until is not None and locked_until <= now:
        locked_until = None
    return CodeStanding(failures=counted, locked_until=locked_until)


def lock_message(name: str, until: datetime) -> str:
    """The refusal of a locked person's code, naming when the lock lifts and why."""
    minutes = int(WINDOW.total_seconds() // 60)
    return (
        f"codes for {name} are locked until {until.isoformat(timespec='seconds')}: "
        f"{MAX_WRONG_CODES} wrong codes in {minutes} minutes"
    )

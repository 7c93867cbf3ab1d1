"""Counting wrong one-time codes per person, and the lock the fifth one sets.

A refused code rolls back the transaction that checked it, so its record is deferred to a
write transaction of its own that runs once that one has ended (`Transaction.defer`). The
records are audit events, MAC-verified when counted: the trail is append-only (on
PostgreSQL the application role cannot delete from it), so a database writer can neither
reset a count by deleting rows nor forge an unlock.
"""

from __future__ import annotations

import json
from datetime import datetime

from governance.bootstrap import Governance
from governance.domain.audit import MAC_PURPOSE, authentic, format_ts
from governance.domain.code_locks import (
    CODE_REFUSED,
    CODES_LOCKED,
    CODES_UNLOCKED,
    LOCK_EVENTS,
    LOCK_FOR,
    LOOKBACK,
    MAX_WRONG_CODES,
    WINDOW,
    CodeStanding,
    LockEvent,
    standing,
)
from governance.domain.errors import Conflict
from governance.domain.identity import VerifiedActor
from governance.services.trust.roles import ADMIN_ROLE, require_role, roster_person
from governance.store.audit_log import typed_rows
from governance.store.unit_of_work import Transaction


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts)


def standings_in(tx: Transaction, now: datetime) -> dict[str, CodeStanding]:
    """Every person with a recent record, and where their code checks stand at `now`."""
    key = tx.keyring.derive(MAC_PURPOSE)
    by_person: dict[str, list[LockEvent]] = {}
    for row in typed_rows(tx.conn, LOCK_EVENTS, since=now - LOOKBACK):
        if not authentic(row, key):
            continue  # not written by a key holder: neither a failure nor an unlock
        details = json.loads(row[7])
        name, until = details.get("name"), details.get("until")
        if not isinstance(name, str):
            continue
        event = LockEvent(row[3], _parse(row[2]), _parse(until) if until else None)
        by_person.setdefault(name, []).append(event)
    return {name: standing(events, now) for name, events in by_person.items()}


def standing_in(tx: Transaction, name: str, now: datetime) -> CodeStanding:
    """Where one person's code checks stand at `now`."""
    return standings_in(tx, now).get(name, CodeStanding(failures=0, locked_until=None))


def record_wrong_code(name: str, now: datetime):
    """The deferred write that records a wrong code for `name` (and the lock it may set)."""

    def write(tx: Transaction) -> None:
        # Counted again under the chain lock: another process may have recorded one since.
        failures = standing_in(tx, name, now).failures + 1
        tx.audit.append(
            CODE_REFUSED,
            actor=name,
            now=now,
            details={"name": name, "reason": "wrong or expired", "failures": failures},
        )
        if failures >= MAX_WRONG_CODES:
            tx.audit.append(
                CODES_LOCKED,
                actor="system",
                now=now,
                details={
                    "name": name,
                    "until": format_ts(now + LOCK_FOR),
                    "failures": failures,
                    "window_minutes": int(WINDOW.total_seconds() // 60),
                },
            )

    return write


def unlock(gov: Governance, name: str, *, actor: VerifiedActor, now: datetime) -> datetime:
    """Lift a person's code lock before it ends (an admin's audited act); when it would have."""
    name = roster_person(gov.policy, name)
    require_role(gov, actor, ADMIN_ROLE, f"unlocking the codes of {name}")
    with gov.store.write() as tx:
        locked_until = standing_in(tx, name, now).locked_until
        if locked_until is None:
            raise Conflict(f"codes for {name} are not locked")
        tx.audit.append(
            CODES_UNLOCKED,
            actor=actor.name,
            now=now,
            details={"name": name, "was_locked_until": format_ts(locked_until)},
        )
    return locked_until

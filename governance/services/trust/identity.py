"""Verified identity: enrolment, one-time codes and CLI sessions."""

from __future__ import annotations

import base64
import hmac
import json
import secrets
from datetime import UTC, datetime, timedelta

import pyotp
from pydantic import BaseModel, ConfigDict

from governance.bootstrap import Governance
from governance.domain.audit import canonical_json, format_ts
from governance.domain.code_locks import LOCK_FOR, MAX_WRONG_CODES, lock_message
from governance.domain.errors import (
    CodesLocked,
    InvalidCode,
    InvalidInput,
    NotEnrolled,
    NotLoggedIn,
)
from governance.domain.identity import VerifiedActor
from governance.domain.policy import Policy
from governance.services.trust.code_locks import record_wrong_code, standing_in, standings_in
from governance.services.trust.enrolment import (
    SECRET_PURPOSE,
    Enrollment,
    enroll,
    enroll_first_admin,
)
from governance.services.trust.roles import roster_person
from governance.services.trust.session_rows import open_session, sealed, session_id_of
from governance.store.people import StoredSession
from governance.store.unit_of_work import Transaction

__all__ = [
    "Enrollment",
    "PersonRecord",
    "SessionTicket",
    "enroll",
    "enroll_first_admin",
    "login",
    "logout",
    "people",
    "session_actor",
    "verify_code",
    "verify_code_in",
]

SESSION_PURPOSE = "cli-session"
# A session opened under `identity: none` has no people row to hang on (cli_sessions.person is
# a foreign key to people), so its token carries its own MAC'd payload behind this prefix.
UNVERIFIED_SESSION = "none."
MAX_SESSION_HOURS = 24 * 7


class PersonRecord(BaseModel):
    """A roster person, their roles, and when and by whom they were enrolled (if they were)."""

    model_config = ConfigDict(frozen=True)

    name: str
    roles: list[str]
    enrolled_at: datetime | None = None
    enrolled_by: str | None = None
    # When the lock on their codes lifts (5 wrong codes in 15 minutes), or None.
    codes_locked_until: datetime | None = None


class SessionTicket(BaseModel):
    """What `login` hands back for the user's session file; the token is shown only here."""

    model_config = ConfigDict(frozen=True)

    token: str
    person: str
    expires_at: datetime


_roster_person = roster_person


def _at(ts: datetime) -> str:
    return ts.isoformat(timespec="seconds")


def people(gov: Governance, *, now: datetime) -> list[PersonRecord]:
    """Every roster person, enrolled or not, and any lock on their codes at `now`, by name."""
    with gov.store.read() as tx:
        policy = gov.policy_in(tx.conn)
        enrolled = tx.people.enrolled()
        # Under `identity: none` no code is checked, so none is locked.
        standings = standings_in(tx, now) if policy.identity != "none" else {}
    records = []
    for name in sorted(policy.roster):
        row = enrolled.get(name)
        found = standings.get(name)
        records.append(
            PersonRecord(
                name=name,
                roles=list(policy.roster[name]),
                enrolled_at=row.enrolled_at if row else None,
                enrolled_by=row.enrolled_by if row else None,
                codes_locked_until=found.locked_until if found else None,
            )
        )
    return records


def matching_steps(secret: str, code: str, now: datetime) -> list[int]:
    """The time steps within ±1 of `now` whose code equals `code`, newest first."""
    totp = pyotp.TOTP(secret)
    step = totp.timecode(now)
    candidates = (step + 1, step, step - 1)
    return [s for s in candidates if hmac.compare_digest(totp.generate_otp(s), code)]


def verify_code_in(
    tx: Transaction, policy: Policy, name: str, code: str | None, *, now: datetime
) -> VerifiedActor:
    """Check a one-time code inside the caller's write transaction and burn its time step."""
    name = _roster_person(policy, name)
    if policy.identity == "none":
        return VerifiedActor(name=name, method="none")
    person = tx.people.find(name)
    if person is None:
        raise NotEnrolled(f"{name} has no authenticator: run `governance people enroll {name}`")
    found = standing_in(tx, name, now)
    if found.locked_until is not None:
        raise CodesLocked(lock_message(name, found.locked_until))
    code = "".join((code or "").split())  # authenticator apps show "123 456"
    if not code:
        raise InvalidCode(f"one-time code for {name} is missing")
    if len(code) != 6 or not code.isascii() or not code.isdigit():
        raise InvalidCode(f"one-time code for {name} must be 6 digits")
    secret = tx.keyring.decrypt(SECRET_PURPOSE, person.totp_secret)
    steps = matching_steps(secret, code, now)
    if not steps:
        # Recorded after this transaction ends: the refusal rolls it back.
        tx.defer(record_wrong_code(name, now))
        left = MAX_WRONG_CODES - found.failures - 1
        if left > 0:
            raise InvalidCode(f"one-time code for {name} is wrong or expired")
        raise InvalidCode(
            f"one-time code for {name} is wrong or expired; {lock_message(name, now + LOCK_FOR)}"
        )
    # Each code is accepted once, and never one older than the last accepted.
    if not tx.people.use_step(name, steps[0]):
        raise InvalidCode(f"one-time code for {name} was already used")
    return VerifiedActor(name=name, method="totp")


def verify_code(gov: Governance, name: str, code: str | None, *, now: datetime) -> VerifiedActor:
    """Check a one-time code in its own write transaction."""
    policy = gov.policy
    with gov.store.write() as tx:
        return verify_code_in(tx, policy, name, code, now=now)


def _login_hint(policy: Policy) -> str:
    code = "" if policy.identity == "none" else " --code CODE"
    return f"run `governance login NAME{code}`"


def login(
    gov: Governance, name: str, code: str | None, *, now: datetime, hours: float = 8
) -> SessionTicket:
    """Verify a one-time code and open a CLI session for `hours`; audited."""
    if not 0 < hours <= MAX_SESSION_HOURS:
        raise InvalidInput(f"session hours must be more than 0 and at most {MAX_SESSION_HOURS}")
    policy = gov.policy
    expires_at = now + timedelta(hours=hours)
    with gov.store.write() as tx:
        actor = verify_code_in(tx, policy, name, code, now=now)
        if actor.verified:
            token = secrets.token_urlsafe(32)
            session_id = session_id_of(token)
            opened = StoredSession(
                id=session_id, person=actor.name, created_at=now, expires_at=expires_at
            )
            tx.people.add_session(sealed(gov.keyring, opened))
        else:
            token = _unverified_token(gov, actor.name, expires_at)
            session_id = "none"
        tx.audit.append(
            "person.logged_in",
            actor=actor.name,
            now=now,
            details={
                "name": actor.name,
                "session": session_id,
                "expires_at": format_ts(expires_at),
            },
        )
    return SessionTicket(token=token, person=actor.name, expires_at=expires_at)


def _unverified_token(gov: Governance, name: str, expires_at: datetime) -> str:
    body = canonical_json(
        {"person": name, "expires_at": format_ts(expires_at), "nonce": secrets.token_hex(8)}
    )
    payload = base64.urlsafe_b64encode(body.encode()).decode()
    return f"{UNVERIFIED_SESSION}{payload}.{gov.keyring.mac(SESSION_PURPOSE, payload)}"


def _read_unverified(gov: Governance, token: str) -> tuple[str, datetime] | None:
    """The person and expiry of an `identity: none` session token, or None if it is forged."""
    payload, _, mac = token.removeprefix(UNVERIFIED_SESSION).partition(".")
    # compare_digest refuses non-ASCII text; such a token is forged anyway.
    if not token.isascii() or not gov.keyring.check_mac(SESSION_PURPOSE, payload, mac):
        return None
    body = json.loads(base64.urlsafe_b64decode(payload.encode()))
    expires_at = datetime.strptime(body["expires_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
    return body["person"], expires_at.replace(tzinfo=UTC)


def session_actor(gov: Governance, token: str | None, *, now: datetime) -> VerifiedActor:
    """The person of a live CLI session; NotLoggedIn saying why there is none."""
    # Each session check is a new request on a server: read the roster's changes again.
    gov.refresh_roster()
    policy = gov.policy
    hint = _login_hint(policy)
    if not token:
        raise NotLoggedIn(f"not logged in: {hint}")
    if token.startswith(UNVERIFIED_SESSION):
        found = _read_unverified(gov, token)
        if found is None:
            raise NotLoggedIn(f"not logged in: the session is unknown; {hint}")
        person, expires_at = found
        if policy.identity != "none":
            raise NotLoggedIn(
                f"not logged in: the session of {person} was opened under `identity: none` "
                f"and the policy now verifies identities; {hint}"
            )
        method = "none"
    else:
        person, expires_at, method = open_session(gov, token, hint)
    if expires_at <= now:
        raise NotLoggedIn(
            f"not logged in: the session of {person} expired at {_at(expires_at)}; {hint}"
        )
    name = _roster_person(policy, person)
    # An SSO session stays "oidc" (not code-verified) whatever acts it is used for.
    return VerifiedActor(name=name, method="none" if policy.identity == "none" else method)


def logout(gov: Governance, token: str | None, *, now: datetime) -> str | None:
    """End a CLI session; the person whose session ended, or None if there was none to end."""
    if not token:
        return None
    person: str | None = None
    if token.startswith(UNVERIFIED_SESSION):
        # Nothing is stored to end: the session file's deletion is what ends it.
        found = _read_unverified(gov, token)
        if found is None:
            return None
        person, session_id = found[0], "none"
    else:
        session_id = session_id_of(token)
    with gov.store.write() as tx:
        if person is None:
            session = tx.people.find_session(session_id)
            if session is None or not tx.people.end_session(session_id, now):
                return None
            person = session.person
        tx.audit.append(
            "person.logged_out",
            actor=person,
            now=now,
            details={"name": person, "session": session_id},
        )
    return person

"""Whether a stored CLI session is genuine and still open, by the key and by the audit trail.

A `cli_sessions` row is a claim anyone who can write the database could make. `login` seals
the row as it opens it, with a MAC under a key kept outside the database, and each way a
session ends is an audit event (`person.logged_out`, `person.sessions_revoked` by an admin,
or `person.enrolled` replacing the authenticator), so neither an inserted row nor a cleared
`ended_at` opens a session.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import NamedTuple

from governance.bootstrap import Governance
from governance.domain.audit import canonical_json, format_ts
from governance.domain.errors import NotLoggedIn
from governance.keyring import Keyring
from governance.services.trust.people_admin import SESSIONS_REVOKED
from governance.store.people import StoredSession
from governance.store.unit_of_work import Transaction

# Its own keyring purpose: a MAC made for anything else never passes as a session's.
ROW_PURPOSE = "cli-session-row"


def session_id_of(token: str) -> str:
    """A stored session's id: the sha256 of the token only its holder keeps."""
    return hashlib.sha256(token.encode()).hexdigest()


# How a session was opened. The method is sealed into the row's MAC rather than stored in a
# column: a code session's text is unchanged from before single sign-on existed, and an SSO
# session's text names its method, so nobody without the key can turn one into the other.
SESSION_METHODS = ("totp", "oidc")


class LiveSession(NamedTuple):
    """A genuine, open stored session: whose it is, until when, and how it was opened."""

    person: str
    expires_at: datetime
    method: str


def _row_text(session: StoredSession, method: str = "totp") -> str:
    """The sealed fields: everything `login` decides, nothing that changes later (ended_at)."""
    fields = {
        "created_at": format_ts(session.created_at),
        "expires_at": format_ts(session.expires_at),
        "id": session.id,
        "person": session.person,
    }
    if method != "totp":
        fields["method"] = method
    return canonical_json(fields)


def sealed(keyring: Keyring, session: StoredSession, method: str = "totp") -> StoredSession:
    """The session with the MAC of its row (and how it was opened), as `login` stores it."""
    if method not in SESSION_METHODS:
        raise ValueError(f"unknown session method {method!r}")
    mac = keyring.mac(ROW_PURPOSE, _row_text(session, method))
    return session.model_copy(update={"mac": mac})


def sealed_method(keyring: Keyring, session: StoredSession) -> str | None:
    """How the session was opened, by the MAC it carries; None when it is not genuine."""
    # compare_digest refuses non-ASCII text; a MAC holding such text is forged anyway.
    if not (session.mac or "").isascii():
        return None
    for method in SESSION_METHODS:
        if keyring.check_mac(ROW_PURPOSE, _row_text(session, method), session.mac):
            return method
    return None


def is_genuine(keyring: Keyring, session: StoredSession) -> bool:
    """True when the row is exactly as `login` (or the SSO login) sealed it."""
    return sealed_method(keyring, session) is not None


def ended_in_trail(tx: Transaction, session: StoredSession) -> tuple[datetime, str] | None:
    """When and why the audit trail says the session ended, whatever its `ended_at` says."""
    logged_out = tx.audit.first_with("person.logged_out", "session", session.id)
    if logged_out is not None:
        return _when(logged_out.ts), "logged out"
    revoked = tx.audit.first_with(
        SESSIONS_REVOKED, "name", session.person, after=session.created_at
    )
    if revoked is not None:
        return _when(revoked.ts), f"revoked by {revoked.actor}"
    replaced = tx.audit.first_with(
        "person.enrolled", "name", session.person, after=session.created_at
    )
    if replaced is not None and replaced.details.get("replaced") is True:
        return _when(replaced.ts), "the authenticator was replaced"
    return None


def _when(ts: str) -> datetime:
    return datetime.fromisoformat(ts)


def _shown(ts: datetime) -> str:
    return ts.isoformat(timespec="seconds")


def live_session(gov: Governance, token: str, hint: str) -> tuple[str, datetime]:
    """The person and expiry of a genuine, open stored session; NotLoggedIn saying why not."""
    found = open_session(gov, token, hint)
    return found.person, found.expires_at


def open_session(gov: Governance, token: str, hint: str) -> LiveSession:
    """A genuine, open stored session with how it was opened; NotLoggedIn saying why not."""
    with gov.store.read() as tx:
        session = tx.people.find_session(session_id_of(token))
        if session is None:
            raise NotLoggedIn(f"not logged in: the session is unknown; {hint}")
        person = session.person
        method = sealed_method(gov.keyring, session)
        if method is None:
            # Inserted or edited by someone without the key: `login` did not write it.
            raise NotLoggedIn(
                f"not logged in: the session of {person} is not genuine (its record does not "
                f"carry the MAC `governance login` made); {hint}"
            )
        # The trail, not the row, is what says a session ended: `ended_at` can be cleared.
        ended = ended_in_trail(tx, session)
    if ended is None and session.ended_at is not None:
        ended_at = _shown(session.ended_at)
        raise NotLoggedIn(f"not logged in: the session of {person} ended at {ended_at}; {hint}")
    if ended is not None:
        when, why = _shown(ended[0]), ended[1]
        raise NotLoggedIn(f"not logged in: the session of {person} ended at {when} ({why}); {hint}")
    return LiveSession(person, session.expires_at, method)

"""Who is calling: the person a bearer token's live session names, and refusals on record."""

from __future__ import annotations

import hashlib
from datetime import datetime

from governance.bootstrap import Governance
from governance.domain.errors import GovernanceError, NotLoggedIn
from governance.domain.identity import VerifiedActor
from governance.server.errors import NotAuthenticated
from governance.services.trust import audit, identity
from governance.services.trust.identity import UNVERIFIED_SESSION
from governance.services.trust.session_rows import live_session

REFUSED_EVENT = "server.call_refused"
LOGIN_HINT = "run `governance login NAME --code CODE`"


def bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer TOKEN` header, or None."""
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class _Checked:
    """Sessions this process verified, each valid while the trail's head has not moved.

    Whatever ends a session or changes a role (logout, an admin's revocation, a
    re-enrolment, a role change) is an audit event, so while the trail's newest seq is the
    one read before a session was checked, that check still holds until the session
    expires. One primary-key lookup then replaces the session row, its MAC, the trail's
    searches for its end and the roster's role events on every call.
    """

    LIMIT = 10_000

    def __init__(self) -> None:
        self.entries: dict[str, tuple[VerifiedActor, datetime, int]] = {}

    def get(self, key: str, head: int, now: datetime) -> VerifiedActor | None:
        """The actor checked at this head, if the session has not expired since."""
        found = self.entries.get(key)
        if found is None or found[2] != head or now >= found[1]:
            return None
        return found[0]

    def put(self, key: str, actor: VerifiedActor, expires_at: datetime, head: int) -> None:
        """Remember a check made at `head` (the store is bounded: full, it starts over)."""
        if len(self.entries) >= self.LIMIT:
            self.entries.clear()
        self.entries[key] = (actor, expires_at, head)


_CHECKED = _Checked()


def authenticate(gov: Governance, header: str | None, *, now: datetime) -> VerifiedActor:
    """The verified person of the call's token; NotAuthenticated naming why there is none."""
    token = bearer(header)
    if token is None:
        raise NotAuthenticated(
            f"no bearer token: this call needs `Authorization: Bearer TOKEN`; {LOGIN_HINT}"
        )
    if token.startswith(UNVERIFIED_SESSION):  # identity: none, a throwaway mode: no cache
        return _session_actor(gov, token, now)
    key = hashlib.sha256(token.encode()).hexdigest()
    # Read before the check: an act that lands during it moves the head past this value.
    head = audit.head(gov)
    actor = _CHECKED.get(key, head, now)
    if actor is None:
        actor = _session_actor(gov, token, now)
        try:
            expires_at = live_session(gov, token, LOGIN_HINT)[1]
        except NotLoggedIn as exc:  # ended in the moment between the two reads
            raise NotAuthenticated(str(exc)) from None
        _CHECKED.put(key, actor, expires_at, head)
    return actor


def _session_actor(gov: Governance, token: str, now: datetime) -> VerifiedActor:
    try:
        return identity.session_actor(gov, token, now=now)
    except NotLoggedIn as exc:
        raise NotAuthenticated(str(exc)) from None


def expiry(gov: Governance, header: str | None) -> datetime | None:
    """When the call's (already authenticated) session expires; None for `identity: none`."""
    token = bearer(header) or ""
    if token.startswith(UNVERIFIED_SESSION):
        return None
    return live_session(gov, token, LOGIN_HINT)[1]


def record_refusal(
    gov: Governance,
    *,
    actor: str | None,
    method: str,
    path: str,
    status: int,
    error: GovernanceError,
    now: datetime,
) -> None:
    """Append the refusal of a call to the trail (401s and 403s: who tried what, and why)."""
    with gov.store.write() as tx:
        tx.audit.append(
            REFUSED_EVENT,
            actor=actor or "anonymous",
            now=now,
            details={
                "method": method,
                "path": path,
                "status": status,
                "error": type(error).__name__,
                "reason": str(error)[:500],
            },
        )

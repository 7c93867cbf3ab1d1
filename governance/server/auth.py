"""Who is calling: the person a bearer token's live session names, and refusals on record."""

from __future__ import annotations

from datetime import datetime

from governance.bootstrap import Governance
from governance.domain.errors import GovernanceError, NotLoggedIn
from governance.domain.identity import VerifiedActor
from governance.server.errors import NotAuthenticated
from governance.services.trust import identity
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


def authenticate(gov: Governance, header: str | None, *, now: datetime) -> VerifiedActor:
    """The verified person of the call's token; NotAuthenticated naming why there is none."""
    token = bearer(header)
    if token is None:
        raise NotAuthenticated(
            f"no bearer token: this call needs `Authorization: Bearer TOKEN`; {LOGIN_HINT}"
        )
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

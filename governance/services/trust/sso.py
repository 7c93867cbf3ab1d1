"""Console sessions opened by the organisation's OpenID Connect single sign-on.

The identity provider vouches for who the person is; the roster says whether they are one of
ours. An SSO session identifies its person for reading and acting, but it is not
code-verified (`method: "oidc"`): every approval still asks for a fresh one-time code, and a
promotion is still requested from a session opened with one. Each SSO login and each
refusal is an audit event, and neither ever records a token, code, state or nonce.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from governance.bootstrap import Governance
from governance.domain.audit import format_ts
from governance.domain.errors import GovernanceError, InvalidInput, NotEnrolled, NotInRoster
from governance.domain.identity import canonical_name
from governance.services.trust.identity import (
    MAX_SESSION_HOURS,
    SessionTicket,
    _unverified_token,
)
from governance.services.trust.session_rows import sealed, session_id_of
from governance.store.people import StoredSession

LOGGED_IN = "person.logged_in"
REFUSED = "person.sso_refused"
METHOD = "oidc"
# Details kept from a refusal: what a reviewer needs, cut short so a hostile claim cannot
# flood the trail.
_MAX_DETAIL = 300


def _cut(value: object) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= _MAX_DETAIL else text[:_MAX_DETAIL] + "…"


def roster_name(gov: Governance, claimed: object) -> str:
    """The roster person a name claim stands for (canonical form); NotInRoster if none."""
    if not isinstance(claimed, str) or not claimed.strip():
        raise InvalidInput("the identity provider sent no name claim to map to a roster person")
    gov.refresh_roster()  # a person removed a moment ago is not let back in
    name = canonical_name(claimed)
    if name not in gov.policy.roster:
        raise NotInRoster(f"{name} is not in the policy roster: single sign-on refused")
    return name


def open_sso_session(
    gov: Governance,
    claimed: str,
    *,
    issuer: str,
    subject: str,
    now: datetime,
    hours: float = 8,
) -> SessionTicket:
    """Open a console session for the roster person the ID token's name claim names; audited.

    The token's signature, issuer, audience, nonce and expiry were checked by the caller; this
    maps the claim to a roster name and refuses a person the roster lacks or who has no
    authenticator (they could never approve, and a stored session needs their enrolment).
    """
    if not 0 < hours <= MAX_SESSION_HOURS:
        raise InvalidInput(f"session hours must be more than 0 and at most {MAX_SESSION_HOURS}")
    name = roster_name(gov, claimed)
    policy = gov.policy
    expires_at = now + timedelta(hours=hours)
    with gov.store.write() as tx:
        if policy.identity == "none":
            # Nothing is verified under `identity: none`: the same throwaway token as login's.
            token, session_id = _unverified_token(gov, name, expires_at), "none"
        else:
            if tx.people.find(name) is None:
                raise NotEnrolled(
                    f"{name} has no authenticator: single sign-on opens a session only for an "
                    f"enrolled person (approvals ask for a one-time code); ask an admin to run "
                    f"`governance people enroll {name}`"
                )
            token = secrets.token_urlsafe(32)
            session_id = session_id_of(token)
            opened = StoredSession(
                id=session_id, person=name, created_at=now, expires_at=expires_at
            )
            tx.people.add_session(sealed(gov.keyring, opened, METHOD))
        tx.audit.append(
            LOGGED_IN,
            actor=name,
            now=now,
            details={
                "name": name,
                "session": session_id,
                "expires_at": format_ts(expires_at),
                "method": METHOD,
                "issuer": issuer,
                "subject": subject,
            },
        )
    return SessionTicket(token=token, person=name, expires_at=expires_at)


def record_refusal(
    gov: Governance,
    *,
    reason: str,
    error: GovernanceError | str,
    issuer: str,
    now: datetime,
    subject: str | None = None,
    claimed: object = None,
) -> None:
    """Append a refused single sign-on: why (a short code and the message), from which issuer.

    `actor` is the claimed roster name when there is one (so a person's refusals are found by
    name), else "anonymous"; no token, code, state or nonce is recorded.
    """
    actor = "anonymous"
    if isinstance(claimed, str):
        try:
            name = canonical_name(claimed)
        except InvalidInput:
            name = None
        if name is not None and name in gov.policy.roster:
            actor = name
    with gov.store.write() as tx:
        tx.audit.append(
            REFUSED,
            actor=actor,
            now=now,
            details={
                "reason": reason,
                "message": _cut(error),
                "issuer": _cut(issuer),
                "subject": _cut(subject),
                "claimed": _cut(claimed),
            },
        )

"""Enrolling a person's authenticator: by an admin, or the first admin on the server host."""

from __future__ import annotations

from datetime import datetime

import pyotp
from pydantic import BaseModel, ConfigDict

from governance.bootstrap import Governance
from governance.domain.errors import Conflict
from governance.domain.identity import VerifiedActor, canonical_name
from governance.domain.roster_changes import ROLE_GRANTED
from governance.services.trust.people_admin import ENROLLED, enrolled_admins, enrolment_actor
from governance.services.trust.roles import ADMIN_ROLE, roster_person
from governance.store.people import EnrolledPerson
from governance.store.unit_of_work import Transaction

ISSUER = "governance"
SECRET_PURPOSE = "totp-secret"


def _at(ts: datetime) -> str:
    return ts.isoformat(timespec="seconds")


class Enrollment(BaseModel):
    """A new authenticator: the secret, and the otpauth:// URI an authenticator app scans."""

    model_config = ConfigDict(frozen=True)

    name: str
    secret: str
    uri: str


def enroll(
    gov: Governance,
    name: str,
    *,
    actor: VerifiedActor | str,
    now: datetime,
    replace: bool = False,
) -> Enrollment:
    """Create and store (encrypted) a TOTP secret for a roster person; audited, never the secret.

    Once an admin is enrolled, `actor` must be a verified admin; until then (a deployment's
    first steps, on its host) anyone named may enrol people.
    """
    with gov.store.write() as tx:
        policy = gov.policy_in(tx.conn)
        name = roster_person(policy, name)
        who = enrolment_actor(gov, tx, actor, name, policy)
        return _enroll_in(tx, gov, name, who, now, replace)


def enroll_first_admin(
    gov: Governance, name: str, *, now: datetime, actor: str = "server-init"
) -> Enrollment:
    """Make `name` the first admin on the server host: grant the role if needed, and enrol.

    Refused once any admin is enrolled. Someone already enrolled gets a new secret (their
    old authenticator and sessions end): the operator hands this one over.
    """
    with gov.store.write() as tx:
        policy = gov.policy_in(tx.conn)
        admins = enrolled_admins(gov, tx, policy)
        if admins:
            raise Conflict(
                f"an admin is already enrolled ({', '.join(admins)}): the first admin is made "
                "once; an admin enrols everyone else"
            )
        name = canonical_name(name)
        roles = policy.roster.get(name)
        if roles is None or ADMIN_ROLE not in roles:
            tx.audit.append(
                ROLE_GRANTED,
                actor=actor,
                now=now,
                details={"name": name, "role": ADMIN_ROLE, "added_to_roster": roles is None},
            )
        made = _enroll_in(tx, gov, name, actor, now, tx.people.find(name) is not None)
    gov.refresh_roster()
    return made


def _enroll_in(
    tx: Transaction, gov: Governance, name: str, actor: str, now: datetime, replace: bool
) -> Enrollment:
    """Store a new secret for `name` inside the caller's transaction; the new authenticator."""
    secret = pyotp.random_base32()
    existing = tx.people.find(name)
    if existing is not None and not replace:
        raise Conflict(
            f"{name} is already enrolled (since {_at(existing.enrolled_at)}); "
            "pass --replace to issue a new secret"
        )
    person = EnrolledPerson(
        name=name,
        totp_secret=gov.keyring.encrypt(SECRET_PURPOSE, secret),
        enrolled_at=now,
        enrolled_by=actor,
    )
    # A new secret starts with no used step: codes of the old one no longer verify anyway.
    tx.people.enroll(person, replace=existing is not None)
    # Sessions opened with the old authenticator may be the reason it is being replaced.
    ended = tx.people.end_sessions_of(name, now) if existing is not None else 0
    tx.audit.append(
        ENROLLED,
        actor=actor,
        now=now,
        details={"name": name, "replaced": existing is not None, "sessions_ended": ended},
    )
    uri = pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=ISSUER)
    return Enrollment(name=name, secret=secret, uri=uri)

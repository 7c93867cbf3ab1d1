"""An admin's acts on people: role changes in the roster and revoking sessions; all audited.

Who may enrol is decided here too (`enrolment_actor`): an admin, except while no admin is
enrolled, when the host operator may (that is how a deployment starts).
"""

from __future__ import annotations

import json
from datetime import datetime

from governance.bootstrap import Governance
from governance.domain.audit import MAC_PURPOSE, authentic
from governance.domain.errors import Conflict, InvalidInput, RoleNotHeld, SeparationOfDuties
from governance.domain.identity import VerifiedActor, canonical_name
from governance.domain.policy import Policy, roster_shortfall
from governance.domain.policy_sections import ROLES
from governance.domain.roster_changes import ROLE_GRANTED, ROLE_REVOKED
from governance.services.trust.roles import ADMIN_ROLE, require_role, roster_person
from governance.store.audit_log import typed_rows
from governance.store.unit_of_work import Transaction

SESSIONS_REVOKED = "person.sessions_revoked"
ENROLLED = "person.enrolled"


def _role(role: str) -> str:
    role = (role or "").strip().casefold()
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r} (expected one of {', '.join(ROLES)})")
    return role


def _not_own(actor: VerifiedActor, name: str, act: str) -> None:
    # An admin who could grant themselves ml_lead could approve what they request.
    if actor.name == name:
        raise SeparationOfDuties(f"{actor.name} cannot {act} their own roles: another admin must")


def _admin_in(gov: Governance, tx: Transaction, actor: VerifiedActor, act: str) -> Policy:
    """The roster in force read under the chain lock, refusing unless `actor` is an admin in it."""
    policy = gov.policy_in(tx.conn)
    if ADMIN_ROLE not in policy.roster.get(actor.name, ()):
        raise RoleNotHeld(f"{actor.name} does not hold the role {ADMIN_ROLE}: {act} refused")
    return policy


def grant(gov: Governance, name: str, role: str, *, actor: VerifiedActor, now: datetime) -> None:
    """Give `role` to `name` (adding them to the roster if they are not in it); audited."""
    name, role = canonical_name(name), _role(role)
    act = f"granting {role} to {name}"
    require_role(gov, actor, ADMIN_ROLE, act)
    _not_own(actor, name, "change")
    with gov.store.write() as tx:
        roster = _admin_in(gov, tx, actor, act).roster
        held = roster.get(name)
        if held is not None and role in held:
            raise Conflict(f"{name} already holds the role {role}")
        tx.audit.append(
            ROLE_GRANTED,
            actor=actor.name,
            now=now,
            details={"name": name, "role": role, "added_to_roster": held is None},
        )
    gov.refresh_roster()


def revoke_role(
    gov: Governance, name: str, role: str, *, actor: VerifiedActor, now: datetime
) -> None:
    """Take `role` from `name`, unless the roster could then not staff the approval rules."""
    name, role = canonical_name(name), _role(role)
    act = f"revoking {role} from {name}"
    require_role(gov, actor, ADMIN_ROLE, act)
    _not_own(actor, name, "change")
    with gov.store.write() as tx:
        policy = _admin_in(gov, tx, actor, act)
        name = roster_person(policy, name)
        if role not in policy.roster[name]:
            raise Conflict(f"{name} does not hold the role {role}")
        after = {person: list(roles) for person, roles in policy.roster.items()}
        after[name].remove(role)
        short = roster_shortfall(
            after, policy.approvals, policy.retirement.roles, policy.prompts.roles
        )
        if short:
            raise Conflict(f"{act} refused, the roster could no longer staff the rules: {short}")
        tx.audit.append(
            ROLE_REVOKED, actor=actor.name, now=now, details={"name": name, "role": role}
        )
    gov.refresh_roster()


def revoke_sessions(gov: Governance, name: str, *, actor: VerifiedActor, now: datetime) -> int:
    """End every live session of a person (an admin's audited act); how many ended."""
    name = roster_person(gov.policy, name)
    require_role(gov, actor, ADMIN_ROLE, f"revoking the sessions of {name}")
    with gov.store.write() as tx:
        _admin_in(gov, tx, actor, f"revoking the sessions of {name}")
        ended = tx.people.end_sessions_of(name, now)
        # The event, not `ended_at`, is what the session check reads: clearing it reopens nothing.
        tx.audit.append(
            SESSIONS_REVOKED, actor=actor.name, now=now, details={"name": name, "count": ended}
        )
    return ended


def enrolled_admins(gov: Governance, tx: Transaction, policy: Policy) -> list[str]:
    """The people the trail says were enrolled who hold the admin role in the roster in force.

    Read from MAC-verified `person.enrolled` events, not the `people` table: deleting the
    admins' rows must not reopen the host operator's bootstrap enrolment.
    """
    admins = set(policy.holders(ADMIN_ROLE))
    if not admins:
        return []
    key = tx.keyring.derive(MAC_PURPOSE)
    enrolled = {
        json.loads(row[7]).get("name")
        for row in typed_rows(tx.conn, (ENROLLED,))
        if authentic(row, key)
    }
    return sorted(admins & enrolled)


def enrolment_actor(
    gov: Governance, tx: Transaction, actor: VerifiedActor | str, name: str, policy: Policy
) -> str:
    """Who enrols `name`: a verified admin; or anyone while no admin is enrolled (bootstrap)."""
    if not enrolled_admins(gov, tx, policy):
        actor_name = actor if isinstance(actor, str) else actor.name
        if not actor_name.strip() or len(actor_name) > 128:
            raise InvalidInput("the enrolling actor must be named in 1 to 128 characters")
        return actor_name
    who = actor if isinstance(actor, str) else actor.name
    if isinstance(actor, str) or ADMIN_ROLE not in policy.roster.get(actor.name, ()):
        raise RoleNotHeld(
            f"{who} does not hold the role {ADMIN_ROLE}: enrolling {name} refused "
            "(once an admin is enrolled, enrolment is an admin's act: log in as one)"
        )
    return actor.name

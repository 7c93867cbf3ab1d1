"""Roster roles that acts other than approvals require of their verified actor."""

from __future__ import annotations

from governance.bootstrap import Governance
from governance.domain.errors import NotInRoster, RoleNotHeld
from governance.domain.identity import VerifiedActor, canonical_name
from governance.domain.policy import Policy

# Flags, experiments, rollbacks and prompt rollbacks are an ml_lead's acts.
LEAD_ROLE = "ml_lead"
# A model's risk level is changed only by a risk officer.
RISK_ROLE = "risk_officer"
# Enrolment, re-enrolment, role changes, revoking sessions, lifting code locks, client keys.
ADMIN_ROLE = "admin"
# Reading the whole audit trail (and asking the server to verify it).
AUDITOR_ROLE = "auditor"


def require_role(gov: Governance, actor: VerifiedActor, role: str, act: str) -> None:
    """Refuse `act` unless the verified actor holds `role` in the roster in force."""
    if role not in gov.policy.roster.get(actor.name, ()):
        raise RoleNotHeld(f"{actor.name} does not hold the role {role}: {act} refused")


def roster_person(policy: Policy, name: str) -> str:
    """The canonical name of a roster person, or NotInRoster."""
    name = canonical_name(name)
    if name not in policy.roster:
        raise NotInRoster(f"{name} is not in the policy roster")
    return name

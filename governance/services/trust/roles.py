"""Roster roles that acts other than approvals require of their verified actor."""

from __future__ import annotations

from governance.bootstrap import Governance
from governance.domain.errors import RoleNotHeld
from governance.domain.identity import VerifiedActor

# Flags, experiments, rollbacks and prompt rollbacks are an ml_lead's acts.
LEAD_ROLE = "ml_lead"
# A model's risk level is changed only by a risk officer.
RISK_ROLE = "risk_officer"
# Enrolment, roster changes and client keys are an admin's acts.
ADMIN_ROLE = "admin"


def require_role(gov: Governance, actor: VerifiedActor, role: str, act: str) -> None:
    """Refuse `act` unless the verified actor holds `role` in the policy roster."""
    if role not in gov.policy.roster.get(actor.name, ()):
        raise RoleNotHeld(f"{actor.name} does not hold the role {role}: {act} refused")

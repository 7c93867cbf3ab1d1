"""Risk levels: changing one is a governed act of a verified risk officer."""

from __future__ import annotations

from datetime import datetime

from governance.bootstrap import Governance
from governance.domain.approvals import RequestStatus
from governance.domain.errors import InvalidInput
from governance.domain.identity import VerifiedActor
from governance.domain.models import RegisteredModel, RiskLevel
from governance.services.trust.request_events import audit_request_event
from governance.services.trust.roles import RISK_ROLE, require_role


def change_risk(
    gov: Governance,
    name: str,
    level: RiskLevel,
    *,
    actor: VerifiedActor,
    reason: str,
    now: datetime,
) -> RegisteredModel:
    """Set a model's risk level: a governed act of a verified risk officer, audited."""
    level = RiskLevel(level)
    require_role(gov, actor, RISK_ROLE, "risk change")
    if not (reason or "").strip():
        raise InvalidInput("a risk change needs a reason (--reason TEXT); it is recorded")
    with gov.store.write() as tx:
        model = tx.registry.get_model(name)
        if model.risk_level == level:
            raise InvalidInput(f"{name} is already at {level.value} risk")
        tx.registry.set_risk(model.id, level)
        # The roles a request needs follow the risk level, so open requests are void.
        for request in tx.approvals.with_status(RequestStatus.open):
            if request.model_name == name and request.kind == "promotion":
                reason = f"risk changed from {model.risk_level.value} to {level.value}"
                tx.approvals.set_status(request.id, RequestStatus.void, now, reason)
                audit_request_event(
                    tx,
                    "approval.voided",
                    request,
                    actor.name,
                    now,
                    changed=["risk_level"],
                    reason=f"approvals void: {reason}; the required roles may differ",
                )
        tx.audit.append(
            "model.risk_changed",
            actor=actor.name,
            now=now,
            model=name,
            details={
                "from": model.risk_level.value,
                "to": level.value,
                "reason": reason.strip(),
                "verified": actor.verified,
            },
        )
        return model.model_copy(update={"risk_level": level})

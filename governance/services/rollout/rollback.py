"""Rollback: a deprecated version back to production inside its grace period, by a verified lead."""

from __future__ import annotations

from datetime import datetime

from governance.bootstrap import Governance
from governance.domain.errors import InvalidInput
from governance.domain.identity import VerifiedActor
from governance.domain.models import LifecycleStage, ModelVersion
from governance.services.registry.stages import incumbent_in
from governance.services.rollout.production import _transition_in
from governance.services.trust.roles import LEAD_ROLE, require_role
from governance.store.unit_of_work import Transaction


def rollback(
    gov: Governance,
    *,
    model: str,
    version: str,
    actor: VerifiedActor,
    reason: str,
    now: datetime,
) -> ModelVersion:
    """Bring a deprecated version back to production (archiving the current one); audited."""
    require_role(gov, actor, LEAD_ROLE, "rollback")
    if not (reason or "").strip():
        raise InvalidInput("a rollback needs a reason (--reason TEXT); it is recorded")
    with gov.store.write() as tx:
        return rollback_in(
            tx, gov, model=model, version=version, actor=actor, reason=reason, now=now
        )


def rollback_in(
    tx: Transaction,
    gov: Governance,
    *,
    model: str,
    version: str,
    actor: VerifiedActor,
    reason: str,
    now: datetime,
) -> ModelVersion:
    """The rollback inside an open transaction (an endpoint rollback bundles it with routing)."""
    found = tx.registry.get_version(model, version)
    if found.stage != LifecycleStage.deprecated:
        raise InvalidInput(
            f"{found.ref} is {found.stage.value}: only a deprecated version can be rolled back to"
        )
    replaced = incumbent_in(tx, model, version)
    restored = _transition_in(
        tx,
        model,
        version,
        LifecycleStage.production,
        actor=actor.name,
        now=now,
        reason=f"rollback: {reason.strip()}",
        sunset_days=gov.policy.retirement.sunset_days,
        routing_reason=f"rollback to {version}: {reason.strip()}",
    )
    tx.audit.append(
        "model.rolled_back",
        actor=actor.name,
        now=now,
        model=model,
        version=version,
        details={"replaced": replaced, "reason": reason.strip(), "verified": actor.verified},
    )
    return restored

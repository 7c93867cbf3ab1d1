"""Break-glass: an emergency promotion without gate or approvals, recorded, then retro-reviewed."""

from __future__ import annotations

from datetime import datetime

from governance.bootstrap import Governance
from governance.domain.approvals import ApprovalRequest
from governance.domain.errors import BreakGlassRefused
from governance.domain.identity import VerifiedActor
from governance.domain.models import LifecycleStage, ModelVersion
from governance.domain.policy import Policy
from governance.services.promotion.approval_requests import record_request, refuse_second_request
from governance.services.registry.stages import incumbent_in
from governance.services.rollout.exposure import standing_in
from governance.services.rollout.production import _transition_in

# What a retro-review's evidence names in place of an evaluation run.
NO_EVALUATION = "break-glass: no evaluation"


def check_break_glass(policy: Policy, actor: VerifiedActor, reason: str) -> str:
    """The trimmed reason, or BreakGlassRefused naming what is missing."""
    reason = (reason or "").strip()
    if not reason:
        raise BreakGlassRefused("break-glass needs a reason (--reason TEXT); it is recorded")
    held = set(policy.roster.get(actor.name, ()))
    if not held & set(policy.break_glass_roles):
        roles = ", ".join(policy.break_glass_roles)
        raise BreakGlassRefused(
            f"{actor.name} holds none of the break-glass roles ({roles}): break-glass refused"
        )
    return reason


def break_glass(
    gov: Governance,
    *,
    model: str,
    version: str,
    actor: VerifiedActor,
    reason: str,
    now: datetime,
) -> tuple[ModelVersion, ApprovalRequest]:
    """Promote to production now, record why and open the mandatory retro-review, atomically."""
    policy = gov.policy
    reason = check_break_glass(policy, actor, reason)
    target = LifecycleStage.production
    with gov.store.write() as tx:
        registered = tx.registry.get_model(model)
        found = tx.registry.get_version(model, version)
        refuse_second_request(tx, found.id, found.ref, target)
        rejection = standing_in(tx, found).rejection
        if rejection is not None:
            # Breaking glass again must not undo the production roles' decision.
            raise BreakGlassRefused(
                f"{found.ref}: {rejection.describe()}: break-glass may not put it in "
                "production until a later production request is approved"
            )
        incumbent = incumbent_in(tx, model, version)
        card = tx.cards.latest(found.id)
        promoted = _transition_in(
            tx,
            model,
            version,
            target,
            actor=actor.name,
            now=now,
            reason=f"break-glass: {reason}",
            sunset_days=policy.retirement.sunset_days,
        )
        tx.audit.append(
            "promotion.break_glass",
            actor=actor.name,
            now=now,
            model=model,
            version=version,
            details={
                "reason": reason,
                "from_stage": found.stage.value,
                "incumbent_version": incumbent,
                "verified": actor.verified,
                "roles": sorted(set(policy.roster[actor.name]) & set(policy.break_glass_roles)),
            },
        )
        review = record_request(
            tx,
            policy,
            found=found,
            risk=registered.risk_level,
            card=card,
            requester=actor,
            target=target,
            evaluation_run_id=NO_EVALUATION,
            incumbent=incumbent,
            now=now,
            kind="retro_review",
            reason=reason,
        )
        return promoted, review

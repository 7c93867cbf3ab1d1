"""What a rejected break-glass retro-review does: the policy's act, in the deciding transaction.

With `break_glass_rejection: rollback` (the default) the version that was in production
before the break-glass comes back, if it is still inside its grace period, and the review
ends with that act recorded (`break_glass.rejection_enacted`, which carries it out). When
no version can come back, or with `escalate`, the rejection is escalated
(`break_glass.rejection_escalated`): it stays in `approvals pending` and in the nightly
retirement audit's findings as a breach while the rejected version is still in production,
until an ml_lead acts (rolls back, promotes a successor, or takes it out of service).
"""

from __future__ import annotations

from datetime import datetime

from governance.bootstrap import Governance
from governance.domain.approvals import ApprovalRequest, RequestStatus
from governance.domain.cards import ModelCard, require_complete
from governance.domain.errors import GovernanceError
from governance.domain.evidence import NO_INCUMBENT
from governance.domain.identity import VerifiedActor
from governance.domain.models import LifecycleStage, check_transition
from governance.services.rollout.rollback import rollback_in
from governance.services.trust.request_events import audit_request_event
from governance.store.unit_of_work import Transaction

ENACTED = "break_glass.rejection_enacted"
ESCALATED = "break_glass.rejection_escalated"


def on_rejection_in(
    tx: Transaction,
    gov: Governance,
    request: ApprovalRequest,
    actor: VerifiedActor,
    now: datetime,
) -> str:
    """Carry out the policy's answer to a rejected retro-review; what was done, in words."""
    found = tx.registry.get_version(request.model_name, request.version)
    policy = gov.policy.break_glass_rejection
    if found.stage != LifecycleStage.production:
        outcome = f"nothing to undo: {found.ref} is already {found.stage.value}"
        _enacted(tx, request, actor, now, act="none", restored=None, outcome=outcome)
        return outcome
    previous = request.evidence.get("incumbent_version", NO_INCUMBENT)
    why_not = _no_rollback(tx, policy, request.model_name, previous, now)
    if why_not:
        outcome = (
            f"escalated: {why_not}; {found.ref} stays in production until an ml_lead acts "
            "(rolls back, or promotes a successor)"
        )
        tx.approvals.set_status(request.id, RequestStatus.rejected, now, outcome)
        audit_request_event(tx, ESCALATED, request, actor.name, now, policy=policy, reason=why_not)
        return outcome
    reason = f"break-glass retro-review {request.id} rejected"
    rollback_in(
        tx, gov, model=request.model_name, version=previous, actor=actor, reason=reason, now=now
    )
    outcome = f"rolled back to {request.model_name}@{previous}"
    _enacted(tx, request, actor, now, act="rollback", restored=previous, outcome=outcome)
    return outcome


def _no_rollback(
    tx: Transaction, policy: str, model: str, previous: str, now: datetime
) -> str | None:
    """Why the previous production version cannot come back, or None if it can."""
    if policy == "escalate":
        return "the policy escalates every rejection (break_glass_rejection: escalate)"
    if previous == NO_INCUMBENT:
        return "no version was in production before the break-glass"
    found = tx.registry.get_version(model, previous)
    if found.stage != LifecycleStage.deprecated:
        return f"the previous production version {found.ref} is {found.stage.value}"
    if found.sunset_at is not None and found.sunset_at <= now:
        return (
            f"the previous production version {found.ref} passed its sunset at "
            f"{found.sunset_at.isoformat()}"
        )
    # What the move itself would refuse, asked first: a refused rollback must not undo the
    # rejection it answers (they share one transaction).
    revision = tx.cards.latest(found.id)
    try:
        check_transition(found, LifecycleStage.production, now)
        require_complete(
            revision.card if revision else ModelCard(),
            LifecycleStage.production,
            tx.registry.get_model(model).risk_level,
        )
    except GovernanceError as exc:
        return f"the previous production version {found.ref} cannot come back: {exc}"
    return None


def _enacted(
    tx: Transaction,
    request: ApprovalRequest,
    actor: VerifiedActor,
    now: datetime,
    *,
    act: str,
    restored: str | None,
    outcome: str,
) -> None:
    """End the review with its act: the reason on the request, carried out, audited."""
    tx.approvals.set_status(request.id, RequestStatus.rejected, now, outcome)
    tx.approvals.mark_completed(request.id, now)
    audit_request_event(
        tx,
        ENACTED,
        request,
        actor.name,
        now,
        act=act,
        restored=restored,
        outcome=outcome,
        verified=actor.verified,
    )


def escalated_in(tx: Transaction) -> list[ApprovalRequest]:
    """Rejected retro-reviews still escalated: not carried out, their version in production."""
    found = []
    for request in tx.approvals.with_status_kind(RequestStatus.rejected.value, "retro_review"):
        if tx.approvals.get(request.id).completed_at is not None:
            continue
        version = tx.registry.get_version(request.model_name, request.version)
        if version.stage == LifecycleStage.production:
            found.append(request)
    return found


def escalated(gov: Governance) -> list[ApprovalRequest]:
    """Rejected retro-reviews a lead must still act on, oldest first."""
    with gov.store.read() as tx:
        return escalated_in(tx)

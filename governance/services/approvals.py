"""Opening approval requests, recording decisions and refusals, expiry, and current evidence."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from governance.bootstrap import Governance
from governance.domain import approvals as rules
from governance.domain.approvals import ApprovalRequest, RequestStatus
from governance.domain.cards import ModelCard, require_complete
from governance.domain.errors import ApprovalError, InvalidDecision, InvalidInput, RequestClosed
from governance.domain.models import LifecycleStage, check_transition
from governance.domain.policy import Policy
from governance.store.approvals import RefusedAttempt, StoredRequest
from governance.store.unit_of_work import Transaction

# Names are stored in 128-character columns; a longer one is bad input, not a refusal.
_MAX_NAME = 128


def as_stage(target: LifecycleStage | str) -> LifecycleStage:
    """The lifecycle stage named by `target`, or InvalidInput listing the stages."""
    try:
        return LifecycleStage(target)
    except ValueError:
        stages = ", ".join(stage.value for stage in LifecycleStage)
        raise InvalidInput(f"unknown stage {target!r}: expected one of {stages}") from None


def open_approval(
    gov: Governance,
    *,
    model: str,
    version: str,
    target: LifecycleStage,
    requested_by: str,
    evaluation_run_id: str,
    now: datetime,
) -> ApprovalRequest:
    """Open a request to move a version to `target`, bound to its evidence as of `now`."""
    target = as_stage(target)
    if not requested_by.strip():
        raise InvalidInput("requested_by is empty: name the person asking for approval")
    policy = gov.policy
    with gov.store.write() as tx:
        registered = tx.registry.get_model(model)
        found = tx.registry.get_version(model, version)
        _check_run(tx, evaluation_run_id, model, version)
        check_transition(found, target, now)
        card = tx.cards.latest(found.id)
        require_complete(card.card if card else ModelCard(), target, registered.risk_level)
        request = rules.open_request(
            id=str(uuid.uuid4()),
            model_name=model,
            version=version,
            target_stage=target,
            risk=registered.risk_level,
            requested_by=requested_by,
            version_created_by=found.created_by,
            artifact_digest=found.artifact_digest or "",
            card_hash=card.card_hash if card else "",
            evaluation_run_id=evaluation_run_id,
            policy=policy,
            now=now,
        )
        tx.approvals.add_request(request, version_id=found.id)
        audit_request_event(
            tx,
            "approval.requested",
            request,
            requested_by,
            now,
            required=dict(request.required),
            evidence=dict(request.evidence),
            expires_at=request.expires_at.isoformat(),
        )
        return request


def _check_run(tx: Transaction, run_id: str, model: str, version: str) -> None:
    """Refuse a run of another version, or one whose gate failed."""
    run = tx.evaluation.get_run(run_id)
    if (run.model, run.version) != (model, version):
        raise InvalidInput(
            f"evaluation run {run_id} is of {run.model}@{run.version}, not {model}@{version}"
        )
    if not run.decision.passed:
        raise InvalidInput(
            f"evaluation run {run_id} did not pass the gate ({run.decision.summary()}); "
            "approvals are asked for only after a passed gate"
        )


def audit_request_event(
    tx: Transaction,
    event_type: str,
    request: ApprovalRequest,
    actor: str,
    now: datetime,
    **details: Any,
) -> None:
    """Append an approval event; every one names the request and its evidence digest."""
    tx.audit.append(
        event_type,
        actor=actor,
        now=now,
        model=request.model_name,
        version=request.version,
        details={
            "request_id": request.id,
            "target_stage": request.target_stage.value,
            "evidence_digest": request.evidence_digest,
            **details,
        },
    )


def get_request(gov: Governance, request_id: str) -> ApprovalRequest:
    """The request with its decisions so far, or NotFound."""
    with gov.store.read() as tx:
        return tx.approvals.get(request_id).request


def pending_requests(gov: Governance) -> list[ApprovalRequest]:
    """Requests still open, oldest first."""
    with gov.store.read() as tx:
        return tx.approvals.with_status(RequestStatus.open)


def refused_attempts(gov: Governance, request_id: str) -> list[RefusedAttempt]:
    """The refused decisions on a request, oldest first."""
    with gov.store.read() as tx:
        tx.approvals.get(request_id)
        return tx.approvals.refusals(request_id)


def _check(
    stored: StoredRequest, *, approver: str, role: str, decision: str, policy: Policy, now: datetime
) -> None:
    """Raise the error that refuses this decision: carried-out requests first, then the rules."""
    for label, value in (("approver", approver), ("role", role), ("decision", decision)):
        if len(value) > _MAX_NAME:
            raise InvalidInput(f"{label} is longer than {_MAX_NAME} characters")
    if stored.completed_at is not None:
        raise RequestClosed(
            f"request {stored.request.id} was carried out at {stored.completed_at.isoformat()}; "
            "it takes no more decisions"
        )
    try:
        rules.check_decision(
            stored.request, approver=approver, role=role, decision=decision, policy=policy, now=now
        )
    except ApprovalError:
        raise
    except InvalidInput as exc:
        raise InvalidDecision(str(exc)) from None


def check_decision_only(
    gov: Governance, *, request_id: str, approver: str, role: str, decision: str, now: datetime
) -> None:
    """Raise the error `decide` would refuse with, writing nothing (a dry run for the CLI)."""
    policy = gov.policy
    with gov.store.read() as tx:
        stored = tx.approvals.get(request_id)
        _check(stored, approver=approver, role=role, decision=decision, policy=policy, now=now)


def decide(
    gov: Governance,
    *,
    request_id: str,
    approver: str,
    role: str,
    decision: str,
    notes: str = "",
    now: datetime,
) -> ApprovalRequest:
    """Record a decision; a refused one is recorded and audited as refused, then raised."""
    policy = gov.policy
    asked = {"approver": approver, "role": role, "decision": decision, "notes": notes}
    refusal: ApprovalError | None = None
    with gov.store.write() as tx:
        stored = tx.approvals.get(request_id)
        request = stored.request
        try:
            _check(stored, approver=approver, role=role, decision=decision, policy=policy, now=now)
        except ApprovalError as exc:
            refusal = exc
            _record_refusal(tx, request, asked, exc, now)
        else:
            request = _record_decision(tx, request, asked, policy, now)
    # Raised after the block so the refusal and its audit event are committed first.
    if refusal is not None:
        raise refusal
    return request


def _record_refusal(
    tx: Transaction,
    request: ApprovalRequest,
    asked: dict[str, str],
    exc: ApprovalError,
    now: datetime,
) -> None:
    attempt = RefusedAttempt(
        request_id=request.id,
        **asked,
        error=type(exc).__name__,
        reason=str(exc),
        attempted_at=now,
    )
    tx.approvals.add_refusal(attempt)
    audit_request_event(
        tx,
        "approval.refused",
        request,
        attempt.approver,
        now,
        **asked,
        error=attempt.error,
        reason=attempt.reason,
    )


def _record_decision(
    tx: Transaction,
    request: ApprovalRequest,
    asked: dict[str, str],
    policy: Policy,
    now: datetime,
) -> ApprovalRequest:
    updated = rules.decide(request, **asked, policy=policy, now=now)
    approval = updated.approvals[-1]
    tx.approvals.add_decision(request.id, approval)
    changed = updated.status != request.status
    if changed:
        tx.approvals.set_status(request.id, updated.status, now)
    audit_request_event(
        tx,
        "approval.decided",
        updated,
        approval.approver,
        now,
        **asked,
        policy_version=approval.policy_version,
        status=updated.status.value,
        missing_roles=dict(rules.missing_roles(updated)),
    )
    if changed and updated.status in (RequestStatus.approved, RequestStatus.rejected):
        decisions = [{"approver": a.approver, "role": a.role} for a in updated.approvals]
        audit_request_event(
            tx,
            f"approval.{updated.status.value}",
            updated,
            approval.approver,
            now,
            decisions=decisions,
        )
    return updated


def expire_request(
    gov: Governance, request_id: str, now: datetime, *, actor: str = "system"
) -> ApprovalRequest:
    """Close an open request as expired (the wait for approvals ran out); audited."""
    with gov.store.write() as tx:
        request = tx.approvals.get(request_id).request
        if request.status != RequestStatus.open:
            raise RequestClosed(f"request {request_id} is {request.status.value}, not open")
        expired = request.model_copy(update={"status": RequestStatus.expired})
        tx.approvals.set_status(request_id, RequestStatus.expired, now)
        # The flow's wait may be shorter than the policy's timeout, so an early expiry is
        # allowed, and recorded as early.
        audit_request_event(
            tx,
            "approval.expired",
            expired,
            actor,
            now,
            expires_at=request.expires_at.isoformat(),
            before_deadline=now < request.expires_at,
            missing_roles=dict(rules.missing_roles(request)),
        )
        return expired


def current_evidence(gov: Governance, request: ApprovalRequest) -> dict[str, str]:
    """The five evidence facts recomputed from the registry and policy as they are now."""
    policy = gov.policy
    with gov.store.read() as tx:
        return current_evidence_in(tx, policy, request)


def current_evidence_in(
    tx: Transaction, policy: Policy, request: ApprovalRequest
) -> dict[str, str]:
    """current_evidence inside an open transaction, so a promotion can act on what it read."""
    found = tx.registry.get_version(request.model_name, request.version)
    card = tx.cards.latest(found.id)
    run_id = request.evidence.get("evaluation_run_id", "")
    run = tx.evaluation.find_run(run_id)
    return {
        "artifact_digest": found.artifact_digest or "",
        "card_hash": card.card_hash if card else "",
        "evaluation_run_id": run.id if run else "",
        "policy_version": policy.version,
        "target_stage": request.target_stage.value,
    }

"""Opening approval requests, recording decisions and refusals, expiry, and current evidence."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from governance.bootstrap import Governance
from governance.domain import approvals as rules
from governance.domain.approvals import ApprovalRequest, RequestStatus
from governance.domain.cards import ModelCard, card_hash, require_complete
from governance.domain.errors import (
    ApprovalError,
    GovernanceError,
    IdentityError,
    InvalidDecision,
    InvalidInput,
    OpenRequestExists,
    RequestClosed,
)
from governance.domain.identity import VerifiedActor, canonical_name
from governance.domain.models import (
    LifecycleStage,
    ModelVersion,
    RiskLevel,
    check_transition,
    payload_digest,
)
from governance.domain.policy import Policy
from governance.services import identity, llm_evaluation
from governance.store.approvals import RefusedAttempt, StoredRequest
from governance.store.cards import CardRevision
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
    requester: VerifiedActor,
    evaluation_run_id: str,
    now: datetime,
    flow_run_id: str | None = None,
    timeout_seconds: float | None = None,
) -> ApprovalRequest:
    """Open a request to move a version to `target`, bound to its evidence as of `now`.

    `timeout_seconds` may shorten (never lengthen) the policy's approval timeout.
    """
    target = as_stage(target)
    policy = gov.policy
    with gov.store.write() as tx:
        registered = tx.registry.get_model(model)
        found = tx.registry.get_version(model, version)
        _check_run(tx, evaluation_run_id, found)
        check_transition(found, target, now)
        refuse_second_request(tx, found.id, found.ref, target)
        card = tx.cards.latest(found.id)
        risk, kind = registered.risk_level, registered.kind
        require_complete(card.card if card else ModelCard(), target, risk, kind)
        deadline = None if timeout_seconds is None else now + timedelta(seconds=timeout_seconds)
        return record_request(
            tx,
            policy,
            found=found,
            risk=registered.risk_level,
            card=card,
            requester=requester,
            target=target,
            evaluation_run_id=evaluation_run_id,
            incumbent=incumbent_in(tx, model, version),
            now=now,
            flow_run_id=flow_run_id,
            deadline=deadline,
        )


def record_request(
    tx: Transaction,
    policy: Policy,
    *,
    found: ModelVersion,
    risk: RiskLevel,
    card: CardRevision | None,
    requester: VerifiedActor,
    target: LifecycleStage,
    evaluation_run_id: str,
    incumbent: str,
    now: datetime,
    kind: rules.RequestKind = "promotion",
    flow_run_id: str | None = None,
    deadline: datetime | None = None,
    **details: Any,
) -> ApprovalRequest:
    """Build, store and audit a new request for `found` inside the caller's transaction.

    `deadline` may bring the policy's expiry forward, never push it back.
    """
    request = rules.open_request(
        id=str(uuid.uuid4()),
        model_name=found.model_name,
        version=found.version,
        target_stage=target,
        risk=risk,
        requested_by=requester.name,
        version_created_by=canonical_name(found.created_by),
        artifact_digest=payload_digest(found),
        card_hash=stored_card_hash(card),
        evaluation_run_id=evaluation_run_id,
        incumbent_version=incumbent,
        policy=policy,
        now=now,
        kind=kind,
        flow_run_id=flow_run_id,
    )
    if deadline is not None and deadline < request.expires_at:
        request = request.model_copy(update={"expires_at": deadline})
    linked = not llm_evaluation.is_llm(found)
    tx.approvals.add_request(request, version_id=found.id, evaluation_run=linked)
    if kind == "promotion":
        details["flow_run_id"] = flow_run_id
    audit_request_event(
        tx,
        "approval.requested",
        request,
        requester.name,
        now,
        kind=kind,
        required=dict(request.required),
        evidence=dict(request.evidence),
        expires_at=request.expires_at.isoformat(),
        requester_verified=requester.verified,
        **details,
    )
    return request


def refuse_second_request(tx: Transaction, version_id: int, ref: str, target: str) -> None:
    """OpenRequestExists naming the open request and its run, if one is open already."""
    existing = tx.approvals.open_for(version_id, str(target), "promotion")
    if existing is not None:
        run = f" (flow run {existing.flow_run_id})" if existing.flow_run_id else ""
        raise OpenRequestExists(
            f"{ref} already has an open promotion request {existing.id} to "
            f"{existing.target_stage.value}{run}: approve, reject or let it expire first"
        )


def incumbent_in(tx: Transaction, model: str, version: str) -> str:
    """The version now in production (other than this one), or NO_INCUMBENT."""
    current = [v for v in tx.registry.versions_in_stage(model, LifecycleStage.production)]
    others = [v.version for v in current if v.version != version]
    return others[0] if others else rules.NO_INCUMBENT


def stored_card_hash(card: CardRevision | None) -> str:
    """The card hash recomputed from the stored card, not the hash stored beside it."""
    return card_hash(card.card) if card else ""


def _check_run(tx: Transaction, run_id: str, found: ModelVersion) -> None:
    """Refuse a run of another version, or one whose gate failed."""
    if llm_evaluation.is_llm(found):
        llm_evaluation.require_passed_in(tx, run_id, found)
        return
    model, version = found.model_name, found.version
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
    for label, value in (("role", role), ("decision", decision)):
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


def decide(
    gov: Governance,
    *,
    request_id: str,
    approver: str,
    role: str,
    decision: str,
    notes: str = "",
    code: str = "",
    now: datetime,
) -> ApprovalRequest:
    """Record a decision backed by the approver's one-time code; a refusal is recorded, then raised.

    The rules are checked before the code, so a refused attempt does not spend a valid code.
    """
    policy = gov.policy
    canonical_name(approver)  # a malformed name is bad input: refused, and nothing recorded
    asked = {"approver": approver, "role": role, "decision": decision, "notes": notes}
    refusal: GovernanceError | None = None
    with gov.store.write() as tx:
        stored = tx.approvals.get(request_id)
        request = stored.request
        try:
            _check(stored, approver=approver, role=role, decision=decision, policy=policy, now=now)
            actor = identity.verify_code_in(tx, policy, approver, code, now=now)
        except (ApprovalError, IdentityError, InvalidInput) as exc:
            refusal = exc
            _record_refusal(tx, request, asked, exc, now)
        else:
            asked["approver"] = actor.name
            request = _record_decision(tx, request, asked, policy, now, actor.verified)
    # Raised after the block so the refusal and its audit event are committed first.
    if refusal is not None:
        raise refusal
    return request


def refuse_malformed(
    gov: Governance, request_id: str, asked: dict[str, str], exc: InvalidInput, now: datetime
) -> None:
    """Record an answer refused as malformed, so a flow waiting on it moves to its next round."""
    with gov.store.write() as tx:
        _record_refusal(tx, tx.approvals.get(request_id).request, asked, exc, now)


def _printable(value: str) -> str:
    """A refused field as it may be stored: control characters escaped, cut to the column."""
    shown = value if value.isprintable() else repr(value)
    return shown[:_MAX_NAME]


def _record_refusal(
    tx: Transaction,
    request: ApprovalRequest,
    asked: dict[str, str],
    exc: GovernanceError,
    now: datetime,
) -> None:
    shown = {key: _printable(value) for key, value in asked.items() if key != "notes"}
    attempt = RefusedAttempt(
        request_id=request.id,
        **shown,
        notes=asked["notes"],
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
        **shown,
        notes=attempt.notes,
        error=attempt.error,
        reason=attempt.reason,
    )


def _record_decision(
    tx: Transaction,
    request: ApprovalRequest,
    asked: dict[str, str],
    policy: Policy,
    now: datetime,
    verified: bool,
) -> ApprovalRequest:
    updated = rules.decide(request, **asked, policy=policy, now=now, verified=verified)
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
        verified=verified,
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


def current_evidence(gov: Governance, request: ApprovalRequest) -> dict[str, str]:
    """The six evidence facts recomputed from the registry and policy as they are now."""
    policy = gov.policy
    with gov.store.read() as tx:
        return current_evidence_in(tx, policy, request)


def current_evidence_in(
    tx: Transaction, policy: Policy, request: ApprovalRequest
) -> dict[str, str]:
    """current_evidence inside an open transaction, so a promotion can act on what it read."""
    if request.kind == "prompt":
        # Imported here: the prompt promotion service builds on this module.
        from governance.services.prompt_promotion import evidence_in

        return evidence_in(tx, policy, request)
    found = tx.registry.get_version(request.model_name, request.version)
    card = tx.cards.latest(found.id)
    run_id = request.evidence.get("evaluation_run_id", "")
    if llm_evaluation.is_llm(found):
        run = llm_evaluation.evaluation_of_in(tx, run_id, found)
    else:
        run = tx.evaluation.find_run(run_id)
    return {
        "artifact_digest": payload_digest(found),
        "card_hash": stored_card_hash(card),
        "evaluation_run_id": run.id if run else "",
        "incumbent_version": incumbent_in(tx, request.model_name, request.version),
        "policy_version": policy.version,
        "target_stage": request.target_stage.value,
    }

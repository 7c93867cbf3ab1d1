"""Carrying out an approved promotion if its evidence still holds, or voiding it."""

from __future__ import annotations

from datetime import datetime

from governance.bootstrap import Governance
from governance.domain import approvals as rules
from governance.domain import evidence
from governance.domain.approvals import ApprovalRequest, RequestStatus
from governance.domain.errors import (
    ArtifactError,
    EvidenceChanged,
    RequestClosed,
)
from governance.domain.models import ModelVersion
from governance.domain.rollout import ACTIVE_ROLLOUT, RolloutStatus
from governance.services.promotion.evidence import current_evidence_in, digest_or_blank
from governance.services.rollout.production import _transition_in
from governance.services.trust.request_events import audit_request_event
from governance.store.approvals import StoredRequest
from governance.store.unit_of_work import Transaction


def complete_promotion(
    gov: Governance, *, request_id: str, actor: str, now: datetime
) -> ModelVersion:
    """Carry out an approved request; if its evidence moved, void it (committed) and raise."""
    policy = gov.policy
    voided: EvidenceChanged | None = None
    with gov.store.write() as tx:
        stored = tx.approvals.get(request_id)
        request = approved_request(stored)
        current = current_evidence_in(tx, policy, request)
        damaged = _damage(gov, tx, request)
        if damaged:
            # The registered digest still matches the evidence; the bytes on disk do not.
            current = {**current, "artifact_digest": "bytes on disk do not match"}
        try:
            rules.check_evidence(request, digest_or_blank(current), current)
        except EvidenceChanged as exc:
            voided = (
                EvidenceChanged(f"approvals void: artifact_digest changed: {damaged}")
                if damaged
                else exc
            )
            void_in(tx, request, current, actor, now, str(voided))
        else:
            promoted = _promote(gov, tx, request, actor, now)
    # Raised after the block so the void and its audit event are committed first.
    if voided is not None:
        raise voided
    return promoted


def _damage(gov: Governance, tx: Transaction, request: ApprovalRequest) -> str:
    """'' when the artifact bytes still match the registered digest, else why not.

    An LLM version has no artifact file; its config digest is recomputed with the evidence.
    """
    found = tx.registry.get_version(request.model_name, request.version)
    if found.artifact_digest is None:
        return ""
    try:
        gov.artifacts.read_verified(found.artifact_digest)
    except ArtifactError as exc:
        return str(exc)
    return ""


def approved_request(stored: StoredRequest) -> ApprovalRequest:
    """The request if it is approved and not yet carried out, else RequestClosed."""
    request = stored.request
    if stored.completed_at is not None:
        raise RequestClosed(
            f"request {request.id} was already carried out at {stored.completed_at.isoformat()}"
        )
    if request.status != RequestStatus.approved:
        missing = rules.missing_roles(request)
        waiting = f" (still needs {', '.join(missing)})" if missing else ""
        raise RequestClosed(
            f"request {request.id} is {request.status.value}, not approved{waiting}"
        )
    return request


def void_in(
    tx: Transaction,
    request: ApprovalRequest,
    current: dict[str, str],
    actor: str,
    now: datetime,
    reason: str,
) -> None:
    """Mark the request void because its evidence moved, naming the facts that changed."""
    fields = (*evidence.EVIDENCE_FIELDS, evidence.PARAMETERS_FIELD)
    changed = [f for f in fields if current.get(f) != request.evidence.get(f)]
    tx.approvals.set_status(request.id, RequestStatus.void, now)
    audit_request_event(
        tx,
        "approval.voided",
        request,
        actor,
        now,
        changed=changed,
        approved_evidence=dict(request.evidence),
        current_evidence=current,
        reason=reason,
    )


def _promote(
    gov: Governance, tx: Transaction, request: ApprovalRequest, actor: str, now: datetime
) -> ModelVersion:
    promoted = _transition_in(
        tx,
        request.model_name,
        request.version,
        request.target_stage,
        actor=actor,
        now=now,
        reason=f"approval request {request.id}",
        sunset_days=gov.policy.retirement.sunset_days,
    )
    tx.approvals.mark_completed(request.id, now)
    rollout = tx.routing.rollout_for_request(request.id)
    if rollout is not None and rollout.status in ACTIVE_ROLLOUT:
        # Completed with the promotion it carried, so the watchdog never rolls it back.
        rollout.status = RolloutStatus.completed
        rollout.heartbeat_at = now
        tx.routing.save_rollout(rollout)
    approvers = [{"approver": a.approver, "role": a.role} for a in rules.active_approvals(request)]
    audit_request_event(
        tx,
        "model.promoted",
        request,
        actor,
        now,
        evaluation_run_id=request.evidence["evaluation_run_id"],
        approvers=approvers,
    )
    return promoted

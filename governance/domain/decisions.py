"""Decisions on an approval request: the roster, separation of duties, quorum and revocation."""

from __future__ import annotations

from datetime import datetime

from governance.domain.approvals import (
    Approval,
    ApprovalRequest,
    RequestStatus,
    active_approvals,
    missing_roles,
)
from governance.domain.errors import (
    EvidenceChanged,
    InvalidInput,
    NotInRoster,
    RequestClosed,
    RoleNotHeld,
    SeparationOfDuties,
)
from governance.domain.identity import canonical_name
from governance.domain.policy import Policy

_PAST = {"approve": "approved", "reject": "rejected", "revoke": "revoked"}


def _check_open(request: ApprovalRequest, decision: str, now: datetime) -> None:
    """Raise RequestClosed unless the request can take this decision at `now`."""
    # An approved request is not deployed yet, so an approver may still take their approval back.
    if decision == "revoke" and request.status == RequestStatus.approved:
        return
    if request.status != RequestStatus.open:
        raise RequestClosed(f"request {request.id} is {request.status.value}, not open")
    # A retro-review stays open until it is done: the version is already live.
    if now >= request.expires_at and request.kind != "retro_review":
        raise RequestClosed(f"request {request.id} expired at {request.expires_at.isoformat()}")


def check_decision(
    request: ApprovalRequest,
    *,
    approver: str,
    role: str,
    decision: str,
    policy: Policy,
    now: datetime,
) -> None:
    """Raise the ApprovalError (or InvalidInput) that refuses this decision, or return None."""
    if decision not in _PAST:
        raise InvalidInput(f"unknown decision {decision!r}: expected approve, reject or revoke")
    _check_open(request, decision, now)
    # Names compare in their one canonical form, so "Carol " cannot pass for someone else.
    approver = canonical_name(approver)
    if approver not in policy.roster:
        raise NotInRoster(f"{approver} is not in the policy roster")
    if role not in policy.roster[approver]:
        raise RoleNotHeld(f"{approver} does not hold the role {role}")
    if approver == canonical_name(request.requested_by):
        raise SeparationOfDuties(f"{approver} cannot approve their own request")
    if approver == canonical_name(request.version_created_by):
        raise SeparationOfDuties(
            f"{approver} registered this version of {request.model_name} and cannot approve it"
        )
    if role not in request.required:
        raise InvalidInput(f"role {role} is not required for this request")
    _check_own_history(request, approver=approver, role=role, decision=decision)


def _check_own_history(
    request: ApprovalRequest, *, approver: str, role: str, decision: str
) -> None:
    """Refuse a second role for one person, a double approval, and a revoke of nothing."""
    for earlier in request.approvals:
        if earlier.approver == approver and earlier.role != role:
            raise SeparationOfDuties(
                f"{approver} already {_PAST[earlier.decision]} as {earlier.role}; "
                "one person fills at most one role per request"
            )
    holds_approval = any(a.approver == approver for a in active_approvals(request))
    if decision == "approve" and holds_approval:
        raise SeparationOfDuties(f"{approver} already decided: approved as {role}")
    if decision == "revoke" and not holds_approval:
        raise InvalidInput(f"{approver} has no approval to revoke on request {request.id}")


def apply_decision(request: ApprovalRequest, approval: Approval) -> ApprovalRequest:
    """A new request with the decision appended and its status recomputed."""
    _check_open(request, approval.decision, approval.decided_at)
    if approval.evidence_digest != request.evidence_digest:
        raise EvidenceChanged(
            f"decision by {approval.approver} was made on evidence {approval.evidence_digest[:12]}"
            f", but request {request.id} is bound to {request.evidence_digest[:12]}"
        )
    updated = request.model_copy(update={"approvals": [*request.approvals, approval]})
    return updated.model_copy(update={"status": _status_of(updated)})


def _status_of(request: ApprovalRequest) -> RequestStatus:
    """Status from the decisions alone: any reject wins, then quorum, else still open."""
    if any(approval.decision == "reject" for approval in request.approvals):
        return RequestStatus.rejected
    return RequestStatus.open if missing_roles(request) else RequestStatus.approved


def decide(
    request: ApprovalRequest,
    *,
    approver: str,
    role: str,
    decision: str,
    notes: str = "",
    policy: Policy,
    now: datetime,
    verified: bool = True,
) -> ApprovalRequest:
    """Check a decision and, if allowed, apply it: the one call the services need."""
    check_decision(request, approver=approver, role=role, decision=decision, policy=policy, now=now)
    approval = Approval(
        approver=canonical_name(approver),
        role=role,  # type: ignore[arg-type]  # checked against the roster above
        decision=decision,  # type: ignore[arg-type]
        notes=notes,
        evidence_digest=request.evidence_digest,
        policy_version=policy.version,
        decided_at=now,
        verified=verified,
    )
    return apply_decision(request, approval)

"""Recording approvers' decisions, each backed by a one-time code; refusals are recorded too."""

from __future__ import annotations

from datetime import datetime

from governance.bootstrap import Governance
from governance.domain import approvals as rules
from governance.domain import decisions as domain_decisions
from governance.domain.approvals import ApprovalRequest, RequestStatus
from governance.domain.errors import (
    ApprovalError,
    GovernanceError,
    IdentityError,
    InvalidDecision,
    InvalidInput,
    RequestClosed,
)
from governance.domain.identity import canonical_name
from governance.domain.policy import Policy
from governance.services.promotion import retro_review
from governance.services.trust import identity
from governance.services.trust.request_events import audit_request_event
from governance.store.approvals import RefusedAttempt, StoredRequest
from governance.store.unit_of_work import Transaction

# Names are stored in 128-character columns; a longer one is bad input, not a refusal.
_MAX_NAME = 128


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
        domain_decisions.check_decision(
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
            if request.kind == "retro_review" and request.status == RequestStatus.rejected:
                # The rejection's consequence commits with it, or neither does.
                retro_review.on_rejection_in(tx, gov, request, actor, now)
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
    updated = domain_decisions.decide(request, **asked, policy=policy, now=now, verified=verified)
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

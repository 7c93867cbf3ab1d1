"""The life of approval requests after they open: rounds, expiry, cancellation, retro-reviews."""

from __future__ import annotations

from datetime import datetime

from governance.bootstrap import Governance
from governance.domain import approvals as rules
from governance.domain.approvals import ApprovalRequest, RequestStatus
from governance.domain.errors import RequestClosed
from governance.services.promotion.approval_requests import pending_requests
from governance.services.trust.request_events import audit_request_event
from governance.store.approvals import StoredRequest
from governance.store.unit_of_work import Transaction


def expire_request(
    gov: Governance, request_id: str, now: datetime, *, actor: str = "system"
) -> ApprovalRequest:
    """Close an open request as expired (the wait for approvals ran out); audited."""
    with gov.store.write() as tx:
        return _expire_in(tx, tx.approvals.get(request_id).request, now, actor)


def _expire_in(
    tx: Transaction, request: ApprovalRequest, now: datetime, actor: str
) -> ApprovalRequest:
    if request.status != RequestStatus.open:
        raise RequestClosed(f"request {request.id} is {request.status.value}, not open")
    expired = request.model_copy(update={"status": RequestStatus.expired})
    tx.approvals.set_status(request.id, RequestStatus.expired, now, "approvals not given in time")
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


# Requests that wait on a flow run and expire with it. A break-glass retro-review never
# expires: the version is already in production, so it stays listed until people decide.
EXPIRING_KINDS = frozenset({"promotion", "prompt", "retirement"})


def expire_overdue(
    gov: Governance, now: datetime, *, actor: str = "system"
) -> list[ApprovalRequest]:
    """Expire every open model, prompt or retirement request past its deadline; no live
    process is needed."""
    with gov.store.write() as tx:
        overdue = [
            r
            for r in tx.approvals.with_status(RequestStatus.open)
            if now >= r.expires_at and r.kind in EXPIRING_KINDS
        ]
        return [_expire_in(tx, request, now, actor) for request in overdue]


def cancel_request(
    gov: Governance, request_id: str, reason: str, now: datetime, *, actor: str = "system"
) -> ApprovalRequest | None:
    """Close an open request with the reason its run ended; None if it was not open."""
    with gov.store.write() as tx:
        request = tx.approvals.get(request_id).request
        if request.status != RequestStatus.open:
            return None
        tx.approvals.set_status(request_id, RequestStatus.cancelled, now, reason)
        cancelled = request.model_copy(update={"status": RequestStatus.cancelled})
        audit_request_event(tx, "approval.cancelled", cancelled, actor, now, reason=reason)
        return cancelled


def request_for_run(gov: Governance, flow_run_id: str) -> StoredRequest | None:
    """The request a promote-model run opened, if it opened one."""
    with gov.store.read() as tx:
        return tx.approvals.for_flow_run(flow_run_id)


def last_refusal(gov: Governance, request_id: str) -> str:
    """The reason of the request's latest answer if that answer was refused, else ''."""
    with gov.store.read() as tx:
        stored = tx.approvals.get(request_id)
        refused = tx.approvals.refusals(request_id)
    if not refused:
        return ""
    last = refused[-1]
    decided = [a.decided_at for a in stored.request.approvals]
    return last.reason if not decided or last.attempted_at >= max(decided) else ""


def closed_reason(gov: Governance, request_id: str) -> str | None:
    """Why a request was closed, if it was closed with a reason."""
    with gov.store.read() as tx:
        return tx.approvals.closed_reason(request_id)


def open_retro_reviews(gov: Governance) -> list[ApprovalRequest]:
    """Break-glass retro-reviews not yet closed, oldest first: they stay listed until done."""
    return [r for r in pending_requests(gov) if r.kind == "retro_review"]


def find_retro_review(gov: Governance, request_id: str) -> ApprovalRequest | None:
    """The retro-review with this id, or None when the id names something else."""
    with gov.store.read() as tx:
        stored = tx.approvals.find(request_id)
    if stored is None or stored.request.kind != "retro_review":
        return None
    return stored.request


def answers(gov: Governance, request_id: str) -> int:
    """How many answers (decisions and refusals) a request has had: its current round."""
    with gov.store.read() as tx:
        return tx.approvals.answers(request_id)

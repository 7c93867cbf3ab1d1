"""A version's standing for production traffic, read from the registry and its requests."""

from __future__ import annotations

from governance.domain.approvals import RequestStatus, missing_roles
from governance.domain.exposure import Rejection, Standing
from governance.domain.models import ModelVersion
from governance.store.approvals import StoredRequest
from governance.store.unit_of_work import Transaction


def _approved(stored: StoredRequest) -> bool:
    """Whether the production roles approved the request (a rolled-back canary's included)."""
    request = stored.request
    if stored.completed_at is not None or request.status == RequestStatus.approved:
        return True
    rejected = any(a.decision == "reject" for a in request.approvals)
    return request.status == RequestStatus.cancelled and not rejected and not missing_roles(request)


def _rejection(stored: StoredRequest) -> Rejection:
    request = stored.request
    no = [a for a in request.approvals if a.decision == "reject"]
    last = no[-1] if no else None
    return Rejection(
        request_id=request.id,
        approver=last.approver if last else "?",
        role=last.role if last else "?",
        decided_at=last.decided_at if last else request.created_at,
        notes=last.notes if last else "",
    )


def standing_in(tx: Transaction, found: ModelVersion) -> Standing:
    """The version's stage and the latest rejection of its production that still stands."""
    requests = tx.approvals.production_requests(found.model_name, found.version)
    rejection = None
    for stored in requests:
        if stored.request.status == RequestStatus.rejected:
            rejection = _rejection(stored)
        elif rejection is not None and _approved(stored):
            rejection = None  # a later request was approved: the rejection no longer stands
    return Standing(ref=found.ref, stage=found.stage, rejection=rejection)

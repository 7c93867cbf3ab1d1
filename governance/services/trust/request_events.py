"""Audit events about approval requests, which every context that opens or closes one writes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from governance.domain.approvals import ApprovalRequest
from governance.store.unit_of_work import Transaction


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

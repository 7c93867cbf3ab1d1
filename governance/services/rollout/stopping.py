"""Ending a rollout before it completes: its candidate leaves routing and its request closes."""

from __future__ import annotations

from datetime import datetime

from governance.bootstrap import Governance
from governance.domain.approvals import RequestStatus
from governance.domain.rollout import (
    Rollout,
    RolloutStatus,
)
from governance.services.rollout.routing import change_in, updated
from governance.services.trust.request_events import audit_request_event
from governance.store.unit_of_work import Transaction


def rollout_event(tx: Transaction, kind: str, rollout: Rollout, now: datetime, **details) -> None:
    """Append a rollout event naming the rollout, its endpoint and its request."""
    tx.audit.append(
        kind,
        actor="promote-model",
        now=now,
        model=rollout.model_name,
        version=rollout.version,
        details={
            "rollout_id": rollout.id,
            "endpoint": rollout.endpoint,
            "request_id": rollout.request_id,
            **details,
        },
    )


def without_candidate(spec, version: str):
    """`spec` with `version` out of its canary and out of the idle blue/green slot."""
    if spec.canary == version:
        spec = updated(spec, canary=None, canary_weight=0)
    idle = spec.idle_slot()
    if spec.active_slot is not None and spec.slots.get(idle) == version:
        spec = updated(spec, slots={**spec.slots, idle: None})
    return spec


def stop_in(
    tx: Transaction,
    rollout: Rollout,
    now: datetime,
    why: str,
    *,
    kind: str = "rollout.rolled_back",
    actor: str = "promote-model",
    note: bool = True,
) -> Rollout:
    """End an active rollout: its candidate leaves routing, the record ends, the request closes.

    `note` adds `why` to the verdicts (a failed analysis has already recorded its own).
    """
    rollout.status = (
        RolloutStatus.abandoned if kind == "rollout.abandoned" else RolloutStatus.rolled_back
    )
    if note:
        rollout.verdicts.append({"weight": rollout.weight, "verdict": why})
    current = tx.routing.latest_spec(rollout.endpoint)
    if current is not None:
        cleared = without_candidate(current.spec, rollout.version)
        if cleared != current.spec:
            change_in(tx, rollout.endpoint, lambda _: cleared, actor=actor, reason=why, now=now)
    rollout_event(tx, kind, rollout, now, reason=why, weight=rollout.weight, by=actor)
    stored = tx.approvals.get(rollout.request_id)
    if stored.completed_at is None and stored.request.status == RequestStatus.approved:
        tx.approvals.set_status(rollout.request_id, RequestStatus.cancelled, now, why)
        closed = stored.request.model_copy(update={"status": RequestStatus.cancelled})
        audit_request_event(tx, "approval.cancelled", closed, actor, now, reason=why)
    tx.routing.save_rollout(rollout)
    return rollout


def close_request(gov: Governance, request_id: str, why: str, now: datetime) -> None:
    """Close an approved request whose rollout could not start (it stays uncarried out)."""
    with gov.store.write() as tx:
        stored = tx.approvals.get(request_id)
        if stored.completed_at is None and stored.request.status == RequestStatus.approved:
            tx.approvals.set_status(request_id, RequestStatus.cancelled, now, why)
            closed = stored.request.model_copy(update={"status": RequestStatus.cancelled})
            audit_request_event(tx, "approval.cancelled", closed, "promote-model", now, reason=why)


def stop_for_request(gov: Governance, request_id: str, why: str, now: datetime) -> None:
    """End the request's rollout if it is still active (its run ended some other way)."""
    with gov.store.write() as tx:
        found = tx.routing.rollout_for_request(request_id)
        if found is not None and found.status in (RolloutStatus.running, RolloutStatus.holding):
            stop_in(tx, found, now, why)


def supersede_in(tx: Transaction, endpoint: str, version: str, actor: str, now) -> None:
    """A production move to `version` ends any other version's rollout on the endpoint."""
    active = tx.routing.active_rollout(endpoint)
    if active is not None and active.version != version:
        stop_in(tx, active, now, f"superseded by the promotion of {version}", actor=actor)

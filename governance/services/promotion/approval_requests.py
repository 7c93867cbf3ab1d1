"""Opening approval requests: bound to their evidence, at most one open per version and target."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from governance.bootstrap import Governance
from governance.domain import approvals as rules
from governance.domain.approvals import ApprovalRequest, RequestStatus
from governance.domain.cards import ModelCard, require_complete
from governance.domain.errors import (
    InvalidInput,
    OpenRequestExists,
)
from governance.domain.identity import VerifiedActor, canonical_name
from governance.domain.models import (
    LifecycleStage,
    ModelVersion,
    RiskLevel,
    check_transition,
    is_llm,
    payload_digest,
)
from governance.domain.policy import Policy
from governance.services.promotion.evidence import evaluation_digest_in, require_passed_in
from governance.services.registry.cards import stored_card_hash
from governance.services.registry.stages import incumbent_in
from governance.services.trust.request_events import audit_request_event
from governance.store.approvals import RefusedAttempt
from governance.store.cards import CardRevision
from governance.store.unit_of_work import Transaction


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
    run_parameters: dict[str, Any] | None = None,
) -> ApprovalRequest:
    """Open a request to move a version to `target`, bound to its evidence as of `now`.

    `timeout_seconds` may shorten (never lengthen) the policy's approval timeout.
    `run_parameters` are the asking run's parameters: kept, and their digest bound.
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
            run_parameters=run_parameters,
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
    run_parameters: dict[str, Any] | None = None,
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
        evaluation_digest=evaluation_digest_in(tx, evaluation_run_id),
        incumbent_version=incumbent,
        policy=policy,
        now=now,
        kind=kind,
        flow_run_id=flow_run_id,
        run_parameters=run_parameters,
    )
    if deadline is not None and deadline < request.expires_at:
        request = request.model_copy(update={"expires_at": deadline})
    linked = not is_llm(found)
    tx.approvals.add_request(request, version_id=found.id, evaluation_run=linked)
    if kind == "promotion":
        details["flow_run_id"] = flow_run_id
    if run_parameters is not None:
        details["run_parameters"] = run_parameters
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


def _check_run(tx: Transaction, run_id: str, found: ModelVersion) -> None:
    """Refuse a run of another version, or one whose gate failed."""
    if is_llm(found):
        require_passed_in(tx, run_id, found)
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

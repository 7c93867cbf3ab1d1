"""Approval requests: required roles, quorum, expiry and the evidence they are bound to."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from governance.domain.errors import EvidenceChanged, InvalidInput
from governance.domain.evidence import (
    EVIDENCE_FIELDS,
    PARAMETERS_FIELD,
    PROMPT_EVIDENCE_FIELDS,
    digest_of,
    evidence_parts,
    prompt_evidence_parts,
)
from governance.domain.models import LifecycleStage, RiskLevel
from governance.domain.policy import Policy
from governance.domain.policy_sections import Role
from governance.domain.run_parameters import parameters_digest

ApprovalDecision = Literal["approve", "reject", "revoke"]
RequestKind = Literal["promotion", "retro_review", "retirement", "prompt"]
_HIGH_RISK = frozenset({RiskLevel.high, RiskLevel.critical})


class RequestStatus(StrEnum):
    """Where an approval request stands."""

    open = "open"
    approved = "approved"
    rejected = "rejected"
    expired = "expired"
    void = "void"
    # Closed by the flow that owned it, with a reason (a precondition failed, the run ended).
    cancelled = "cancelled"


class Approval(BaseModel):
    """One recorded decision, bound to the evidence digest and policy version it was made on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    approver: str
    role: Role
    decision: ApprovalDecision
    notes: str = ""
    evidence_digest: str
    policy_version: str
    decided_at: datetime
    # False only under `identity: none`: nobody's one-time code stood behind this decision.
    verified: bool = True


class ApprovalRequest(BaseModel):
    """A request to move one version to a stage, and the decisions made on it so far."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    model_name: str
    version: str
    target_stage: LifecycleStage
    requested_by: str
    version_created_by: str
    required: dict[Role, int]
    evidence: dict[str, str]
    evidence_digest: str
    policy_version: str
    status: RequestStatus = RequestStatus.open
    approvals: list[Approval] = Field(default_factory=list)
    created_at: datetime
    expires_at: datetime
    kind: RequestKind = "promotion"
    flow_run_id: str | None = None
    # "totp" when requester and approvers proved who they are, "none" under `identity: none`.
    identity: str = "totp"
    # The parameters of the flow run that asked, as submitted; None for other requests.
    run_parameters: dict[str, Any] | None = None


def required_roles(
    policy: Policy, target_stage: LifecycleStage, risk: RiskLevel
) -> dict[Role, int]:
    """Role -> how many distinct people of that role must approve a move to `target_stage`."""
    rules = policy.approvals
    if target_stage == LifecycleStage.staging:
        roles = rules.staging
    elif target_stage == LifecycleStage.production:
        extra = rules.production_high_risk_extra if risk in _HIGH_RISK else []
        roles = [*rules.production, *extra]
    else:
        raise InvalidInput(
            f"no approval rules for target stage {target_stage.value}: "
            "approvals are defined for staging and production"
        )
    return {role: rules.needed(role) for role in dict.fromkeys(roles)}


def retirement_roles(policy: Policy) -> dict[Role, int]:
    """Role -> how many distinct people of that role must approve retiring a version."""
    rules = policy.approvals
    return {role: rules.needed(role) for role in dict.fromkeys(policy.retirement.roles)}


def open_prompt_request(
    *,
    id: str,
    prompt_id: str,
    version: str,
    requested_by: str,
    version_created_by: str,
    evidence: dict[str, str],
    policy: Policy,
    now: datetime,
    flow_run_id: str | None = None,
) -> ApprovalRequest:
    """A new open request to put a prompt version in production, roles from `prompts.roles`."""
    parts = prompt_evidence_parts(**evidence)
    return ApprovalRequest(
        kind="prompt",
        flow_run_id=flow_run_id,
        identity=policy.identity,
        id=id,
        model_name=prompt_id,
        version=version,
        target_stage=LifecycleStage.production,
        requested_by=requested_by,
        version_created_by=version_created_by,
        required={
            role: policy.approvals.needed(role) for role in dict.fromkeys(policy.prompts.roles)
        },
        evidence=parts,
        evidence_digest=digest_of(parts),
        policy_version=policy.version,
        created_at=now,
        expires_at=now + timedelta(seconds=policy.approval_timeout_seconds),
    )


def open_request(
    *,
    id: str,
    model_name: str,
    version: str,
    target_stage: LifecycleStage,
    risk: RiskLevel,
    requested_by: str,
    version_created_by: str,
    artifact_digest: str,
    card_hash: str,
    evaluation_run_id: str,
    evaluation_digest: str,
    incumbent_version: str,
    policy: Policy,
    now: datetime,
    kind: RequestKind = "promotion",
    flow_run_id: str | None = None,
    run_parameters: dict[str, Any] | None = None,
) -> ApprovalRequest:
    """A new open request whose required roles, evidence and expiry come from the policy.

    `run_parameters` (the asking run's, as submitted) are kept and their digest bound.
    """
    parts = evidence_parts(
        artifact_digest=artifact_digest,
        card_hash=card_hash,
        evaluation_run_id=evaluation_run_id,
        evaluation_digest=evaluation_digest,
        incumbent_version=incumbent_version,
        policy_version=policy.version,
        target_stage=target_stage.value,
        parameters_digest=None if run_parameters is None else parameters_digest(run_parameters),
    )
    return ApprovalRequest(
        kind=kind,
        flow_run_id=flow_run_id,
        run_parameters=run_parameters,
        identity=policy.identity,
        id=id,
        model_name=model_name,
        version=version,
        target_stage=target_stage,
        requested_by=requested_by,
        version_created_by=version_created_by,
        required=(
            retirement_roles(policy)
            if kind == "retirement"
            else required_roles(policy, target_stage, risk)
        ),
        evidence=parts,
        evidence_digest=digest_of(parts),
        policy_version=policy.version,
        created_at=now,
        expires_at=now + timedelta(seconds=policy.approval_timeout_seconds),
    )


def active_approvals(request: ApprovalRequest) -> list[Approval]:
    """The approvals that still count: each approve not later revoked by the same person."""
    active: dict[str, Approval] = {}
    for approval in request.approvals:
        if approval.decision == "approve":
            active[approval.approver] = approval
        elif approval.decision == "revoke":
            active.pop(approval.approver, None)
    return list(active.values())


def missing_roles(request: ApprovalRequest) -> dict[Role, int]:
    """Role -> approvals still needed before the request is approved."""
    counts: dict[str, int] = {}
    for approval in active_approvals(request):
        counts[approval.role] = counts.get(approval.role, 0) + 1
    missing = {role: need - counts.get(role, 0) for role, need in request.required.items()}
    return {role: short for role, short in missing.items() if short > 0}


def expire(request: ApprovalRequest, now: datetime) -> ApprovalRequest:
    """The request marked expired if it is still open at or after its expiry; else unchanged."""
    if request.status == RequestStatus.open and now >= request.expires_at:
        return request.model_copy(update={"status": RequestStatus.expired})
    return request


def void(request: ApprovalRequest) -> ApprovalRequest:
    """The request marked void (its evidence moved) unless it already ended otherwise."""
    if request.status in (RequestStatus.open, RequestStatus.approved):
        return request.model_copy(update={"status": RequestStatus.void})
    return request


def check_evidence(
    request: ApprovalRequest,
    current_digest: str,
    current_parts: Mapping[str, str] | None = None,
    approved_parts: Mapping[str, str] | None = None,
) -> None:
    """Raise EvidenceChanged naming each changed fact if the evidence moved since approval."""
    if current_digest == request.evidence_digest:
        return
    approved = request.evidence if approved_parts is None else approved_parts
    current = current_parts or {}
    fields = (
        PROMPT_EVIDENCE_FIELDS if request.kind == "prompt" else (*EVIDENCE_FIELDS, PARAMETERS_FIELD)
    )
    changed = [name for name in fields if current.get(name) != approved.get(name)]
    if "evaluation_digest" in changed:
        # Name the evaluation whose stored contents no longer match what was approved.
        run = approved.get("evaluation_run_id", "?")
        changed[changed.index("evaluation_digest")] = f"evaluation_digest (evaluation {run})"
    what = ", ".join(changed) if current_parts and changed else "the evidence"
    raise EvidenceChanged(
        f"approvals void: {what} changed since approval "
        f"(approved {request.evidence_digest[:12]}, now {current_digest[:12]})"
    )

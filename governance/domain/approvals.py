"""Approval requests: required roles, separation of duties, quorum and evidence binding."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from governance.domain.errors import (
    EvidenceChanged,
    InvalidInput,
    NotInRoster,
    RequestClosed,
    RoleNotHeld,
    SeparationOfDuties,
)
from governance.domain.identity import canonical_name
from governance.domain.models import LifecycleStage, RiskLevel
from governance.domain.policy import Policy, Role

ApprovalDecision = Literal["approve", "reject", "revoke"]
EVIDENCE_FIELDS: tuple[str, ...] = (
    "artifact_digest",
    "card_hash",
    "evaluation_run_id",
    "incumbent_version",
    "policy_version",
    "target_stage",
)
# What `incumbent_version` holds when nothing is in production yet.
NO_INCUMBENT = "none"
# What a prompt promotion's approvals are bound to: the template text, the suite it passed,
# that evaluation, the production version it replaces, the policy and the target.
PROMPT_EVIDENCE_FIELDS: tuple[str, ...] = (
    "template_digest",
    "suite_digest",
    "evaluation_run_id",
    "incumbent_version",
    "policy_version",
    "target_stage",
)
RequestKind = Literal["promotion", "retro_review", "retirement", "prompt"]
_HIGH_RISK = frozenset({RiskLevel.high, RiskLevel.critical})
_PAST = {"approve": "approved", "reject": "rejected", "revoke": "revoked"}


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


def evidence_parts(
    *,
    artifact_digest: str,
    card_hash: str,
    evaluation_run_id: str,
    incumbent_version: str,
    policy_version: str,
    target_stage: str,
) -> dict[str, str]:
    """The six facts an approval is bound to; raise InvalidInput if any is empty."""
    parts = {
        "artifact_digest": artifact_digest,
        "card_hash": card_hash,
        "evaluation_run_id": evaluation_run_id,
        "incumbent_version": incumbent_version,
        "policy_version": policy_version,
        "target_stage": str(target_stage),
    }
    empty = [name for name, value in parts.items() if not value]
    if empty:
        raise InvalidInput(f"evidence incomplete: {', '.join(empty)} is empty")
    return parts


def evidence_digest(**facts: str) -> str:
    """sha256 hex over the canonical JSON (sorted keys, compact) of the six evidence facts."""
    if "template_digest" in facts:
        return _digest_of(prompt_evidence_parts(**facts))
    return _digest_of(evidence_parts(**facts))


def prompt_evidence_parts(**facts: str) -> dict[str, str]:
    """The six facts a prompt promotion's approvals are bound to; InvalidInput if one is empty."""
    parts = {name: str(facts.get(name) or "") for name in PROMPT_EVIDENCE_FIELDS}
    unknown = sorted(set(facts) - set(PROMPT_EVIDENCE_FIELDS))
    empty = [name for name, value in parts.items() if not value]
    if unknown or empty:
        raise InvalidInput(f"evidence incomplete: {', '.join(empty + unknown)} is empty or unknown")
    return parts


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
        evidence_digest=_digest_of(parts),
        policy_version=policy.version,
        created_at=now,
        expires_at=now + timedelta(seconds=policy.approval_timeout_seconds),
    )


def _digest_of(parts: Mapping[str, str]) -> str:
    """sha256 hex of the canonical JSON of evidence parts."""
    canonical = json.dumps(dict(parts), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


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
    incumbent_version: str,
    policy: Policy,
    now: datetime,
    kind: RequestKind = "promotion",
    flow_run_id: str | None = None,
) -> ApprovalRequest:
    """A new open request whose required roles, evidence and expiry come from the policy."""
    parts = evidence_parts(
        artifact_digest=artifact_digest,
        card_hash=card_hash,
        evaluation_run_id=evaluation_run_id,
        incumbent_version=incumbent_version,
        policy_version=policy.version,
        target_stage=target_stage.value,
    )
    return ApprovalRequest(
        kind=kind,
        flow_run_id=flow_run_id,
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
        evidence_digest=_digest_of(parts),
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
    fields = PROMPT_EVIDENCE_FIELDS if request.kind == "prompt" else EVIDENCE_FIELDS
    changed = [name for name in fields if current.get(name) != approved.get(name)]
    what = ", ".join(changed) if current_parts and changed else "the evidence"
    raise EvidenceChanged(
        f"approvals void: {what} changed since approval "
        f"(approved {request.evidence_digest[:12]}, now {current_digest[:12]})"
    )

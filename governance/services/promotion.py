"""Promotion preconditions, and carrying out an approved move if its evidence still holds."""

from __future__ import annotations

from datetime import datetime

from governance.bootstrap import Governance
from governance.config import require_configured_policy
from governance.domain import approvals as rules
from governance.domain.approvals import ApprovalRequest, RequestStatus
from governance.domain.cards import ModelCard, require_complete
from governance.domain.errors import (
    ArtifactError,
    EvidenceChanged,
    GovernanceError,
    InvalidInput,
    NotInRoster,
    RequestClosed,
    RequesterNotVerified,
)
from governance.domain.identity import VerifiedActor, canonical_name
from governance.domain.models import LifecycleStage, ModelVersion, check_transition
from governance.domain.rollout import ACTIVE_ROLLOUT, RolloutStatus
from governance.services import identity
from governance.services.approvals import (
    as_stage,
    audit_request_event,
    current_evidence_in,
    refuse_second_request,
)
from governance.services.registry import transition_in
from governance.store.approvals import StoredRequest
from governance.store.unit_of_work import Transaction


def check_preconditions(
    gov: Governance,
    *,
    model: str,
    version: str,
    target: LifecycleStage,
    now: datetime,
    own_request: str | None = None,
) -> ModelVersion:
    """Refuse a move the stage machine, the card or the artifact does not allow; write nothing.

    `own_request` is the request this run already holds, which does not count as a second one.
    """
    require_configured_policy(gov.settings)
    target = as_stage(target)
    with gov.store.read() as tx:
        registered = tx.registry.get_model(model)
        found = tx.registry.get_version(model, version)
        check_transition(found, target, now)
        if own_request is None:
            refuse_second_request(tx, found.id, found.ref, target)
        card = tx.cards.latest(found.id)
        risk, kind = registered.risk_level, registered.kind
        require_complete(card.card if card else ModelCard(), target, risk, kind)
    # An LLM version has no artifact: its configuration is a registered, immutable fact.
    if found.artifact_digest is not None:
        gov.artifacts.read_verified(found.artifact_digest)
    return found


def verify_requester(
    gov: Governance,
    *,
    token: str | None,
    requested_by: str,
    model: str,
    version: str,
    target: str,
    flow_run_id: str,
    now: datetime,
    token_model: str | None = None,
    refused_event: str = "promotion.refused",
) -> VerifiedActor:
    """Who asked for this run: the person its request token was minted for (consumed once).

    Under `identity: none` the typed `requested_by` is taken, canonical and from the roster.
    A refusal is audited as `refused_event` before it is raised. `token_model` is the subject
    the token names when it is not `model` (a prompt's, kept apart from a model's name).
    """
    policy = gov.policy
    refusal: GovernanceError | None = None
    with gov.store.write() as tx:
        try:
            if policy.identity == "none":
                name = canonical_name(requested_by)
                if name not in policy.roster:
                    raise NotInRoster(f"requester {name} is not in the policy roster")
                return VerifiedActor(name=name, method="none")
            actor = identity.consume_request_token_in(
                tx,
                token,
                model=token_model or model,
                version=version,
                target=target,
                flow_run_id=flow_run_id,
                now=now,
            )
            if not actor.verified:
                # Minted while the policy said `identity: none`; it says totp now.
                raise RequesterNotVerified(
                    f"requester not verified: {actor.name}'s token was minted without a code"
                )
            return actor
        except GovernanceError as exc:
            refusal = exc
            tx.audit.append(
                refused_event,
                actor="system",
                now=now,
                model=model,
                version=version,
                details={"target_stage": target, "flow_run_id": flow_run_id, "reason": str(exc)},
            )
    raise refusal


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


def digest_or_blank(parts: dict[str, str]) -> str:
    """The evidence digest of `parts`, or '' when a part is missing (so it cannot match)."""
    try:
        return rules.evidence_digest(**parts)
    except InvalidInput:
        return ""


def void_in(
    tx: Transaction,
    request: ApprovalRequest,
    current: dict[str, str],
    actor: str,
    now: datetime,
    reason: str,
) -> None:
    """Mark the request void because its evidence moved, naming the facts that changed."""
    changed = [f for f in rules.EVIDENCE_FIELDS if current.get(f) != request.evidence.get(f)]
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
    promoted = transition_in(
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

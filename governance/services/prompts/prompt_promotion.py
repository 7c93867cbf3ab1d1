"""promote-prompt's steps: preconditions, the gate, the approval request and the pointer move."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from governance.bootstrap import Governance
from governance.config import require_configured_policy
from governance.domain import approvals as rules
from governance.domain import evidence
from governance.domain.approvals import ApprovalRequest
from governance.domain.errors import (
    EvidenceChanged,
    IllegalTransition,
    OpenRequestExists,
)
from governance.domain.identity import VerifiedActor, canonical_name
from governance.domain.prompts import (
    PointerMove,
    PromptEvaluation,
    PromptStatus,
    PromptVersion,
    RegisteredSuite,
)
from governance.llm.targets import TargetConfig
from governance.services.promotion.completion import approved_request, void_in
from governance.services.promotion.evidence import (
    PROMPT_TARGET,
    digest_or_blank,
    prompt_evidence_in,
)
from governance.services.promotion.requester import verify_requester as verify_request_token
from governance.services.prompts import prompt_evaluation, prompt_registry
from governance.services.trust.request_events import audit_request_event
from governance.store.unit_of_work import Transaction


def token_subject(prompt_id: str) -> str:
    """The subject a prompt's request token names, apart from any model of the same name."""
    return f"prompt:{prompt_id}"


def check_preconditions(
    gov: Governance,
    *,
    prompt_id: str,
    version: str,
    suite: str,
    own_request: str | None = None,
) -> tuple[PromptVersion, RegisteredSuite]:
    """The version is in review, the suite is registered, nothing else is under way; no writes."""
    require_configured_policy(gov.settings)
    with gov.store.read() as tx:
        found = tx.prompts.get_version(prompt_id, version)
        suite_row = prompt_evaluation.find_suite_in(tx, suite)
        if found.status != PromptStatus.review:
            raise IllegalTransition(
                f"{found.ref} is {found.status.value}: only a version in review can be "
                "promoted (`governance prompts submit` it first)"
            )
        existing = tx.approvals.open_for_prompt(found.id or 0)
        if existing is not None and existing.id != own_request:
            raise OpenRequestExists(
                f"{found.ref} already has an open promotion request {existing.id}"
            )
        running = tx.prompts.running_rollout(prompt_id)
        if running is not None and running.request_id != own_request:
            raise IllegalTransition(
                f"{prompt_id} has a canary of {running.candidate_version} running; "
                "it must finish or be rolled back first"
            )
    return found, suite_row


def verify_requester(
    gov: Governance, *, token: str | None, requested_by: str, prompt_id: str, version: str,
    flow_run_id: str, now: datetime, run_parameters: dict[str, Any] | None = None,
) -> VerifiedActor:  # fmt: skip
    """The person the run's request token was minted for; audited as refused if not.

    `run_parameters` are the run's now, compared with those the token was minted for.
    """
    return verify_request_token(
        gov, token=token, requested_by=requested_by, model=prompt_id, version=version,
        target=PROMPT_TARGET, flow_run_id=flow_run_id, now=now,
        token_model=token_subject(prompt_id), refused_event="prompt.promotion_refused",
        run_parameters=run_parameters,
    )  # fmt: skip


def evaluate(
    gov: Governance,
    *,
    version: PromptVersion,
    suite_row: RegisteredSuite,
    target: TargetConfig,
    actor: str,
    now: datetime,
    flow_run_id: str | None = None,
) -> PromptEvaluation:
    """Run the suite on the candidate and on production, gate the result, and record it once."""
    if flow_run_id:
        with gov.store.read() as tx:
            done = tx.prompts.evaluation_for_run(flow_run_id)
        if done:
            return prompt_evaluation.load_evaluation(gov, done, version.ref)
    with gov.store.read() as tx:
        held = tx.prompts.production(version.prompt_id)
        baseline = tx.prompts.get_version(version.prompt_id, held.version) if held else None
    candidate_result = prompt_evaluation.run_suite(gov, suite_row, version.template, target)
    baseline_result = (
        prompt_evaluation.run_suite(gov, suite_row, baseline.template, target)
        if baseline is not None
        else None
    )
    decision = prompt_evaluation.gate(gov, candidate_result, baseline_result)
    with gov.store.write() as tx:
        return prompt_evaluation.record_in(
            tx, subject=version.ref, suite_row=suite_row, target=target,
            candidate=candidate_result, baseline=baseline_result,
            baseline_version=baseline.version if baseline else None, decision=decision,
            actor=actor, now=now, flow_run_id=flow_run_id, prompt_version_id=version.id,
            audit_model=(version.prompt_id, version.version),
        )  # fmt: skip


def open_request(
    gov: Governance,
    *,
    version: PromptVersion,
    evaluation: PromptEvaluation,
    requester: VerifiedActor,
    flow_run_id: str,
    now: datetime,
    run_parameters: dict[str, Any] | None = None,
) -> ApprovalRequest:
    """Open (once per run) the request that binds approvals to this template and gate result.

    `run_parameters` (the asking run's, as submitted) are kept with the request.
    """
    policy = gov.policy
    with gov.store.write() as tx:
        stored = tx.approvals.for_flow_run(flow_run_id)
        if stored is not None:
            return stored.request
        held = tx.prompts.production(version.prompt_id)
        request = rules.open_prompt_request(
            id=str(uuid.uuid4()),
            prompt_id=version.prompt_id,
            version=version.version,
            requested_by=requester.name,
            version_created_by=canonical_name(version.created_by),
            evidence={
                "template_digest": version.template_digest,
                "suite_digest": evaluation.suite.digest,
                "evaluation_run_id": evaluation.id,
                "incumbent_version": held.version if held else evidence.NO_INCUMBENT,
                "policy_version": policy.version,
                "target_stage": PROMPT_TARGET,
            },
            policy=policy,
            now=now,
            flow_run_id=flow_run_id,
        ).model_copy(update={"run_parameters": run_parameters})
        tx.approvals.add_request(request, prompt_version_id=version.id)
        audit_request_event(
            tx, "approval.requested", request, requester.name, now, kind="prompt",
            required=dict(request.required), evidence=dict(request.evidence),
            expires_at=request.expires_at.isoformat(), requester_verified=requester.verified,
            flow_run_id=flow_run_id,
            **({} if run_parameters is None else {"run_parameters": run_parameters}),
        )  # fmt: skip
        return request


def recheck_in(tx: Transaction, gov: Governance, request: ApprovalRequest, actor: str, now):
    """Void the request (committed by the caller) if its evidence moved; return the error."""
    current = prompt_evidence_in(tx, gov.policy, request)
    try:
        rules.check_evidence(request, digest_or_blank(current), current)
    except EvidenceChanged as exc:
        void_in(tx, request, current, actor, now, str(exc))
        return exc
    return None


def complete(gov: Governance, *, request_id: str, actor: str, now: datetime) -> PointerMove:
    """Carry out an approved request: the version is approved and the pointer moves to it."""
    voided: EvidenceChanged | None = None
    with gov.store.write() as tx:
        request = approved_request(tx.approvals.get(request_id))
        voided = recheck_in(tx, gov, request, actor, now)
        if voided is None:
            return complete_in(tx, request, actor, now)
    raise voided


def complete_in(tx: Transaction, request: ApprovalRequest, actor: str, now: datetime):
    """The approved version's status and the pointer move, with the request marked done."""
    found = tx.prompts.get_version(request.model_name, request.version)
    if found.status == PromptStatus.review:
        tx.prompts.set_status(found.prompt_id, found.version, PromptStatus.approved, now)
    tx.approvals.mark_completed(request.id, now)
    approvers = [{"approver": a.approver, "role": a.role} for a in rules.active_approvals(request)]
    return prompt_registry.move_pointer_in(
        tx, found, kind="promotion", actor=actor, now=now,
        reason=f"approval request {request.id}", request_id=request.id, approvers=approvers,
    )  # fmt: skip

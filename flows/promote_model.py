"""promote-model: requester check, preconditions, evaluation gate, approvals, promotion.

The one door to staging and production. Waits on people suspend the run (no process is
held); after each resume the flow runs again from the top and finds its evaluation run and
approval request again instead of making new ones. An LLM version's gate runs the prompt
suite `dataset` names against its configured provider (services/prompts/llm_evaluation.py).
Every refusal ends the run in a state an automation can match: Promoted, PreconditionFailed,
GateFailed, Rejected, Expired, Voided.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.states import Completed, Failed, State

from flows import run_parameters
from flows.approval import request_approval, spend_unread_answers
from flows.promotion_forms import approval_form, artifact_key, summary_artifact
from flows.rollout_steps import run_strategy
from governance.bootstrap import Governance, open_governance
from governance.domain.approvals import ApprovalRequest, RequestStatus
from governance.domain.errors import (
    ApprovalError,
    EvidenceChanged,
    GovernanceError,
    IdentityError,
    ParametersChanged,
)
from governance.domain.gate_report import gate_report_markdown
from governance.domain.identity import VerifiedActor
from governance.domain.models import LifecycleStage, ModelVersion, is_llm
from governance.domain.prompt_gate import prompt_gate_markdown
from governance.domain.run_parameters import check_unchanged
from governance.services.monitoring import references
from governance.services.promotion import (
    approval_queue,
    approval_requests,
    completion,
    evaluation,
    preconditions,
)
from governance.services.promotion import requester as promotion_requester
from governance.services.promotion.evaluation import EvaluationRun
from governance.services.prompts import llm_evaluation
from governance.services.prompts.llm_evaluation import LlmGateRun
from governance.services.registry import versions
from governance.services.rollout import stopping, strategies

# Evaluation run ids derive from the flow run id, so a re-executed run finds its own.
_EVALUATION_IDS = uuid.UUID("8d5c1f0e-4a57-4f3e-9d39-5b0c6f1e2a77")
_ENDED = {
    RequestStatus.rejected: "Rejected",
    RequestStatus.expired: "Expired",
    RequestStatus.void: "Voided",
    RequestStatus.cancelled: "PreconditionFailed",
}


def _now() -> datetime:
    return datetime.now(UTC)


@task(name="check-preconditions", cache_policy=NO_CACHE)
def check_preconditions(
    gov: Governance, plan: Plan, own_request: str | None = None
) -> tuple[ModelVersion, str | None]:
    """What `governance promote` checks, again: the version may move to the target, its card
    is complete, its artifact intact, the strategy fits. The version and rollout endpoint."""
    return preconditions.check_submission(
        gov,
        model=plan.model,
        version=plan.version,
        target=plan.target,
        strategy=plan.strategy,
        endpoint=plan.endpoint,
        now=_now(),
        own_request=own_request,
    )


@task(name="evaluation-gate", cache_policy=NO_CACHE)
def evaluation_gate(
    gov: Governance, model: str, version: str, dataset: str, actor: str, run_id: str
) -> EvaluationRun:
    """Evaluate on the dataset against production and the policy; publish the gate report."""
    run = evaluation.evaluate(
        gov, model=model, version=version, dataset=dataset, actor=actor, now=_now(), run_id=run_id
    )
    create_markdown_artifact(
        gate_report_markdown(run.decision, run.result),
        key=artifact_key("gate", model, version),
        description=f"Evaluation gate for {model}@{version}: {run.decision.summary()}",
    )
    if run.decision.passed:
        # The data it passed on becomes the version's drift reference (once; a reference
        # stored earlier, e.g. with `monitoring reference --set`, is kept).
        found = versions.resolve(gov, f"{model}@{version}")
        references.reference_from_dataset(
            gov, found=found, dataset=dataset, actor=actor, now=_now()
        )
    return run


@task(name="llm-evaluation-gate", cache_policy=NO_CACHE)
def llm_evaluation_gate(
    gov: Governance, model: str, version: str, suite: str, actor: str, run_id: str
) -> LlmGateRun:
    """Run an LLM version's prompt suite on its provider and gate it; publish the gate report."""
    run = llm_evaluation.evaluate(
        gov, model=model, version=version, suite=suite, actor=actor, now=_now(), flow_run_id=run_id
    )
    create_markdown_artifact(
        prompt_gate_markdown(run.decision, run.candidate, run.production),
        key=artifact_key("gate", model, version),
        description=f"Prompt gate for {model}@{version}: {run.decision.summary()}",
    )
    return run


@task(name="promote-and-archive", cache_policy=NO_CACHE)
def promote_and_archive(gov: Governance, request_id: str, actor: str) -> ModelVersion:
    """Re-check the evidence, then promote and archive the incumbent in one transaction."""
    gov.reload_policy()
    return completion.complete_promotion(gov, request_id=request_id, actor=actor, now=_now())


@flow(name="promote-model", persist_result=True)
def promote_model(
    model: str,
    version: str,
    dataset: str,
    request_token: str = "",
    requested_by: str = "",
    target: Literal["staging", "production"] = "production",
    strategy: Literal["direct", "canary", "blue_green"] = "direct",
    endpoint: str | None = None,
    approval_timeout_seconds: float | None = None,
) -> State:
    """Gate, approve and promote one version; ends Promoted or in a named failure state.

    `request_token` comes from `governance promote` (the verified requester); a run started
    any other way ends PreconditionFailed. `requested_by` counts only under `identity: none`.
    """
    gov = open_governance()
    run_id = str(FlowRunContext.get().flow_run.id)
    # Read back from the API: someone may have changed them while the run was suspended.
    submitted = run_parameters.current(promote_model)
    try:
        requester = promotion_requester.verify_requester(
            gov,
            token=request_token,
            requested_by=requested_by,
            model=model,
            version=version,
            target=target,
            flow_run_id=run_id,
            now=_now(),
            run_parameters=submitted,
        )
    except ParametersChanged as exc:
        try:
            return _close(gov, run_id, exc)
        finally:
            gov.close()
    except GovernanceError as exc:
        gov.close()
        message = str(exc)
        if isinstance(exc, IdentityError | ApprovalError) and not message.startswith("requester"):
            message = f"requester not verified: {message}"
        return Failed(name="PreconditionFailed", message=message)
    try:
        plan = Plan(model, version, dataset, target, strategy, endpoint, approval_timeout_seconds)
        return _promote(gov, run_id, requester, plan, submitted)
    except GovernanceError as exc:
        return _close(gov, run_id, exc)
    finally:
        gov.close()


def _close(gov: Governance, run_id: str, exc: GovernanceError) -> State:
    """End in a named state and close this run's request, so nothing is left open."""
    name = "Voided" if isinstance(exc, EvidenceChanged) else "PreconditionFailed"
    # The resume that brought the run here may carry a code it will now never record.
    spend_unread_answers(gov)
    stored = approval_queue.request_for_run(gov, run_id)
    if stored is not None:
        approval_queue.cancel_request(gov, stored.request.id, f"{name}: {exc}", _now())
        # A canary or idle slot this run put in routing must not outlive it.
        stopping.stop_for_request(gov, stored.request.id, f"{name}: {exc}", _now())
    return Failed(name=name, message=str(exc))


def _rejection(request: ApprovalRequest) -> str:
    rejected = [a for a in request.approvals if a.decision == "reject"]
    who = "; ".join(f"{a.approver} as {a.role}: {a.notes or 'no notes'}" for a in rejected)
    return f"{request.model_name}@{request.version} rejected by {who}"


def _ended(request: ApprovalRequest, reason: str | None) -> State:
    name = _ENDED[request.status]
    if request.status == RequestStatus.rejected:
        return Failed(name=name, message=_rejection(request))
    message = reason or f"{request.model_name}@{request.version}: request {request.status.value}"
    return Failed(name=name, message=message)


@dataclass(frozen=True)
class Plan:
    """What one promote-model run was asked to do."""

    model: str
    version: str
    dataset: str
    target: str
    strategy: str
    endpoint: str | None
    timeout: float | None


def _promote(
    gov: Governance, run_id: str, requester: VerifiedActor, plan: Plan, submitted: dict
) -> State:
    model, version, target = plan.model, plan.version, plan.target
    stored = approval_queue.request_for_run(gov, run_id)
    if stored is None:
        found, endpoint = check_preconditions(gov, plan)
        run = _gate(gov, found, plan, requester.name, run_id)
        if not run.decision.passed:
            return Failed(name="GateFailed", message=run.decision.summary())
        request = approval_requests.open_approval(
            gov,
            model=model,
            version=version,
            target=LifecycleStage(target),
            requester=requester,
            evaluation_run_id=run.id,
            now=_now(),
            flow_run_id=run_id,
            timeout_seconds=plan.timeout,
            run_parameters=submitted,
        )
        get_run_logger().info("approval request %s needs %s", request.id, dict(request.required))
    else:
        request = stored.request
        if stored.completed_at is not None:
            return Completed(name="Promoted", message=f"{model}@{version} is now {target}")
        if request.run_parameters is not None:
            # Every resume: the parameters must still be those the approvals are for.
            check_unchanged(request.run_parameters, submitted, "the request was made")
        if request.status == RequestStatus.open:
            check_preconditions(gov, plan, own_request=request.id)
        else:
            strategies.check_strategy_shape(gov, model, plan.strategy, plan.endpoint, target)
        endpoint = plan.endpoint
        run = _stored_run(gov, request)
    request = request_approval(gov, request, approval_form(gov, run))
    if request.status != RequestStatus.approved:
        return _ended(request, approval_queue.closed_reason(gov, request.id))
    if plan.strategy != "direct":
        ended = run_strategy(
            gov,
            request,
            strategy=plan.strategy,
            endpoint=endpoint,
            dataset=plan.dataset,
            flow_run_id=run_id,
        )
        if ended is not None:
            return ended
    try:
        promoted = promote_and_archive(gov, request.id, requester.name)
    except EvidenceChanged as exc:
        stopping.stop_for_request(gov, request.id, f"Voided: {exc}", _now())
        return Failed(name="Voided", message=str(exc))
    summary_artifact(request, promoted, run)
    return Completed(name="Promoted", message=f"{promoted.ref} is now {target}")


def _gate(
    gov: Governance, found: ModelVersion, plan: Plan, actor: str, run_id: str
) -> EvaluationRun | LlmGateRun:
    """The gate of the version's kind: a dataset for scikit-learn, a prompt suite for an LLM."""
    if is_llm(found):
        return llm_evaluation_gate(gov, plan.model, plan.version, plan.dataset, actor, run_id)
    eval_id = str(uuid.uuid5(_EVALUATION_IDS, run_id))
    return evaluation_gate(gov, plan.model, plan.version, plan.dataset, actor, eval_id)


def _stored_run(gov: Governance, request: ApprovalRequest) -> EvaluationRun | LlmGateRun:
    """The evaluation a re-executed run's request is bound to, found again by the version's kind."""
    found = versions.resolve(gov, f"{request.model_name}@{request.version}")
    run_id = request.evidence["evaluation_run_id"]
    if is_llm(found):
        return llm_evaluation.get_run(gov, found.model_name, found.version, run_id)
    return evaluation.get_run(gov, run_id)

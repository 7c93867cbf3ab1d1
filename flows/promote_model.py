"""promote-model: preconditions, evaluation gate, approvals paused in Prefect, promotion.

Terminal states carry names an automation can match: Promoted, GateFailed, Rejected,
Expired, Voided (evidence changed after approval).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Literal

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.states import Completed, Failed, State

from flows.approval import request_approval
from governance.bootstrap import Governance, open_governance
from governance.domain.approvals import ApprovalRequest, RequestStatus, active_approvals
from governance.domain.errors import EvidenceChanged
from governance.domain.evaluation import gate_report_markdown
from governance.domain.models import LifecycleStage, ModelVersion
from governance.reports.approval_form import approval_form_markdown
from governance.services import approvals, evaluation, promotion, registry
from governance.services.evaluation import EvaluationRun


def _now() -> datetime:
    return datetime.now(UTC)


def artifact_key(*parts: str) -> str:
    """Prefect artifact keys allow only lower-case letters, digits and dashes."""
    return re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")


@task(name="check-preconditions", cache_policy=NO_CACHE)
def check_preconditions(gov: Governance, model: str, version: str, target: str) -> ModelVersion:
    """The version exists, may move to the target, has a complete card and an intact artifact."""
    return promotion.check_preconditions(
        gov, model=model, version=version, target=LifecycleStage(target), now=_now()
    )


@task(name="evaluation-gate", cache_policy=NO_CACHE)
def evaluation_gate(
    gov: Governance, model: str, version: str, dataset: str, actor: str
) -> EvaluationRun:
    """Evaluate on the dataset against production and the policy; publish the gate report."""
    run = evaluation.evaluate(
        gov, model=model, version=version, dataset=dataset, actor=actor, now=_now()
    )
    create_markdown_artifact(
        gate_report_markdown(run.decision, run.result),
        key=artifact_key("gate", model, version),
        description=f"Evaluation gate for {model}@{version}: {run.decision.summary()}",
    )
    return run


@task(name="promote-and-archive", cache_policy=NO_CACHE)
def promote_and_archive(gov: Governance, request_id: str, actor: str) -> ModelVersion:
    """Re-check the evidence, then promote and archive the incumbent in one transaction."""
    gov.reload_policy()
    return promotion.complete_promotion(gov, request_id=request_id, actor=actor, now=_now())


def _form(gov: Governance, run: EvaluationRun):
    view = registry.show(gov, f"{run.model}@{run.version}")

    def render(request: ApprovalRequest, refusal: str) -> str:
        return approval_form_markdown(
            request, view.model, view.card.card, run.decision, run.result, refusal=refusal
        )

    return render


def _summary(request: ApprovalRequest, promoted: ModelVersion, run: EvaluationRun) -> None:
    approved = active_approvals(request)
    rows = [
        {"fact": "version", "value": promoted.ref},
        {"fact": "stage", "value": request.target_stage.value},
        {"fact": "evaluation", "value": f"{run.id} ({run.decision.summary()})"},
        {"fact": "evidence digest", "value": request.evidence_digest},
        {"fact": "requested by", "value": request.requested_by},
        *({"fact": f"approved as {a.role}", "value": a.approver} for a in approved),
    ]
    create_table_artifact(
        rows,
        key=artifact_key("promotion", promoted.model_name, promoted.version),
        description=f"{promoted.ref} promoted to {request.target_stage.value}",
    )


@flow(name="promote-model")
def promote_model(
    model: str,
    version: str,
    dataset: str,
    requested_by: str,
    target: Literal["staging", "production"] = "production",
    strategy: Literal["direct"] = "direct",
    approval_timeout_seconds: float | None = None,
) -> State:
    """Gate, approve and promote one model version; ends Promoted or in a named failure."""
    gov = open_governance()
    try:
        return _promote(
            gov, model, version, dataset, requested_by, target, approval_timeout_seconds
        )
    finally:
        gov.close()


def _rejection(request: ApprovalRequest) -> str:
    rejected = [a for a in request.approvals if a.decision == "reject"]
    who = "; ".join(f"{a.approver} as {a.role}: {a.notes or 'no notes'}" for a in rejected)
    return f"{request.model_name}@{request.version} rejected by {who}"


def _promote(gov, model, version, dataset, requested_by, target, timeout) -> State:
    logger = get_run_logger()
    check_preconditions(gov, model, version, target)
    run = evaluation_gate(gov, model, version, dataset, requested_by)
    if not run.decision.passed:
        return Failed(name="GateFailed", message=run.decision.summary())
    request = approvals.open_approval(
        gov,
        model=model,
        version=version,
        target=LifecycleStage(target),
        requested_by=requested_by,
        evaluation_run_id=run.id,
        now=_now(),
    )
    logger.info("approval request %s needs %s", request.id, dict(request.required))
    request = request_approval(
        gov,
        request,
        _form(gov, run),
        poll_seconds=gov.pause_poll_seconds,
        timeout_seconds=timeout,
    )
    if request.status == RequestStatus.rejected:
        return Failed(name="Rejected", message=_rejection(request))
    if request.status != RequestStatus.approved:
        return Failed(name="Expired", message=f"{model}@{version}: approvals not given in time")
    try:
        promoted = promote_and_archive(gov, request.id, requested_by)
    except EvidenceChanged as exc:
        return Failed(name="Voided", message=str(exc))
    _summary(request, promoted, run)
    return Completed(name="Promoted", message=f"{promoted.ref} is now {target}")

"""What promote-model shows people: the approval form of a request, and the summary of a
promotion once it is done."""

from __future__ import annotations

import re

from prefect.artifacts import create_table_artifact

from governance.bootstrap import Governance
from governance.domain.approvals import ApprovalRequest, active_approvals
from governance.domain.models import ModelVersion
from governance.reports.approval_form import approval_form_markdown
from governance.reports.llm_form import llm_form_markdown
from governance.services.promotion.evaluation import EvaluationRun
from governance.services.prompts.llm_evaluation import LlmGateRun
from governance.services.registry import versions


def artifact_key(*parts: str) -> str:
    """Prefect artifact keys allow only lower-case letters, digits and dashes."""
    return re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")


def approval_form(gov: Governance, run: EvaluationRun | LlmGateRun):
    """The form renderer for a request on this evaluation: the gate's evidence and the card."""
    view = versions.show(gov, f"{run.model}@{run.version}")
    if isinstance(run, LlmGateRun):
        return _llm_form(view, run)

    def render(request: ApprovalRequest, refusal: str) -> str:
        return approval_form_markdown(
            request, view.model, view.card.card, run.decision, run.result, refusal=refusal
        )

    return render


def _llm_form(view: versions.VersionView, run: LlmGateRun):
    gate = (run.decision, run.candidate, run.production)
    config = view.version.llm_config or {}

    def render(request: ApprovalRequest, refusal: str) -> str:
        return llm_form_markdown(
            request, view.model, view.card.card, config, gate, suite=run.suite.ref, refusal=refusal
        )

    return render


def summary_artifact(
    request: ApprovalRequest, promoted: ModelVersion, run: EvaluationRun | LlmGateRun
) -> None:
    """The promotion's summary table artifact: version, evidence, who approved."""
    approved = active_approvals(request)
    rows = [
        {"fact": "version", "value": promoted.ref},
        {"fact": "stage", "value": request.target_stage.value},
        {"fact": "evaluation", "value": f"{run.id} ({run.decision.summary()})"},
        {"fact": "evidence digest", "value": request.evidence_digest},
        {"fact": "requested by", "value": request.requested_by},
        {"fact": "identities", "value": request.identity},
        *({"fact": f"approved as {a.role}", "value": a.approver} for a in approved),
    ]
    create_table_artifact(
        rows,
        key=artifact_key("promotion", promoted.model_name, promoted.version),
        description=f"{promoted.ref} promoted to {request.target_stage.value}",
    )

"""The evidence a request is bound to, recomputed from the records as they are now.

Model promotions (scikit-learn or LLM versions), retirement reviews and prompt promotions
all bind their approvals to an evidence digest; promote-model and promote-prompt both
recompute it here before they act, so a change since the approvals voids them.
"""

from __future__ import annotations

from governance.bootstrap import Governance
from governance.domain import evidence as rules
from governance.domain.approvals import ApprovalRequest
from governance.domain.errors import InvalidInput
from governance.domain.models import ModelVersion, is_llm, payload_digest
from governance.domain.policy import Policy
from governance.domain.prompts import PromptEvaluation
from governance.domain.run_parameters import parameters_digest
from governance.services.registry.cards import stored_card_hash
from governance.services.registry.stages import incumbent_in
from governance.store.unit_of_work import Transaction

# A prompt's approvals move its production pointer: the only target a prompt request has.
PROMPT_TARGET = "production"


def current_evidence(gov: Governance, request: ApprovalRequest) -> dict[str, str]:
    """The evidence facts recomputed from the registry and policy as they are now."""
    policy = gov.policy
    with gov.store.read() as tx:
        return current_evidence_in(tx, policy, request)


def current_evidence_in(
    tx: Transaction, policy: Policy, request: ApprovalRequest
) -> dict[str, str]:
    """current_evidence inside an open transaction, so a promotion can act on what it read."""
    if request.kind == "prompt":
        return prompt_evidence_in(tx, policy, request)
    found = tx.registry.get_version(request.model_name, request.version)
    card = tx.cards.latest(found.id)
    run_id = request.evidence.get("evaluation_run_id", "")
    run = evaluation_of_in(tx, run_id, found) if is_llm(found) else tx.evaluation.find_run(run_id)
    parts = {
        "artifact_digest": payload_digest(found),
        "card_hash": stored_card_hash(card),
        "evaluation_run_id": run.id if run else "",
        "evaluation_digest": evaluation_digest_in(tx, run_id),
        "incumbent_version": incumbent_in(tx, request.model_name, request.version),
        "policy_version": policy.version,
        "target_stage": request.target_stage.value,
    }
    if request.run_parameters is not None:
        # As stored with the request: an edit of the stored parameters voids the approvals.
        parts[rules.PARAMETERS_FIELD] = parameters_digest(request.run_parameters)
    return parts


def evaluation_digest_in(tx: Transaction, evaluation_id: str) -> str:
    """What evidence binds an evaluation by: the digest of a scikit-learn evaluation run's
    stored contents (metrics, dataset, gate decision), else the id (`bound_by_id`)."""
    digest = tx.evaluation.find_contents_digest(evaluation_id)
    return digest if digest is not None else rules.bound_by_id(evaluation_id)


def digest_or_blank(parts: dict[str, str]) -> str:
    """The evidence digest of `parts`, or '' when a part is missing (so it cannot match)."""
    try:
        return rules.evidence_digest(**parts)
    except InvalidInput:
        return ""


def prompt_evidence_in(tx: Transaction, policy: Policy, request: ApprovalRequest) -> dict[str, str]:
    """A prompt request's six evidence facts as the registry and policy hold them now."""
    found = tx.prompts.get_version(request.model_name, request.version)
    run_id = request.evidence.get("evaluation_run_id", "")
    evaluation = tx.prompts.find_evaluation(run_id, found.ref)
    held = tx.prompts.production(request.model_name)
    return {
        "template_digest": found.template_digest,
        "suite_digest": evaluation.suite.digest if evaluation else "",
        "evaluation_run_id": evaluation.id if evaluation and evaluation.passed else "",
        "incumbent_version": held.version if held else rules.NO_INCUMBENT,
        "policy_version": policy.version,
        "target_stage": PROMPT_TARGET,
    }


def evaluation_of_in(
    tx: Transaction, evaluation_id: str, found: ModelVersion
) -> PromptEvaluation | None:
    """The evaluation with this id if it ran on `found`, else None."""
    if tx.prompts.evaluated_model_version(evaluation_id) != found.id:
        return None
    return tx.prompts.find_evaluation(evaluation_id, found.ref)


def require_passed_in(tx: Transaction, evaluation_id: str, found: ModelVersion) -> PromptEvaluation:
    """The version's evaluation with this id if it passed, else InvalidInput saying why not."""
    evaluation = evaluation_of_in(tx, evaluation_id, found)
    if evaluation is None:
        raise InvalidInput(
            f"evaluation {evaluation_id} is not a prompt-suite evaluation of {found.ref}"
        )
    if not evaluation.passed:
        raise InvalidInput(
            f"evaluation {evaluation_id} did not pass the prompt gate; "
            "approvals are asked for only after a passed gate"
        )
    return evaluation

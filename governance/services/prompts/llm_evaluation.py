"""Evaluating an LLM model version: its prompt suite on its configured provider, then the gate.

promote-model's `dataset` names a registered prompt suite for an LLM version. The version's
system prompt is the production template of the prompt its config names (`prompt`), else
its config's `system_prompt`, else a minimal default. The gate is the policy's prompt gate
held also to the card's hallucination rate and p95 latency, with the model's production LLM
version, run on the same suite, as the regression baseline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from governance.bootstrap import Governance
from governance.domain.errors import InvalidInput, PromptNotFound
from governance.domain.models import LifecycleStage, ModelVersion, is_llm
from governance.domain.prompt_gate import PromptGateDecision
from governance.domain.prompt_suites import SuiteResult
from governance.domain.prompts import PromptEvaluation, RegisteredSuite
from governance.llm.targets import target_from_llm_config
from governance.services.promotion import preconditions
from governance.services.promotion.evidence import evaluation_of_in
from governance.services.prompts import prompt_evaluation, prompt_registry
from governance.store.cards import CardRevision
from governance.store.unit_of_work import Transaction

DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant."


@dataclass(frozen=True)
class LlmGateRun:
    """A stored LLM evaluation read the way promote-model reads a scikit-learn one."""

    id: str
    model: str
    version: str
    suite: RegisteredSuite
    decision: PromptGateDecision
    candidate: SuiteResult
    production: SuiteResult | None
    baseline_version: str | None


def refuse_rollout(version: ModelVersion, strategy: str) -> None:
    """InvalidInput for an LLM version unless `strategy` is direct (the gateway serves sklearn)."""
    preconditions.refuse_rollout(version, strategy)


def template_for(gov: Governance, version: ModelVersion) -> str:
    """The system prompt a version runs with: its named prompt's production template, or text."""
    config = version.llm_config or {}
    prompt_id = config.get("prompt")
    if prompt_id is not None:
        if not isinstance(prompt_id, str) or not prompt_id.strip():
            raise InvalidInput(
                f"{version.ref}: config prompt must be a prompt id, got {prompt_id!r}"
            )
        try:
            return prompt_registry.resolve(gov, f"{prompt_id}@production").template
        except PromptNotFound as exc:
            raise PromptNotFound(
                f"{version.ref}'s config names prompt {prompt_id}: {exc}"
            ) from None
    system = config.get("system_prompt")
    if system is not None and not isinstance(system, str):
        raise InvalidInput(f"{version.ref}: config system_prompt must be text")
    return system or DEFAULT_SYSTEM_PROMPT


def evaluate(
    gov: Governance,
    *,
    model: str,
    version: str,
    suite: str,
    actor: str,
    now: datetime,
    flow_run_id: str | None = None,
) -> LlmGateRun:
    """Run the suite on the version and on production's LLM version, gate it, record it once.

    With `flow_run_id` the call is idempotent: the evaluation that run recorded is returned.
    """
    if flow_run_id:
        with gov.store.read() as tx:
            done = tx.prompts.evaluation_for_run(flow_run_id)
        if done:
            return get_run(gov, model, version, done)
    with gov.store.read() as tx:
        found, suite_row, card, baseline = _inputs_in(tx, model, version, suite)
    candidate = _run(gov, suite_row, found)
    production = _run(gov, suite_row, baseline) if baseline else None
    decision = prompt_evaluation.gate(
        gov,
        candidate,
        production,
        card_hallucination_rate=card.card.hallucination_rate if card else None,
        card_latency_p95_ms=card.card.latency_p95_ms if card else None,
    )
    with gov.store.write() as tx:
        stored = prompt_evaluation.record_in(
            tx, subject=found.ref, suite_row=suite_row, target=_target(found),
            candidate=candidate, baseline=production,
            baseline_version=baseline.version if baseline else None, decision=decision,
            actor=actor, now=now, flow_run_id=flow_run_id, model_version_id=found.id,
            audit_model=(model, version),
        )  # fmt: skip
    return _as_run(found, stored)


def _inputs_in(
    tx: Transaction, model: str, version: str, suite: str
) -> tuple[ModelVersion, RegisteredSuite, CardRevision | None, ModelVersion | None]:
    """The version (an LLM one), its suite, its card, and production's LLM version if any."""
    found = tx.registry.get_version(model, version)
    if not is_llm(found):
        raise InvalidInput(f"{found.ref} is not an LLM version: it is evaluated on a dataset")
    suite_row = prompt_evaluation.find_suite_in(tx, suite)
    held = tx.registry.versions_in_stage(model, LifecycleStage.production)
    baseline = next((v for v in held if v.version != version and is_llm(v)), None)
    return found, suite_row, tx.cards.latest(found.id), baseline


def _target(version: ModelVersion):
    return target_from_llm_config(version.llm_config or {})


def _run(gov: Governance, suite_row: RegisteredSuite, version: ModelVersion) -> SuiteResult:
    """The suite's result for one version: its template, against its own provider."""
    return prompt_evaluation.run_suite(gov, suite_row, template_for(gov, version), _target(version))


def _as_run(found: ModelVersion, stored: PromptEvaluation) -> LlmGateRun:
    candidate, production = prompt_evaluation.results_of(stored)
    return LlmGateRun(
        id=stored.id,
        model=found.model_name,
        version=found.version,
        suite=stored.suite,
        decision=PromptGateDecision.model_validate(stored.decision),
        candidate=candidate,
        production=production,
        baseline_version=stored.baseline_version,
    )


def get_run(gov: Governance, model: str, version: str, evaluation_id: str) -> LlmGateRun:
    """A stored evaluation of this LLM version, or NotFound (also when it is another's)."""
    with gov.store.read() as tx:
        found = tx.registry.get_version(model, version)
        stored = evaluation_of_in(tx, evaluation_id, found)
    if stored is None:
        raise PromptNotFound(f"no prompt-suite evaluation {evaluation_id!r} of {found.ref}")
    return _as_run(found, stored)

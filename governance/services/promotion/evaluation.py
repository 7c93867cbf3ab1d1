"""Registering evaluation datasets and evaluating versions against the policy's gate."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from governance.bootstrap import Governance
from governance.domain.cards import declared_groups
from governance.domain.errors import InvalidInput
from governance.domain.evaluation import EvaluationResult, decide_gate
from governance.domain.gate_policy import GateSubject
from governance.domain.models import LifecycleStage, ModelVersion, RegisteredModel
from governance.domain.policy import gate_policy_for
from governance.services.registry.cards import stored_card_hash
from governance.store.cards import CardRevision
from governance.store.evaluation import EvaluationDataset, EvaluationRun, contents_digest

if TYPE_CHECKING:
    import pandas as pd


def _metrics():
    """The scikit-learn adapter, imported on first use: a flow that only reads runs skips it."""
    from governance.ml import metrics

    return metrics


def evaluate(
    gov: Governance,
    *,
    model: str,
    version: str,
    dataset: str,
    actor: str,
    now: datetime,
    run_id: str | None = None,
) -> EvaluationRun:
    """Score a version on a dataset, compare it with production, decide the gate, record it.

    With `run_id` the call is idempotent: a run already recorded under that id is returned,
    so a flow re-executed after a resume does not evaluate twice.
    """
    with gov.store.read() as tx:
        if run_id and (done := tx.evaluation.find_run(run_id)) is not None:
            return done
        candidate = tx.registry.get_version(model, version)
        registered = tx.registry.get_model(model)
        card = tx.cards.latest(candidate.id)
        data = tx.evaluation.get_dataset(dataset)
        incumbents = tx.registry.versions_in_stage(model, LifecycleStage.production)
    frame = _metrics().load_frame(gov.artifacts.read_verified(data.digest), data.format)
    result = _score(gov, candidate, frame, data)
    baseline = next((v for v in incumbents if v.version != version), None)
    if baseline is not None:
        result = _with_baseline(result, baseline, _score(gov, baseline, frame, data))
    policy = gov.policy
    run = EvaluationRun(
        id=run_id or str(uuid.uuid4()),
        model=model,
        version=version,
        dataset=data.name,
        dataset_digest=data.digest,
        result=result,
        decision=decide_gate(result, gate_policy_for(policy, model), _subject(registered, card)),
        policy_version=policy.version,
        created_by=actor,
        created_at=now,
    )
    # Scoring ran outside any transaction so the write lock is held only for the record.
    with gov.store.write() as tx:
        tx.evaluation.add_run(run, version_id=candidate.id, dataset_id=data.id)
        tx.audit.append(
            "model.evaluated",
            actor=actor,
            now=now,
            model=model,
            version=version,
            details=_evaluated_details(run, registered, card),
        )
    return run


def _score(
    gov: Governance, version: ModelVersion, frame: pd.DataFrame, data: EvaluationDataset
) -> EvaluationResult:
    """Load a version's estimator (digest-checked) and evaluate it on the frame."""
    if version.artifact_digest is None:
        raise InvalidInput(
            f"{version.ref} has no artifact (an LLM configuration): it cannot be scored here"
        )
    estimator = gov.artifacts.load_estimator(version.artifact_digest)
    return _metrics().evaluate_estimator(
        estimator,
        frame,
        target=data.target,
        group_columns=data.group_columns,
        dataset_name=data.name,
        dataset_digest=data.digest,
    )


def _with_baseline(
    result: EvaluationResult, baseline: ModelVersion, scored: EvaluationResult
) -> EvaluationResult:
    return result.model_copy(
        update={"baseline": dict(scored.metrics), "baseline_version": baseline.version}
    )


def _subject(model: RegisteredModel, card: CardRevision | None) -> GateSubject:
    """What the gate needs of the model: the registry's risk level, the card's own groups."""
    groups = declared_groups(card.card) if card is not None else None
    return GateSubject(risk_level=model.risk_level, declared_groups=groups)


def _evaluated_details(
    run: EvaluationRun, model: RegisteredModel, card: CardRevision | None
) -> dict[str, Any]:
    # The risk level and card the decision rested on: either may change after the run.
    return {
        "run_id": run.id,
        # Binds the stored contents: `audit verify` and the evidence recompute it from the row.
        "contents_digest": contents_digest(run),
        "dataset": run.dataset,
        "dataset_digest": run.dataset_digest,
        "passed": run.decision.passed,
        "metrics": run.result.metrics,
        "baseline_version": run.result.baseline_version,
        "failures": [{"check": c.name, "reason": c.reason} for c in run.decision.failures],
        "not_applicable": [
            {"check": c.name, "reason": c.reason} for c in run.decision.not_applicable
        ],
        "risk_level": model.risk_level.value,
        "card_hash": stored_card_hash(card),
        "policy_version": run.policy_version,
    }


def get_run(gov: Governance, run_id: str) -> EvaluationRun:
    """The evaluation run with this id, or NotFound."""
    with gov.store.read() as tx:
        return tx.evaluation.get_run(run_id)


def runs_of(gov: Governance, model: str, version: str) -> list[EvaluationRun]:
    """Every evaluation run of a version, oldest first."""
    with gov.store.read() as tx:
        tx.registry.get_version(model, version)
        return tx.evaluation.runs_of(model, version)

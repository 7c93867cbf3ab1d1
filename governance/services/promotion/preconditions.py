"""Promotion preconditions: what must hold before a gate runs or a request opens; no writes."""

from __future__ import annotations

from datetime import datetime

from governance.bootstrap import Governance
from governance.config import require_configured_policy
from governance.domain.cards import ModelCard, require_complete
from governance.domain.errors import InvalidInput
from governance.domain.models import LifecycleStage, ModelVersion, check_transition, is_llm
from governance.services.promotion.approval_requests import as_stage, refuse_second_request
from governance.services.rollout import strategies


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


def check_submission(
    gov: Governance,
    *,
    model: str,
    version: str,
    target: str,
    strategy: str,
    endpoint: str | None,
    now: datetime,
    own_request: str | None = None,
) -> tuple[ModelVersion, str | None]:
    """Everything `governance promote` checks before it starts a run; the version and the
    endpoint the run's rollout will use (None for direct).

    promote-model checks the same on every execution, since its parameters may have been
    changed through the Prefect API. With `own_request` (a run already under way) the
    endpoint's routing is not checked again: the run's own rollout may be in it.
    """
    found = check_preconditions(
        gov, model=model, version=version, target=target, now=now, own_request=own_request
    )
    refuse_rollout(found, strategy)
    target = getattr(target, "value", target)
    if own_request is None:
        return found, strategies.check_strategy(gov, model, version, strategy, endpoint, target)
    return found, strategies.check_strategy_shape(gov, model, strategy, endpoint, target)


def refuse_rollout(version: ModelVersion, strategy: str) -> None:
    """InvalidInput for an LLM version unless `strategy` is direct (the gateway serves sklearn)."""
    if is_llm(version) and strategy != "direct":
        raise InvalidInput(
            f"{version.ref} is an LLM version: it is promoted with strategy direct; "
            f"{strategy} rolls out through the serving gateway, which serves scikit-learn models"
        )

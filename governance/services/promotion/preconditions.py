"""Promotion preconditions: what must hold before a gate runs or a request opens; no writes."""

from __future__ import annotations

from datetime import datetime

from governance.bootstrap import Governance
from governance.config import require_configured_policy
from governance.domain.cards import ModelCard, require_complete
from governance.domain.models import LifecycleStage, ModelVersion, check_transition
from governance.services.promotion.approval_requests import as_stage, refuse_second_request


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

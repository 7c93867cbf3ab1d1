"""Production moves with routing: a version entering production moves its endpoints with it.

Every move into production goes through `_transition_in`, so no promotion commits without its
routing change and no endpoint keeps serving a version the registry has archived. It is
private on purpose: it takes any actor and checks no approval, so only the governed paths
that made their own checks first may import it (promotion's completion, break-glass,
rollback and the retirement review); tests/unit/test_import_graph.py holds that list.
"""

from __future__ import annotations

from datetime import datetime

from governance.domain.models import LifecycleStage, ModelVersion
from governance.domain.rollout import SpecVersion
from governance.services.registry.stages import _move_in
from governance.services.rollout.routing import change_in, promoted_spec
from governance.services.rollout.stopping import supersede_in
from governance.store.unit_of_work import Transaction


def _transition_in(
    tx: Transaction,
    name: str,
    version: str,
    target: LifecycleStage,
    *,
    actor: str,
    now: datetime,
    reason: str = "",
    sunset_days: int = 30,
    routing_reason: str | None = None,
) -> ModelVersion:
    """A stage move inside an open transaction; entering production moves routing with it."""
    moved = _move_in(
        tx, name, version, target, actor=actor, now=now, reason=reason, sunset_days=sunset_days
    )
    if target == LifecycleStage.production:
        # Routing follows production in the same transaction: no endpoint serves a version
        # the registry has archived, and no promotion commits without its routing change.
        why = routing_reason or f"{version} promoted"
        _follow_production(tx, name, version, actor=actor, reason=why, now=now)
    return moved


def _follow_production(
    tx: Transaction, model: str, version: str, *, actor: str, reason: str, now: datetime
) -> list[SpecVersion]:
    """Point every endpoint of `model` at its new production version (same transaction).

    On an endpoint that uses blue/green slots the version moves into its slot (or the idle
    one) and that slot becomes active, so the old slot stays warm for an instant flip back.
    """
    changed = []
    for endpoint in tx.routing.endpoints(model):
        supersede_in(tx, endpoint.name, version, actor, now)
        current = tx.routing.latest_spec(endpoint.name)
        if current is None or current.spec.stable == version:
            continue
        changed.append(
            change_in(
                tx,
                endpoint.name,
                lambda spec: promoted_spec(spec, version),
                actor=actor,
                reason=reason,
                now=now,
            )
        )
    return changed

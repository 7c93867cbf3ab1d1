"""Taking a version out of every endpoint's routing: on a retirement approval or at retirement."""

from __future__ import annotations

from datetime import datetime

from governance.domain.models import LifecycleStage, ModelVersion
from governance.domain.rollout import SpecVersion
from governance.domain.withdrawal import mentions, withdraw
from governance.services import experiments
from governance.services.endpoints import change_in
from governance.store.unit_of_work import Transaction


def successor_in(tx: Transaction, found: ModelVersion) -> str | None:
    """The version that takes over its traffic: the model's production version, if not itself."""
    production = tx.registry.versions_in_stage(found.model_name, LifecycleStage.production)
    others = [v.version for v in production if v.version != found.version]
    return others[0] if others else None


def withdraw_in(
    tx: Transaction, found: ModelVersion, *, actor: str, reason: str, now: datetime
) -> list[SpecVersion]:
    """Remove the version from every spec naming it (traffic, flags, slots, A/B), audited."""
    successor = successor_in(tx, found)
    changed = []
    for endpoint in tx.routing.endpoints(found.model_name):
        current = tx.routing.latest_spec(endpoint.name)
        if current is None or not mentions(current.spec, found.version):
            continue
        ab = current.spec.ab
        if ab is not None and found.version in ab.variants.values():
            experiments.withdraw_in(tx, ab.experiment_id, f"{found.ref} {reason}", actor, now)
            current = tx.routing.latest_spec(endpoint.name)
            if current is None or not mentions(current.spec, found.version):
                continue
        changed.append(
            change_in(
                tx,
                endpoint.name,
                lambda spec: withdraw(spec, found.version, successor),
                actor=actor,
                reason=f"{found.ref} {reason}",
                now=now,
            )
        )
    return changed

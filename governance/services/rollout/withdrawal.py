"""Taking a version out of every endpoint's routing: on a retirement approval, and at its sunset."""

from __future__ import annotations

from datetime import datetime

from governance.bootstrap import Governance
from governance.domain.models import LifecycleStage, ModelVersion
from governance.domain.rollout import SpecVersion
from governance.domain.withdrawal import mentions, withdraw
from governance.services.registry.stages import stage_event
from governance.services.rollout import experiments
from governance.services.rollout.routing import change_in
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


def retire_past_sunset(
    gov: Governance, *, now: datetime, as_of: datetime | None = None
) -> list[ModelVersion]:
    """Retire every deprecated version whose grace period has ended by `as_of`; audited at `now`.

    `as_of` (default `now`) lets a sweep act as if later than it is; its events still carry
    the time they were written, and name the time the rule was read at.
    """
    as_of = as_of or now
    with gov.store.write() as tx:
        due = [
            v
            for v in tx.registry.search(stage=LifecycleStage.deprecated)
            if v.sunset_at is not None and as_of >= v.sunset_at
        ]
        why = {"reason": "sunset passed", **({"as_of": as_of.isoformat()} if as_of != now else {})}
        for version in due:
            tx.registry.set_stage(version.id, LifecycleStage.retired, now, None)
            stage_event(tx, version, LifecycleStage.retired, "system", now, why)
            # A retired version serves nothing: not a flag, not an idle slot, not an A/B arm.
            withdraw_in(tx, version, actor="system", reason="retired: sunset passed", now=now)
        return due

"""Rolling an endpoint back: to its previous spec, or to a deprecated version in its grace."""

from __future__ import annotations

from datetime import datetime

from governance.bootstrap import Governance
from governance.domain.identity import VerifiedActor
from governance.domain.models import LifecycleStage
from governance.domain.rollout import RoutingRefused, RoutingSpec, SpecVersion
from governance.services.rollout.rollback import rollback_in
from governance.services.rollout.rollback_filter import left_out, servable_in
from governance.services.rollout.routing import (
    change_in,
    current_spec_in,
    get_endpoint_in,
    promoted_spec,
    spec_number_in,
    updated,
)
from governance.services.rollout.stopping import stop_in
from governance.services.trust.roles import LEAD_ROLE, require_role
from governance.store.unit_of_work import Transaction


def rollback_endpoint(
    gov: Governance,
    name: str,
    *,
    to: str | None = None,
    actor: VerifiedActor,
    reason: str = "",
    now: datetime,
) -> SpecVersion:
    """Move the endpoint back at once; the registry's production version follows.

    A rollout in flight is always stopped (its candidate leaves routing, its request
    closes); without `to` that is the whole rollback. Otherwise, without `to`, the previous
    spec's stable routing is restored; with `to`, that deprecated version serves.
    """
    require_role(gov, actor, LEAD_ROLE, "endpoint rollback")
    why = (reason or "").strip() or "rollback"
    with gov.store.write() as tx:
        endpoint = get_endpoint_in(tx, name)
        current = current_spec_in(tx, name)
        rollout = tx.routing.active_rollout(name)
        if rollout is not None:
            # Any rollback ends a rollout in flight, so its run cannot promote afterwards.
            stop_in(tx, rollout, now, f"rolled back by {actor.name}: {why}", actor=actor.name)
            current = current_spec_in(tx, name)
            if to is None:
                return current
        target = _previous(tx, name, current) if to is None else promoted_spec(current.spec, to)
        if target.stable is None:
            raise RoutingRefused(f"spec {current.number - 1} of {name!r} serves no version")
        _registry_follows(tx, gov, endpoint.model_name, target.stable, actor, why, now)
        # Stages as they are after the registry followed: what may serve from now on.
        target, dropped = servable_in(tx, endpoint.model_name, target, now)
        latest = current_spec_in(tx, name)
        if latest.spec.digest() == target.digest():
            if dropped:
                # What differs is only what governed acts took out since: nothing to restore.
                raise RoutingRefused(
                    f"endpoint {name!r} has nothing to roll back to: what a rollback would"
                    f" restore differs from spec {latest.number} only in versions that may"
                    f" not serve now{left_out(dropped, lead='')}"
                )
            return latest
        return change_in(
            tx,
            name,
            lambda _: target,
            actor=actor.name,
            reason=f"rollback: {why}" + left_out(dropped),
            now=now,
            details={"dropped": dropped} if dropped else None,
        )


def _previous(tx: Transaction, name: str, current: SpecVersion) -> RoutingSpec:
    if current.number == 1:
        raise RoutingRefused(f"endpoint {name!r} has no previous spec to roll back to")
    previous = spec_number_in(tx, name, current.number - 1)
    # A rollback restores what served stably (stable version, slots, flags), never a canary
    # or an experiment that has since ended: no rollout or experiment would own it again.
    return updated(previous.spec, canary=None, canary_weight=0, ab=None)


def _registry_follows(
    tx: Transaction,
    gov: Governance,
    model: str,
    version: str,
    actor: VerifiedActor,
    reason: str,
    now: datetime,
) -> None:
    """Make `version` the model's production version if it is not (a deprecated one only)."""
    found = tx.registry.get_version(model, version)
    if found.stage == LifecycleStage.production:
        return
    if found.stage != LifecycleStage.deprecated:
        raise RoutingRefused(
            f"{found.ref} is {found.stage.value}: an endpoint rolls back only to a "
            "deprecated version inside its grace period"
        )
    if found.sunset_at is not None and found.sunset_at <= now:
        raise RoutingRefused(
            f"{found.ref} passed its sunset at {found.sunset_at.isoformat()}: rollback refused"
        )
    rollback_in(tx, gov, model=model, version=version, actor=actor, reason=reason, now=now)

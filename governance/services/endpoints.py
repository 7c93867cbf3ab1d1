"""Endpoints and routing changes: each change is a new spec version and an audit event."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from governance.bootstrap import Governance
from governance.domain.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    RoleNotHeld,
)
from governance.domain.identity import VerifiedActor
from governance.domain.models import LifecycleStage
from governance.domain.rollout import (
    Endpoint,
    FlagRule,
    RoutingRefused,
    RoutingSpec,
    SpecVersion,
    check_endpoint_name,
)
from governance.store.unit_of_work import Transaction

LEAD_ROLE = "ml_lead"


class EndpointNotFound(NotFound):
    """No endpoint has this name."""


def require_role(gov: Governance, actor: VerifiedActor, role: str, act: str) -> None:
    """Refuse `act` unless the verified actor holds `role` in the policy roster."""
    if role not in gov.policy.roster.get(actor.name, ()):
        raise RoleNotHeld(f"{actor.name} does not hold the role {role}: {act} refused")


def get_endpoint_in(tx: Transaction, name: str) -> Endpoint:
    """The endpoint, or EndpointNotFound naming it."""
    found = tx.routing.find_endpoint(name)
    if found is None:
        raise EndpointNotFound(
            f"unknown endpoint {name!r}: create it with `governance endpoints create`"
        )
    return found


def create(
    gov: Governance, name: str, *, model: str, actor: VerifiedActor, now: datetime
) -> SpecVersion:
    """Bind a new endpoint to a model; spec 1 serves the model's production version."""
    check_endpoint_name(name)
    if actor.name not in gov.policy.roster:
        raise RoleNotHeld(f"{actor.name} is not in the policy roster: endpoint creation refused")
    with gov.store.write() as tx:
        if tx.routing.find_endpoint(name) is not None:
            raise Conflict(f"endpoint {name!r} already exists")
        tx.registry.get_model(model)
        production = tx.registry.versions_in_stage(model, LifecycleStage.production)
        stable = production[0].version if production else None
        endpoint = Endpoint(
            name=name,
            model_name=model,
            seed=secrets.token_hex(8),
            created_at=now,
            created_by=actor.name,
        )
        tx.routing.insert_endpoint(endpoint)
        tx.audit.append(
            "endpoint.created",
            actor=actor.name,
            now=now,
            model=model,
            version=stable,
            details={"endpoint": name, "verified": actor.verified},
        )
        return write_spec(tx, endpoint, RoutingSpec(stable=stable), actor.name, "created", now)


def write_spec(
    tx: Transaction, endpoint: Endpoint, spec: RoutingSpec, actor: str, reason: str, now: datetime
) -> SpecVersion:
    """Append the next spec version of the endpoint and its `routing.changed` audit event."""
    latest = tx.routing.latest_spec(endpoint.name)
    number = 1 if latest is None else latest.number + 1
    stored = tx.routing.insert_spec(endpoint.name, number, spec, actor, reason, now)
    tx.audit.append(
        "routing.changed",
        actor=actor,
        now=now,
        model=endpoint.model_name,
        version=spec.stable,
        details={
            "endpoint": endpoint.name,
            "spec": number,
            "spec_hash": spec.digest(),
            "versions": spec.versions(),
            "reason": reason,
        },
    )
    return stored


def change_in(
    tx: Transaction,
    name: str,
    change: Callable[[RoutingSpec], RoutingSpec],
    *,
    actor: str,
    reason: str,
    now: datetime,
) -> SpecVersion:
    """Apply `change` to the endpoint's current spec and store the result as the next one."""
    endpoint = get_endpoint_in(tx, name)
    current = tx.routing.latest_spec(name)
    assert current is not None, "every endpoint is created with spec 1"
    try:
        spec = change(current.spec)
    except ValueError as exc:
        # pydantic's ValidationError is a ValueError: the new spec broke an invariant.
        raise RoutingRefused(f"routing change on {name!r} refused: {_first_error(exc)}") from None
    return write_spec(tx, endpoint, spec, actor, reason, now)


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        return str(first.get("ctx", {}).get("error") or first["msg"])
    return str(exc)


def updated(spec: RoutingSpec, **changes) -> RoutingSpec:
    """A copy of `spec` with `changes`, validated again (model_copy alone would not)."""
    return RoutingSpec.model_validate({**spec.model_dump(), **changes})


def follow_production(
    tx: Transaction, model: str, version: str, *, actor: str, reason: str, now: datetime
) -> list[SpecVersion]:
    """Point every endpoint of `model` at its new production version (same transaction).

    On an endpoint that uses blue/green slots the version moves into its slot (or the idle
    one) and that slot becomes active, so the old slot stays warm for an instant flip back.
    """
    # Imported here: the rollout service builds on this module's routing changes.
    from governance.services.rollout import supersede_in

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


def promoted_spec(spec: RoutingSpec, version: str) -> RoutingSpec:
    """`spec` with `version` as the stable version (switching slots when slots are in use)."""
    canary = {} if spec.canary != version else {"canary": None, "canary_weight": 0}
    if spec.active_slot is None and not any(spec.slots.values()):
        return updated(spec, stable=version, **canary)
    held = [slot for slot, held in spec.slots.items() if held == version]
    slot = held[0] if held else spec.idle_slot()
    slots = {**spec.slots, slot: version}
    return updated(spec, stable=version, slots=slots, active_slot=slot, **canary)


def passed_promotion(tx: Transaction, model: str, version: str) -> bool:
    """Whether the version was carried through promote-model to staging or production."""
    return any(
        stored.completed_at is not None
        for stored in tx.approvals.approved_promotions(model, version)
    )


def set_flag(
    gov: Governance, endpoint: str, rule: FlagRule, *, actor: VerifiedActor, now: datetime
) -> SpecVersion:
    """Add or replace a flag rule; its target must have passed at least a staging promotion."""
    require_role(gov, actor, LEAD_ROLE, "setting a flag")
    with gov.store.write() as tx:
        found = get_endpoint_in(tx, endpoint)
        version = tx.registry.get_version(found.model_name, rule.version)
        if not passed_promotion(tx, found.model_name, rule.version):
            raise RoutingRefused(
                f"{version.ref} never passed a promotion to staging or production: "
                "a flag may only target a promoted version"
            )
        if version.stage == LifecycleStage.retired:
            raise RoutingRefused(f"{version.ref} is retired and cannot serve traffic")

        def change(spec: RoutingSpec) -> RoutingSpec:
            kept = [f for f in spec.flags if f.name != rule.name]
            return updated(spec, flags=[*kept, rule])

        return change_in(
            tx, endpoint, change, actor=actor.name, reason=f"flag {rule.name} set", now=now
        )


def clear_flag(
    gov: Governance, endpoint: str, flag: str, *, actor: VerifiedActor, now: datetime
) -> SpecVersion:
    """Remove one flag rule by name."""
    require_role(gov, actor, LEAD_ROLE, "clearing a flag")
    with gov.store.write() as tx:
        current = tx.routing.latest_spec(get_endpoint_in(tx, endpoint).name)
        if current is None or all(f.name != flag for f in current.spec.flags):
            raise InvalidInput(f"endpoint {endpoint!r} has no flag named {flag!r}")

        def change(spec: RoutingSpec) -> RoutingSpec:
            return updated(spec, flags=[f for f in spec.flags if f.name != flag])

        return change_in(
            tx, endpoint, change, actor=actor.name, reason=f"flag {flag} cleared", now=now
        )


@dataclass(frozen=True)
class EndpointView:
    """An endpoint with its current spec."""

    endpoint: Endpoint
    spec: SpecVersion


def show(gov: Governance, name: str) -> EndpointView:
    """The endpoint and its live routing."""
    with gov.store.read() as tx:
        endpoint = get_endpoint_in(tx, name)
        spec = tx.routing.latest_spec(name)
        assert spec is not None
        return EndpointView(endpoint, spec)


def list_endpoints(gov: Governance) -> list[EndpointView]:
    """Every endpoint with its live routing, by name."""
    with gov.store.read() as tx:
        return [
            EndpointView(found, tx.routing.latest_spec(found.name))  # type: ignore[arg-type]
            for found in tx.routing.endpoints()
        ]


def history(gov: Governance, name: str) -> list[SpecVersion]:
    """Every routing spec of the endpoint, oldest first."""
    with gov.store.read() as tx:
        get_endpoint_in(tx, name)
        return tx.routing.history(name)

"""Endpoints: creation, flag rules, and reading the live routing and its history."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from governance.bootstrap import Governance
from governance.domain.errors import (
    Conflict,
    InvalidInput,
    RoleNotHeld,
)
from governance.domain.exposure import check_flag, check_not_rejected
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
from governance.services.rollout.exposure import standing_in
from governance.services.rollout.routing import (
    change_in,
    current_spec_in,
    get_endpoint_in,
    updated,
    write_spec,
)
from governance.services.trust.roles import LEAD_ROLE, require_role
from governance.store.unit_of_work import Transaction


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


def passed_promotion(tx: Transaction, model: str, version: str) -> bool:
    """Whether the version was carried through promote-model to staging or production."""
    return any(
        stored.completed_at is not None
        for stored in tx.approvals.approved_promotions(model, version)
    )


def set_flag(
    gov: Governance, endpoint: str, rule: FlagRule, *, actor: VerifiedActor, now: datetime
) -> SpecVersion:
    """Add or replace a flag rule within what its target's standing allows.

    The target must have passed at least a staging promotion; one not approved for
    production reaches only named users, or a policy-capped share of named orgs; a version
    whose production request was rejected is refused until a later one is approved.
    """
    require_role(gov, actor, LEAD_ROLE, "setting a flag")
    with gov.store.write() as tx:
        found = get_endpoint_in(tx, endpoint)
        version = tx.registry.get_version(found.model_name, rule.version)
        if version.stage == LifecycleStage.retired:
            raise RoutingRefused(f"{version.ref} is retired and cannot serve traffic")
        standing = standing_in(tx, version)
        check_not_rejected(standing, f"flag {rule.name}")  # named first: it is the decision
        if not standing.approved and not passed_promotion(tx, found.model_name, rule.version):
            raise RoutingRefused(
                f"{version.ref} never passed a promotion to staging or production: "
                "a flag may only target a promoted version"
            )
        check_flag(standing, rule, gov.policy.flags.max_unapproved_percentage)

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
        return EndpointView(endpoint, current_spec_in(tx, name))


def list_endpoints(gov: Governance) -> list[EndpointView]:
    """Every endpoint with its live routing, by name."""
    with gov.store.read() as tx:
        return [
            EndpointView(found, current_spec_in(tx, found.name)) for found in tx.routing.endpoints()
        ]


def history(gov: Governance, name: str) -> list[SpecVersion]:
    """Every routing spec of the endpoint, oldest first."""
    with gov.store.read() as tx:
        get_endpoint_in(tx, name)
        return tx.routing.history(name)

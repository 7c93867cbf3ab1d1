"""Routing changes: each is a new spec version of the endpoint and a `routing.changed` event."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from governance.domain.errors import NotFound, StateMismatch
from governance.domain.rollout import (
    Endpoint,
    RoutingRefused,
    RoutingSpec,
    SpecVersion,
)
from governance.domain.withdrawal import NothingToServe
from governance.services.rollout.spec_seals import seal
from governance.store.unit_of_work import Transaction


class EndpointNotFound(NotFound):
    """No endpoint has this name."""


def get_endpoint_in(tx: Transaction, name: str) -> Endpoint:
    """The endpoint, or EndpointNotFound naming it."""
    found = tx.routing.find_endpoint(name)
    if found is None:
        raise EndpointNotFound(
            f"unknown endpoint {name!r}: create it with `governance endpoints create`"
        )
    return found


def current_spec_in(tx: Transaction, name: str) -> SpecVersion:
    """The endpoint's live spec; StateMismatch if it has none (its specs were deleted)."""
    current = tx.routing.latest_spec(name)
    if current is None:
        # Every endpoint is created with spec 1 and specs are only appended, so an endpoint
        # without one was edited behind the trail's back.
        raise StateMismatch(
            f"endpoint {name!r} has no routing spec, but every endpoint is created with spec 1:"
            " the routing table was changed outside the trail (run `governance audit verify`)"
        )
    return current


def spec_number_in(tx: Transaction, name: str, number: int) -> SpecVersion:
    """The endpoint's spec `number`; StateMismatch if it is missing below the live one."""
    found = tx.routing.spec_number(name, number)
    if found is None:
        raise StateMismatch(
            f"endpoint {name!r} has no routing spec {number}, but specs are only appended:"
            " the routing table was changed outside the trail (run `governance audit verify`)"
        )
    return found


def write_spec(
    tx: Transaction,
    endpoint: Endpoint,
    spec: RoutingSpec,
    actor: str,
    reason: str,
    now: datetime,
    details: dict[str, Any] | None = None,
) -> SpecVersion:
    """Append the next spec version of the endpoint, sealed, and its `routing.changed` event."""
    latest = tx.routing.latest_spec(endpoint.name)
    number = 1 if latest is None else latest.number + 1
    mac = seal(tx.keyring, endpoint.name, number, spec.digest())
    stored = tx.routing.insert_spec(endpoint.name, number, spec, actor, reason, now, mac)
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
            **(details or {}),
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
    outage: str = "",
    details: dict[str, Any] | None = None,
) -> SpecVersion:
    """Apply `change` to the endpoint's current spec and store the result as the next one.

    A change that takes away the endpoint's stable version is refused unless `outage`
    names the outage a lead accepted: no act leaves an endpoint with nothing to serve.
    `details` adds facts to its `routing.changed` event (e.g. what a rollback left out).
    """
    endpoint = get_endpoint_in(tx, name)
    current = current_spec_in(tx, name)
    try:
        spec = change(current.spec)
    except ValueError as exc:
        # pydantic's ValidationError is a ValueError: the new spec broke an invariant.
        raise RoutingRefused(f"routing change on {name!r} refused: {_first_error(exc)}") from None
    if current.spec.stable is not None and spec.stable is None and not outage.strip():
        raise NothingToServe(
            f"routing change on {name!r} refused: it would leave the endpoint with no stable "
            f"version (it serves {current.spec.stable}), and no lead named the outage"
        )
    return write_spec(tx, endpoint, spec, actor, reason, now, details)


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        return str(first.get("ctx", {}).get("error") or first["msg"])
    return str(exc)


def updated(spec: RoutingSpec, **changes) -> RoutingSpec:
    """A copy of `spec` with `changes`, validated again (model_copy alone would not)."""
    return RoutingSpec.model_validate({**spec.model_dump(), **changes})


def promoted_spec(spec: RoutingSpec, version: str) -> RoutingSpec:
    """`spec` with `version` as the stable version (switching slots when slots are in use)."""
    canary = {} if spec.canary != version else {"canary": None, "canary_weight": 0}
    if spec.active_slot is None and not any(spec.slots.values()):
        return updated(spec, stable=version, **canary)
    held = [slot for slot, held in spec.slots.items() if held == version]
    slot = held[0] if held else spec.idle_slot()
    slots = {**spec.slots, slot: version}
    return updated(spec, stable=version, slots=slots, active_slot=slot, **canary)

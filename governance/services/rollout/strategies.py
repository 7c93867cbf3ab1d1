"""Rollouts: a promotion's canary or blue/green progress, stored so a re-run resumes it.

promote-model drives a rollout after approvals and before promote-and-archive. Each step
is a routing change plus the Rollout record, written in one transaction; verdicts are
audit events. A failed canary leaves routing at weight 0 and closes the request.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from governance.bootstrap import Governance
from governance.domain.approvals import ApprovalRequest
from governance.domain.errors import Conflict, InvalidInput
from governance.domain.rollout import (
    Rollout,
    RolloutStatus,
    RoutingRefused,
    check_steps,
)
from governance.services.rollout.routing import (
    change_in,
    current_spec_in,
    get_endpoint_in,
    updated,
)
from governance.services.rollout.stopping import rollout_event, stop_in
from governance.store.unit_of_work import Transaction

STRATEGIES = ("direct", "canary", "blue_green")


def pick_endpoint(tx: Transaction, model: str, endpoint: str | None) -> str:
    """The endpoint a rollout runs on: the one named, or the model's only endpoint."""
    if endpoint:
        found = get_endpoint_in(tx, endpoint)
        if found.model_name != model:
            raise InvalidInput(f"endpoint {endpoint!r} serves {found.model_name}, not {model}")
        return endpoint
    bound = tx.routing.endpoints(model)
    if len(bound) != 1:
        names = ", ".join(e.name for e in bound) or "none"
        raise InvalidInput(
            f"{model} has {len(bound)} endpoints ({names}): name one with --endpoint"
        )
    return bound[0].name


def check_strategy(
    gov: Governance, model: str, version: str, strategy: str, endpoint: str | None, target: str
) -> str | None:
    """Refuse a strategy that cannot start; return the endpoint it will run on (or None)."""
    name = check_strategy_shape(gov, model, strategy, endpoint, target)
    if name is None:
        return None
    with gov.store.read() as tx:
        spec = current_spec_in(tx, name)
        active = tx.routing.active_rollout(name)
    _check_routing(name, version, spec.spec, active)
    return name


def check_strategy_shape(
    gov: Governance, model: str, strategy: str, endpoint: str | None, target: str
) -> str | None:
    """The checks that hold for the whole run (not the endpoint's routing at the start):
    a known strategy, a rollout only to production, the model's endpoint. Its endpoint."""
    if strategy not in STRATEGIES:
        raise InvalidInput(f"unknown strategy {strategy!r}: use one of {', '.join(STRATEGIES)}")
    if strategy == "direct":
        return None
    if target != "production":
        raise InvalidInput(f"strategy {strategy} applies to production; staging is direct")
    if strategy == "canary":
        check_steps(gov.policy.canary.steps)
    with gov.store.read() as tx:
        return pick_endpoint(tx, model, endpoint)


def _check_routing(name: str, version: str, spec, active: Rollout | None) -> None:
    """Refuse a rollout the endpoint's routing cannot take now, naming what is in the way."""
    if active is not None and active.version != version:
        raise Conflict(
            f"endpoint {name!r} already has a {active.strategy} rollout of "
            f"{active.model_name}@{active.version} (rollout {active.id}): wait for it or roll back"
        )
    if active is not None:
        raise Conflict(
            f"endpoint {name!r} already has a rollout of {version} (rollout {active.id})"
        )
    if spec.canary is not None:
        raise Conflict(f"endpoint {name!r} already has a canary of {spec.canary}")
    if spec.stable is None:
        raise RoutingRefused(
            f"endpoint {name!r} has no stable version to compare against: promote directly first"
        )
    if spec.ab is not None:
        raise Conflict(f"endpoint {name!r} is running an A/B test: end it first")


def start(
    gov: Governance,
    request: ApprovalRequest,
    *,
    strategy: str,
    endpoint: str | None,
    flow_run_id: str,
    now: datetime,
) -> Rollout:
    """The request's rollout: found again on a re-run, else begun (first routing change)."""
    with gov.store.write() as tx:
        found = tx.routing.rollout_for_request(request.id)
        if found is not None:
            return found
        endpoint = pick_endpoint(tx, request.model_name, endpoint)
        policy = gov.policy
        steps = check_steps(list(policy.canary.steps)) if strategy == "canary" else [100]
        rollout = Rollout(
            id=str(uuid.uuid4()),
            endpoint=endpoint,
            model_name=request.model_name,
            version=request.version,
            strategy=strategy,  # type: ignore[arg-type]
            request_id=request.id,
            flow_run_id=flow_run_id,
            steps=steps,
            bake_seconds=policy.canary.bake_minutes * 60,
            step_started_at=now,
            heartbeat_at=now,
        )
        # Checked again here: approvals may have taken days, and the routing moved meanwhile.
        spec = current_spec_in(tx, endpoint)
        _check_routing(endpoint, request.version, spec.spec, tx.routing.active_rollout(endpoint))
        rollout.replaced = spec.spec.stable
        tx.routing.insert_rollout(rollout, now)
        version = request.version
        if strategy == "canary":
            change = lambda s: updated(s, canary=version, canary_weight=steps[0])  # noqa: E731
            why = f"canary {version} at {steps[0]}%"
        else:
            change = lambda s: _into_idle_slot(s, version)  # noqa: E731
            why = f"blue/green: {version} into the idle slot"
        change_in(tx, endpoint, change, actor="promote-model", reason=why, now=now)
        rollout_event(tx, "rollout.started", rollout, now, steps=steps, strategy=strategy)
        return rollout


def _into_idle_slot(spec, version: str):
    """The spec with `version` in the idle slot; the stable version's slot becomes active."""
    if spec.active_slot is None:
        return updated(spec, slots={"blue": spec.stable, "green": version}, active_slot="blue")
    return updated(spec, slots={**spec.slots, spec.idle_slot(): version})


def current(gov: Governance, rollout_id: str) -> Rollout:
    """The rollout as stored now (a manual rollback may have ended it)."""
    with gov.store.read() as tx:
        return rollout_in(tx, rollout_id)


def rollout_in(tx: Transaction, rollout_id: str) -> Rollout:
    """The rollout as stored in this transaction, or InvalidInput naming the unknown id."""
    found = tx.routing.rollout_by_id(rollout_id)
    if found is None:
        raise InvalidInput(f"unknown rollout {rollout_id!r}")
    return found


def rollouts_of(gov: Governance, endpoint: str) -> list[Rollout]:
    """Every rollout on the endpoint, oldest first (unknown endpoint: EndpointNotFound)."""
    with gov.store.read() as tx:
        get_endpoint_in(tx, endpoint)
        return tx.routing.rollouts_of(endpoint)


def held(gov: Governance) -> list[Rollout]:
    """Canaries suspended for a lead's decision (insufficient data after every extension)."""
    with gov.store.read() as tx:
        return tx.routing.rollouts((RolloutStatus.holding.value,))


def heartbeat(gov: Governance, rollout: Rollout, now: datetime) -> Rollout:
    """Record that the controlling run is alive (the watchdog reads this)."""
    with gov.store.write() as tx:
        stored = rollout_in(tx, rollout.id)
        stored.heartbeat_at = now
        tx.routing.save_rollout(stored)
        return stored


def window(gov: Governance, rollout: Rollout, now: datetime) -> tuple[list, list]:
    """(canary, stable) observations logged since the current step began."""
    with gov.store.read() as tx:
        seen = tx.predictions.observations(rollout.endpoint, rollout.step_started_at, now)
    canary = [o for o in seen if o.variant == "canary" and o.version == rollout.version]
    stable = [o for o in seen if o.variant in ("stable", "blue", "green")]
    return canary, stable


def record_verdict(gov: Governance, rollout: Rollout, rows: list[dict], verdict: str, now):
    """Audit a step's verdict; pass advances, insufficient extends or holds, fail rolls back."""
    with gov.store.write() as tx:
        stored = rollout_in(tx, rollout.id)
        if stored.status not in (RolloutStatus.running, RolloutStatus.holding):
            return stored
        stored.verdicts.append({"weight": stored.weight, "verdict": verdict, "metrics": rows})
        stored.heartbeat_at = now
        rollout_event(
            tx, "rollout.verdict", stored, now, weight=stored.weight, verdict=verdict, metrics=rows
        )
        if verdict == "pass":
            _advance(tx, stored, now)
        elif verdict == "fail":
            stop_in(tx, stored, now, f"canary failed at {stored.weight}%", note=False)
        elif stored.extensions < gov.policy.canary.max_extensions:
            stored.extensions += 1
        else:
            stored.status = RolloutStatus.holding
        tx.routing.save_rollout(stored)
        return stored


def _advance(tx: Transaction, rollout: Rollout, now: datetime) -> None:
    """Next weight step (the last step, 100, is promote-and-archive itself)."""
    rollout.step_index += 1
    rollout.step_started_at = now
    rollout.extensions = 0
    rollout.status = RolloutStatus.running
    if rollout.step_index < len(rollout.steps) - 1:
        weight = rollout.weight
        change_in(
            tx,
            rollout.endpoint,
            lambda s: updated(s, canary_weight=weight),
            actor="promote-model",
            reason=f"canary {rollout.version} at {weight}%",
            now=now,
        )


def analysed_steps(rollout: Rollout) -> int:
    """How many looks the plan makes: every step before full traffic (at least one)."""
    return max(1, len(rollout.steps) - 1)


def ready_to_promote(rollout: Rollout) -> bool:
    """Whether every analysed step has passed, so promote-and-archive may go to 100%."""
    return rollout.strategy == "blue_green" or rollout.step_index >= len(rollout.steps) - 1


def decide_hold(gov: Governance, rollout: Rollout, decision: str, person: str, now) -> Rollout:
    """A verified person's answer to a held canary: continue (next step) or roll back."""
    with gov.store.write() as tx:
        stored = rollout_in(tx, rollout.id)
        if stored.status != RolloutStatus.holding:
            return stored  # ended meanwhile (a rollback, the watchdog): nothing to decide
        rollout_event(tx, "rollout.decided", stored, now, decision=decision, by=person)
        if decision == "continue":
            stored.verdicts.append({"weight": stored.weight, "verdict": f"continued by {person}"})
            _advance(tx, stored, now)
        else:
            stop_in(tx, stored, now, f"rolled back by {person}", actor=person)
        stored.heartbeat_at = now
        tx.routing.save_rollout(stored)
        return stored


def refuse_hold(gov: Governance, rollout: Rollout, person: str, reason: str, now) -> None:
    """Record a refused answer to a held canary, so the next ask has a new key."""
    with gov.store.write() as tx:
        stored = rollout_in(tx, rollout.id)
        stored.verdicts.append({"weight": stored.weight, "verdict": f"answer refused: {reason}"})
        rollout_event(tx, "rollout.refused", stored, now, by=person, reason=reason)
        tx.routing.save_rollout(stored)

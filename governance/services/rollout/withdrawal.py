"""Taking a version out of every endpoint's routing: on a retirement approval, and at its sunset."""

from __future__ import annotations

from datetime import datetime

from governance.bootstrap import Governance
from governance.domain.identity import VerifiedActor
from governance.domain.models import LifecycleStage, ModelVersion
from governance.domain.rollout import SpecVersion
from governance.domain.withdrawal import mentions, withdraw
from governance.services.registry.stages import stage_event
from governance.services.rollout import experiments
from governance.services.rollout.routing import change_in
from governance.store.unit_of_work import Transaction

# A lead's acceptance that taking a version out leaves endpoints with nothing to serve.
OUTAGE_ACCEPTED = "endpoint.outage_accepted"


def successor_in(tx: Transaction, found: ModelVersion) -> str | None:
    """The version that takes over its traffic: the model's production version, if not itself."""
    production = tx.registry.versions_in_stage(found.model_name, LifecycleStage.production)
    others = [v.version for v in production if v.version != found.version]
    return others[0] if others else None


def served_as_stable(tx: Transaction, found: ModelVersion) -> list[str]:
    """The endpoints of the version's model whose live spec serves it as the stable version."""
    return [
        endpoint.name
        for endpoint in tx.routing.endpoints(found.model_name)
        if (current := tx.routing.latest_spec(endpoint.name)) is not None
        and current.spec.stable == found.version
    ]


def accept_outage_in(
    tx: Transaction,
    found: ModelVersion,
    endpoints: list[str],
    *,
    actor: VerifiedActor,
    outage: str,
    now: datetime,
) -> None:
    """Record a lead's acceptance that taking the version out leaves `endpoints` empty."""
    tx.audit.append(
        OUTAGE_ACCEPTED,
        actor=actor.name,
        now=now,
        model=found.model_name,
        version=found.version,
        details={"endpoints": endpoints, "outage": outage, "verified": actor.verified},
    )


def accepted_outage(tx: Transaction, found: ModelVersion) -> str:
    """The outage a lead accepted when the version last changed stage, or ''."""
    since = found.stage_changed_at or found.created_at
    events = tx.audit.query(
        model=found.model_name, version=found.version, event_type=OUTAGE_ACCEPTED, since=since
    )
    return str(events[-1].details["outage"]) if events else ""


def withdraw_in(
    tx: Transaction,
    found: ModelVersion,
    *,
    actor: str,
    reason: str,
    now: datetime,
    outage: str = "",
) -> list[SpecVersion]:
    """Remove the version from every spec naming it (traffic, flags, slots, A/B), audited.

    Where it is stable with no successor it stays stable, unless a lead accepted the
    `outage`: no withdrawal leaves an endpoint with nothing to serve on its own.
    """
    successor = successor_in(tx, found)
    keep = not outage.strip()
    why = f"{found.ref} {reason}" + ("" if keep else f" (outage accepted: {outage.strip()})")
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
                lambda spec: withdraw(spec, found.version, successor, keep_stable=keep),
                actor=actor,
                reason=why,
                outage=outage,
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
        retired = []
        for version in due:
            outage = accepted_outage(tx, version)
            if not outage and successor_in(tx, version) is None and served_as_stable(tx, version):
                # Held: retiring it would leave an endpoint with nothing to serve, and no
                # lead accepted that. It serves on until a successor is promoted.
                continue
            tx.registry.set_stage(version.id, LifecycleStage.retired, now, None)
            stage_event(tx, version, LifecycleStage.retired, "system", now, why)
            # A retired version serves nothing: not a flag, not an idle slot, not an A/B arm.
            withdraw_in(
                tx, version, actor="system", reason="retired: sunset passed", now=now, outage=outage
            )
            retired.append(version)
        return retired


def held_past_sunset(gov: Governance, now: datetime) -> list[tuple[ModelVersion, list[str]]]:
    """Deprecated versions past their sunset that the sweep holds: each with its endpoints."""
    with gov.store.read() as tx:
        held = []
        for version in tx.registry.search(stage=LifecycleStage.deprecated):
            if version.sunset_at is None or now < version.sunset_at:
                continue
            alone = [] if successor_in(tx, version) else served_as_stable(tx, version)
            if alone and not accepted_outage(tx, version):
                held.append((version, alone))
        return held

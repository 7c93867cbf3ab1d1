"""Taking a version out of service by hand, without leaving an endpoint with nothing to serve.

A deprecated version keeps serving through its grace period and is withdrawn from routing
when the sweep retires it; where it is an endpoint's stable version with no production
successor, that withdrawal would leave the endpoint answering 503 to every request. So:

- deprecating or retiring a version an endpoint serves as stable, with no successor, needs
  a verified holder of one of the policy's production approval roles;
- the endpoint is only ever emptied when an ml_lead names the outage (`outage`), recorded
  as `endpoint.outage_accepted`; otherwise the version keeps serving past its sunset until
  a successor is promoted (the sweep holds it back, see withdrawal.retire_past_sunset).
"""

from __future__ import annotations

from datetime import datetime

from governance.bootstrap import Governance
from governance.domain.errors import InvalidInput, RoleNotHeld
from governance.domain.identity import VerifiedActor
from governance.domain.models import LifecycleStage, ModelVersion
from governance.domain.withdrawal import NothingToServe
from governance.services.registry.stages import move_out_of_service_in, refuse_governed_stage
from governance.services.rollout.withdrawal import (
    accept_outage_in,
    served_as_stable,
    successor_in,
    withdraw_in,
)
from governance.services.trust.roles import LEAD_ROLE
from governance.store.unit_of_work import Transaction


def transition(
    gov: Governance,
    name: str,
    version: str,
    target: LifecycleStage,
    *,
    actor: VerifiedActor,
    now: datetime,
    reason: str = "",
    outage: str = "",
) -> ModelVersion:
    """Deprecate or retire a version by hand; never into staging or production.

    Staging and production have one door: promote-model (gate + approvals) or a recorded
    break-glass. A move to deprecated needs a reason. A version an endpoint serves as
    stable with no successor needs a production role, and an ml_lead's named `outage` to
    ever leave that endpoint empty.
    """
    refuse_governed_stage(name, version, target)
    if target == LifecycleStage.deprecated and not reason.strip():
        raise InvalidInput(f"{name}@{version}: a move to deprecated needs a reason (--reason)")
    with gov.store.write() as tx:
        found = tx.registry.get_version(name, version)
        alone = _left_alone(tx, found)
        _check_actor(gov, found, target, alone, actor, outage)
        moved = move_out_of_service_in(
            tx,
            name,
            version,
            target,
            actor=actor.name,
            now=now,
            reason=reason,
            sunset_days=gov.policy.retirement.sunset_days,
        )
        if outage.strip():
            accept_outage_in(tx, found, alone, actor=actor, outage=outage.strip(), now=now)
        if target == LifecycleStage.retired and outage.strip():
            # Retired at once: the outage the lead accepted starts now, not at a sunset.
            withdraw_in(tx, found, actor=actor.name, reason="retired", now=now, outage=outage)
        return moved


def _left_alone(tx: Transaction, found: ModelVersion) -> list[str]:
    """Endpoints serving the version as stable that no production successor could take over."""
    if successor_in(tx, found) is not None:
        return []
    return served_as_stable(tx, found)


def _check_actor(
    gov: Governance,
    found: ModelVersion,
    target: LifecycleStage,
    alone: list[str],
    actor: VerifiedActor,
    outage: str,
) -> None:
    """Refuse a move that would put an endpoint's only version in hands the policy denies."""
    held = set(gov.policy.roster.get(actor.name, ()))
    if outage.strip():
        if not alone:
            raise InvalidInput(
                f"--outage: no endpoint would be left without a stable version by moving "
                f"{found.ref}, so there is no outage to accept"
            )
        if LEAD_ROLE not in held:
            raise RoleNotHeld(
                f"{actor.name} does not hold the role {LEAD_ROLE}: only a lead may accept "
                f"the outage of {_names(alone)}"
            )
    if not alone:
        return
    if target == LifecycleStage.retired and not outage.strip():
        raise NothingToServe(
            f"retiring {found.ref} would leave {_names(alone)} with no stable version to serve:"
            " promote a successor first, or an ml_lead may accept the outage (--outage TEXT)"
        )
    roles = gov.policy.approvals.production
    if not held & set(roles):
        raise RoleNotHeld(
            f"{actor.name} holds none of the production roles ({', '.join(roles)}): "
            f"moving {found.ref} to {target.value} refused, since {_names(alone)} serves it "
            "as its stable version and no production version can take over"
        )


def _names(endpoints: list[str]) -> str:
    quoted = ", ".join(repr(name) for name in endpoints)
    return f"endpoint{'s' if len(endpoints) > 1 else ''} {quoted}"


def serving_alone(gov: Governance, found: ModelVersion) -> list[str]:
    """The endpoints that serve the version as stable with no production successor."""
    with gov.store.read() as tx:
        return _left_alone(tx, found)

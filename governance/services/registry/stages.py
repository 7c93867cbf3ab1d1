"""Stage moves of a version, and the production version a move replaces.

`_move_in` changes stages only, checking no approval. A move into production also moves
routing, so it is private: only `rollout.production._transition_in` (which adds the routing
change in the same transaction) imports it. A move out of service by hand goes through
`rollout.continuity.transition`, which knows which endpoints the version serves, and reaches
`_move_in` through `move_out_of_service_in`, which refuses the governed stages.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from governance.domain import evidence as rules
from governance.domain.cards import ModelCard, require_complete
from governance.domain.errors import UseThePromotionDoor
from governance.domain.models import LifecycleStage, ModelVersion, check_transition, sunset_after
from governance.store.unit_of_work import Transaction

GOVERNED_STAGES = frozenset({LifecycleStage.staging, LifecycleStage.production})


def refuse_governed_stage(name: str, version: str, target: LifecycleStage) -> None:
    """UseThePromotionDoor for staging and production: they have one door, promote-model."""
    if target in GOVERNED_STAGES:
        raise UseThePromotionDoor(
            f"{name}@{version}: {target.value} is entered only through promote-model: "
            f"use `governance promote {name} {version} --target {target.value} --dataset NAME`"
        )


def move_out_of_service_in(
    tx: Transaction,
    name: str,
    version: str,
    target: LifecycleStage,
    *,
    actor: str,
    now: datetime,
    reason: str,
    sunset_days: int,
) -> ModelVersion:
    """Deprecate or retire (never into staging or production) in the caller's transaction."""
    refuse_governed_stage(name, version, target)
    return _move_in(
        tx, name, version, target, actor=actor, now=now, reason=reason, sunset_days=sunset_days
    )


def _move_in(
    tx: Transaction,
    name: str,
    version: str,
    target: LifecycleStage,
    *,
    actor: str,
    now: datetime,
    reason: str = "",
    sunset_days: int = 30,
) -> ModelVersion:
    """Move the version's stage (archiving the incumbent on entering production); no routing."""
    model = tx.registry.get_model(name)
    found = tx.registry.get_version(name, version)
    check_transition(found, target, now)
    card = tx.cards.latest(found.id)
    require_complete(card.card if card else ModelCard(), target, model.risk_level)
    if target == LifecycleStage.production:
        for incumbent in tx.registry.versions_in_stage(name, LifecycleStage.production):
            sunset = sunset_after(now, sunset_days)
            tx.registry.set_stage(incumbent.id, LifecycleStage.deprecated, now, sunset)
            stage_event(
                tx,
                incumbent,
                LifecycleStage.deprecated,
                actor,
                now,
                {
                    "reason": f"archived by promotion of {version}",
                    "sunset_at": sunset.isoformat(),
                    "successor": version,
                },
            )
    # A deprecated version keeps its rollback grace period, however it got there.
    sunset = sunset_after(now, sunset_days) if target == LifecycleStage.deprecated else None
    tx.registry.set_stage(found.id, target, now, sunset)
    extra = {"reason": reason, **({"sunset_at": sunset.isoformat()} if sunset else {})}
    stage_event(tx, found, target, actor, now, extra)
    return found.model_copy(update={"stage": target, "stage_changed_at": now, "sunset_at": sunset})


def stage_event(
    tx: Transaction,
    found: ModelVersion,
    target: LifecycleStage,
    actor: str,
    now: datetime,
    extra: dict[str, Any],
) -> None:
    """Append the `model.stage_changed` event of a move."""
    tx.audit.append(
        "model.stage_changed",
        actor=actor,
        now=now,
        model=found.model_name,
        version=found.version,
        details={"from": found.stage.value, "to": target.value, **extra},
    )


def incumbent_in(tx: Transaction, model: str, version: str) -> str:
    """The version now in production (other than this one), or NO_INCUMBENT."""
    current = [v for v in tx.registry.versions_in_stage(model, LifecycleStage.production)]
    others = [v.version for v in current if v.version != version]
    return others[0] if others else rules.NO_INCUMBENT

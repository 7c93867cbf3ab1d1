"""What a rollback may restore: only versions that may serve now.

A rollback restores an earlier spec, and an earlier spec may name versions that governed
acts have since taken out of service: a flag or an idle slot on a version the sweep retired
at its sunset, or one that never left development. Restoring them would undo those acts,
so each such version is left out, by the same withdrawal the sweep applies (flags, slots,
A/B arms), and the rollback names what it left out in its output and its event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from governance.domain.models import LifecycleStage, ModelVersion
from governance.domain.rollout import RoutingSpec
from governance.domain.withdrawal import withdraw
from governance.store.unit_of_work import Transaction


def why_not_serving(found: ModelVersion, now: datetime) -> str:
    """'' if the version may serve now, else why not: retired, development, or past sunset."""
    if found.stage in (LifecycleStage.retired, LifecycleStage.development):
        return f"{found.ref} is {found.stage.value}"
    if found.stage == LifecycleStage.deprecated and found.sunset_at and found.sunset_at <= now:
        return f"{found.ref} passed its sunset at {found.sunset_at.isoformat()}"
    return ""


def places(spec: RoutingSpec, version: str) -> list[str]:
    """Where the spec names `version`, besides its stable version."""
    found = [f"flag {rule.name}" for rule in spec.flags if rule.version == version]
    found += [f"{slot} slot" for slot, held in spec.slots.items() if held == version]
    if spec.ab is not None:
        found += [f"A/B arm {arm}" for arm, held in spec.ab.variants.items() if held == version]
    if spec.canary == version:
        found.append("canary")
    return found


def servable_in(
    tx: Transaction, model: str, spec: RoutingSpec, now: datetime
) -> tuple[RoutingSpec, list[dict[str, Any]]]:
    """`spec` without the versions that may not serve now (its stable one is checked by the
    caller), and for each one left out: the version, why, and where the spec named it."""
    dropped: list[dict[str, Any]] = []
    for version in sorted(spec.versions()):
        if version == spec.stable:
            continue
        why = why_not_serving(tx.registry.get_version(model, version), now)
        if why:
            dropped.append({"version": version, "why": why, "from": places(spec, version)})
            spec = withdraw(spec, version, None)
    return spec, dropped


LEFT_OUT = "; left out of the restored spec because they may not serve now"


def left_out(dropped: list[dict[str, Any]], lead: str = LEFT_OUT) -> str:
    """The rollback reason's suffix naming what was left out ('' when nothing was)."""
    if not dropped:
        return ""
    named = "; ".join(f"{d['why']} ({', '.join(d['from'])})" for d in dropped)
    return f"{lead}: {named}"

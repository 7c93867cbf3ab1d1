"""The rollout watchdog's sweeps: abandoned canaries roll back; old blue/green slots empty."""

from __future__ import annotations

from datetime import datetime, timedelta

from governance.bootstrap import Governance
from governance.domain.rollout import Rollout, RolloutStatus
from governance.services.rollout.routing import change_in, updated
from governance.services.rollout.stopping import stop_in


def abandon_stale(gov: Governance, now: datetime) -> list[Rollout]:
    """Roll back running rollouts whose run has been silent past bake time plus grace."""
    grace = timedelta(minutes=gov.policy.canary.watchdog_grace_minutes)
    ended = []
    with gov.store.write() as tx:
        for rollout in tx.routing.rollouts((RolloutStatus.running.value,)):
            silent_since = rollout.heartbeat_at + timedelta(seconds=rollout.bake_seconds) + grace
            if silent_since < now:
                since = rollout.heartbeat_at.isoformat(timespec="seconds")
                why = f"controlling run {rollout.flow_run_id} silent since {since}"
                stop_in(tx, rollout, now, why, kind="rollout.abandoned", actor="rollout-watchdog")
                ended.append(rollout)
    return ended


def scale_down_idle(gov: Governance, now: datetime) -> list[str]:
    """Empty the idle blue/green slot once the policy's scale-down delay has passed."""
    delay = timedelta(minutes=gov.policy.blue_green.scale_down_delay_minutes)
    emptied = []
    with gov.store.write() as tx:
        for rollout in tx.routing.rollouts((RolloutStatus.completed.value,)):
            if rollout.strategy != "blue_green" or rollout.scaled_down:
                continue
            if rollout.heartbeat_at + delay > now:
                continue
            spec = tx.routing.latest_spec(rollout.endpoint)
            idle = spec.spec.idle_slot() if spec else None
            # Only the version this switch replaced: a later rollout's candidate stays.
            held = spec.spec.slots.get(idle) if spec and idle else None
            if spec is not None and held is not None and held == rollout.replaced:
                change_in(
                    tx,
                    rollout.endpoint,
                    lambda s, idle=idle: updated(s, slots={**s.slots, idle: None}),
                    actor="rollout-watchdog",
                    reason=f"scale down the idle {idle} slot after the switch to {rollout.version}",
                    now=now,
                )
                emptied.append(rollout.endpoint)
            rollout.scaled_down = True
            tx.routing.save_rollout(rollout)
    return emptied

"""Serving steps of a target version's life for bench/_compliance_store.py.

The model's first version gets the model's endpoint; every later one goes to production
through a canary on it. Each step calls the rollout services' own in-transaction functions
(sealed routing specs, the rollout row), whose audit events `Capture` keeps for the chain.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from _compliance_steps import new_uuid

if TYPE_CHECKING:
    from _compliance_store import Target


class ServingSteps:
    """The model's endpoint and each later version's canary on it (rollout/*)."""

    def _endpoint(self, t: Target, _n: int, now: datetime) -> None:
        """What `governance endpoints create` writes: the endpoint, its event, spec 1."""
        from governance.domain.rollout import Endpoint, RoutingSpec
        from governance.services.rollout.routing import write_spec

        endpoint = Endpoint(
            name=t.model,
            model_name=t.model,
            seed=f"{t.model_id:016x}",
            created_at=now,
            created_by="carol",
        )
        self.tx.routing.insert_endpoint(endpoint)
        self.tx.audit.append(
            "endpoint.created",
            actor="carol",
            now=now,
            model=t.model,
            version=t.version,
            details={"endpoint": t.model, "verified": True},
        )
        write_spec(self.tx, endpoint, RoutingSpec(stable=t.version), "carol", "created", now)

    def _rollout_start(self, t: Target, _n: int, now: datetime) -> None:
        """strategies.start's transaction: the rollout, the canary's first weight, its event."""
        from governance.domain.rollout import Rollout
        from governance.services.rollout.routing import change_in, updated
        from governance.services.rollout.stopping import rollout_event

        request, canary = t.state["request"], self.policy.canary
        rollout = Rollout(
            id=new_uuid(self.rng),
            endpoint=t.model,
            model_name=t.model,
            version=t.version,
            strategy="canary",
            request_id=request.id,
            flow_run_id=t.state["flow_run_id"],
            steps=list(canary.steps),
            bake_seconds=canary.bake_minutes * 60,
            step_started_at=now,
            heartbeat_at=now,
            replaced=self.production[t.model].version,
        )
        self.tx.routing.insert_rollout(rollout, now)
        weight = rollout.steps[0]
        change_in(
            self.tx,
            t.model,
            lambda s: updated(s, canary=t.version, canary_weight=weight),
            actor="promote-model",
            reason=f"canary {t.version} at {weight}%",
            now=now,
        )
        rollout_event(
            self.tx, "rollout.started", rollout, now, steps=rollout.steps, strategy="canary"
        )
        t.state["rollout"] = rollout.id

    def _verdict(self, t: Target, _n: int, now: datetime) -> None:
        """strategies.record_verdict on a passing step: the verdict, then the next weight."""
        from governance.services.rollout.stopping import rollout_event
        from governance.services.rollout.strategies import _advance

        stored = self.tx.routing.rollout_by_id(t.state["rollout"])
        rows = [
            {"metric": "error_rate", "canary": 0.004, "stable": 0.005, "verdict": "pass"},
            {"metric": "latency_p95_ms", "canary": 41.0, "stable": 40.2, "verdict": "pass"},
        ]
        stored.verdicts.append({"weight": stored.weight, "verdict": "pass", "metrics": rows})
        stored.heartbeat_at = now
        rollout_event(
            self.tx,
            "rollout.verdict",
            stored,
            now,
            weight=stored.weight,
            verdict="pass",
            metrics=rows,
        )
        _advance(self.tx, stored, now)
        self.tx.routing.save_rollout(stored)

    def _follow(self, t: Target, _n: int, now: datetime) -> None:
        """rollout.production's routing half of a promotion: endpoints serve the version."""
        from governance.services.rollout.production import _follow_production

        reason = f"{t.version} promoted"
        _follow_production(
            self.tx, t.model, t.version, actor="promote-model", reason=reason, now=now
        )

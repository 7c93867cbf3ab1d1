"""A target version's life for bench/_compliance_store.py: the steps, in chain order.

`Life.event` runs one planned step and returns its audit event; the registry's steps
(registration, cards, evaluation, stage changes, promotion, alias) are here, the
others in `_compliance_steps`. Rows are written through the store's repositories on the
populating connection; what is many rows a version is collected and written by `finish`.
"""

from __future__ import annotations

import random
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from _compliance_serving import ServingSteps
from _compliance_steps import (
    ApprovalSteps,
    Capture,
    MonitoringSteps,
    new_digest,
    new_uuid,
    request_details,
    table,
)

if TYPE_CHECKING:
    from _compliance_store import Target

CARD = Path(__file__).resolve().parent.parent / "examples" / "cards" / "churn-classifier.yaml"
DATASET, DATASET_ID = "churn-holdout-2025-01", 2


class Life(ApprovalSteps, ServingSteps, MonitoringSteps):
    """Turns planned steps into events, in chain order, recording the rows they imply."""

    def __init__(self, gov, conn, targets: list[Target], seed: int = 18) -> None:
        from governance.reports.card_yaml import load_card_yaml
        from governance.store.unit_of_work import Transaction

        self.gov, self.policy = gov, gov.policy
        self.tx = Transaction(conn, gov.keyring)
        # The services' own in-transaction functions write routing and rollouts; their audit
        # events are captured here and placed in the chain by the step that called them.
        self.captured: list[tuple] = []
        self.tx.audit = Capture(self.captured)
        self.targets, self.rng = targets, random.Random(seed)
        self.card = load_card_yaml(CARD.read_text())
        self.batches: list[dict] = []
        self.audits: list[dict] = []
        self.tokens: list[dict] = []
        self.production: dict[str, Target] = {}  # model -> its version in production

    def event(self, kind: str, named: Target, acting: Target, n: int, now: datetime) -> tuple:
        """(event_type, model, version, actor, details) of one step of `acting`'s life, its
        rows written; the event must name `named` (setup stops if the plan was wrong)."""
        made = getattr(self, f"_{kind}")(acting, n, now)
        if made is None:  # a service call wrote its events into the capture: the first now
            made = self.captured.pop(0)
        else:
            etype, actor, details = made
            made = (etype, named.model, named.version, actor, details)
        if (made[1], made[2]) != (named.model, named.version):
            raise SystemExit(f"setup: {kind} wrote {made[:3]}, planned for {named.version}")
        named.events += 1
        return made

    def _flush(self, _t: Target, _n: int, _now: datetime) -> None:
        """The second event of the previous step's service call."""

    def _registered(self, t: Target, _n: int, now: datetime):
        from governance.domain.cards import card_hash

        s = t.state
        s["artifact_digest"] = new_digest(self.rng)
        s["hyperparameters"] = dict(self.card.hyperparameters) | {"random_state": t.version_id}
        s["metrics"] = {"accuracy": round(0.9 + t.index / 1000, 4), "auc_roc": 0.874}
        s["card"] = self._card(t, 1)
        version = {"id": t.version_id, "model_id": t.model_id, "version": t.version}
        version |= {"stage": "development", "artifact_uri": f"sha256/{s['artifact_digest']}"}
        version |= {"artifact_digest": s["artifact_digest"], "llm_config": None}
        version |= {"training_data_version": self.card.training_data_version}
        version |= {"training_pipeline": self.card.training_pipeline}
        version |= {"hyperparameters": s["hyperparameters"], "metrics": s["metrics"]}
        version |= {"created_by": "alice", "created_at": now, "stage_changed_at": now}
        self.tx.conn.execute(table("model_versions").insert(), [version])
        s["revision"] = self.tx.cards.add(
            t.version_id, s["card"], card_hash(s["card"]), "alice", now, first=True
        )
        return (
            "model.version_registered",
            "alice",
            {
                "artifact_digest": s["artifact_digest"],
                "llm_config": None,
                "card_hash": s["revision"].card_hash,
                "training_data_version": version["training_data_version"],
                "training_pipeline": version["training_pipeline"],
                "hyperparameters": s["hyperparameters"],
                "metrics": s["metrics"],
                "created_by": "alice",
            },
        )

    def _card(self, t: Target, revision: int):
        """The example card bound to the version; later revisions extend its limitations."""
        extra = [f"Revision {r}: limitation noted in review." for r in range(2, revision + 1)]
        update = {"name": t.model, "version": t.version}
        update["known_limitations"] = [*self.card.known_limitations, *extra]
        return self.card.model_copy(update=update)

    def _card_revised(self, t: Target, n: int, now: datetime):
        from governance.domain.cards import card_hash

        card = self._card(t, n + 1)  # n is 1 and 2 in _LIFE: revisions 2 and 3
        t.state["card"] = card
        t.state["revision"] = self.tx.cards.add(t.version_id, card, card_hash(card), "alice", now)
        revision = t.state["revision"]
        return (
            "model.card_revised",
            "alice",
            {
                "revision": revision.revision,
                "card_hash": revision.card_hash,
            },
        )

    def _evaluated(self, t: Target, _n: int, now: datetime):
        from governance.domain.cards import declared_groups
        from governance.domain.evaluation import EvaluationResult, decide_gate
        from governance.domain.gate_policy import GateSubject
        from governance.domain.models import RiskLevel
        from governance.domain.policy import gate_policy_for
        from governance.services.promotion.evaluation import _evaluated_details
        from governance.store.evaluation import EvaluationRun

        incumbent = self.production.get(t.model)
        metrics = {"accuracy": 0.912, "f1_weighted": 0.905, "auc_roc": 0.874 + t.index / 1000}
        metrics |= {"precision": 0.438, "recall": 0.554}
        groups = {"region": {g: {"accuracy": 0.9 + i / 100} for i, g in enumerate("NESW")}}
        result = EvaluationResult(
            task="classification",
            dataset_name=DATASET,
            dataset_digest=self.dataset_digest,
            n_rows=78412,
            metrics=metrics,
            per_group=groups,
            fairness_gap={"region": 0.03},
            latency_p95_ms=3.4,
            baseline=incumbent.state["run"].result.metrics if incumbent else None,
            baseline_version=incumbent.version if incumbent else None,
        )
        card = t.state["card"]
        subject = GateSubject(risk_level=RiskLevel.high, declared_groups=declared_groups(card))
        run = EvaluationRun(
            id=new_uuid(self.rng),
            model=t.model,
            version=t.version,
            dataset=DATASET,
            dataset_digest=self.dataset_digest,
            result=result,
            decision=decide_gate(result, gate_policy_for(self.policy, t.model), subject),
            policy_version=self.policy.version,
            created_by="alice",
            created_at=now,
        )
        self.tx.evaluation.add_run(run, version_id=t.version_id, dataset_id=DATASET_ID)
        t.state["run"] = run
        model = self.tx.registry.get_model(t.model)
        return "model.evaluated", "alice", _evaluated_details(run, model, t.state["revision"])

    def _stage(self, t: Target, _n: int, now: datetime):
        request = t.state["request"]
        before = t.state.get("stage", "development")
        target = request.target_stage.value
        t.state["stage"], t.state["stage_changed_at"] = target, now
        if target == "production":
            self.production[t.model] = t
        return (
            "model.stage_changed",
            "promote-model",
            {
                "from": before,
                "to": target,
                "reason": f"approval request {request.id}",
            },
        )

    def _archived(self, t: Target, _n: int, now: datetime):
        from governance.domain.models import sunset_after

        incumbent = self.production[t.model]
        sunset = sunset_after(now, self.policy.retirement.sunset_days)
        incumbent.state |= {"stage": "deprecated", "stage_changed_at": now, "sunset_at": sunset}
        return (
            "model.stage_changed",
            "promote-model",
            {
                "reason": f"archived by promotion of {t.version}",
                "sunset_at": sunset.isoformat(),
                "successor": t.version,
            }
            | {"from": "production", "to": "deprecated"},
        )

    def _promoted(self, t: Target, _n: int, now: datetime):
        from governance.domain import approvals as rules
        from governance.domain.rollout import RolloutStatus

        request = t.state["request"]
        self.tx.approvals.mark_completed(request.id, now)
        rollout = self.tx.routing.rollout_for_request(request.id)
        if rollout is not None:  # completed with the promotion it carried (completion.py)
            rollout.status, rollout.heartbeat_at = RolloutStatus.completed, now
            self.tx.routing.save_rollout(rollout)
        approvers = [
            {"approver": a.approver, "role": a.role} for a in rules.active_approvals(request)
        ]
        return (
            "model.promoted",
            "promote-model",
            request_details(request)
            | {
                "evaluation_run_id": request.evidence["evaluation_run_id"],
                "approvers": approvers,
            },
        )

    def _alias(self, t: Target, _n: int, _now: datetime):
        before = self.tx.registry.set_alias(t.model_id, "champion", t.version_id)
        return (
            "model.alias_set",
            "promote-model",
            {"alias": "champion", "previous_version_id": before},
        )

    def finish(self) -> int:
        """Write the rows collected in bulk and the versions' final stages; the row count."""
        conn = self.tx.conn
        for name, rows in (
            ("request_tokens", self.tokens),
            ("monitoring_batches", self.batches),
            ("retirement_audits", self.audits),
        ):
            if rows:
                conn.execute(table(name).insert(), rows)
        versions = table("model_versions")
        for t in self.targets:
            s = t.state
            conn.execute(
                versions.update()
                .where(versions.c.id == t.version_id)
                .values(
                    stage=s.get("stage", "development"),
                    stage_changed_at=s.get("stage_changed_at"),
                    sunset_at=s.get("sunset_at"),
                )
            )
        return len(self.tokens) + len(self.batches) + len(self.audits)

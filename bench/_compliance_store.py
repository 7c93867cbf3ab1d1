"""The store bench/compliance.py builds packs from: target versions with long histories.

Setup only, never timed. `bench/_audit_trail.py` writes the bulk of the trail (other
models' versions, ten events each, with their state rows); this module adds the target
versions: `churn-classifier-M` models (high risk, the example card bound to each version),
versions 2.J.0 registered, carded, evaluated, approved to staging and to production (the
previous production version archived), then monitored for weeks (ingested batches, a
reference sample, a retirement audit a day). Each target version has exactly
`per_version` events naming it, with the details the services write, and the rows those
events imply, written through the store's own repositories where they exist. Target events
are spread evenly through the whole trail, as a live system interleaves them.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import chain, islice
from pathlib import Path
from typing import Any

import _audit_trail

REPO = Path(__file__).resolve().parent.parent
CARD = REPO / "examples" / "cards" / "churn-classifier.yaml"
MODELS = 10  # target models; versions are spread over them
MODEL_ID_BASE, VERSION_ID_BASE, DATASET_ID = 1000, 1_000_000, 2
DATASET = "churn-holdout-2025-01"
# _audit_trail enrols alice, bob and carol; the example roster's other people come here.
MORE_PEOPLE = ("dave", "erin", "frank", "grace", "heidi")
# The trail spans ~200 days whatever its size: past the six months the retention check reads.
SPAN = timedelta(days=200)
LIFE_DAYS = 60  # each target version's monitored life, over which its filler events spread
CHECKS = ("age", "accuracy", "drift", "stale_card", "no_traffic")


@dataclass
class Target:
    """One target version and what setup recorded for it."""

    model: str
    version: str
    model_id: int
    version_id: int
    index: int  # J: the model's J-th version
    events: int = 0
    state: dict[str, Any] = field(default_factory=dict)


@dataclass
class Store:
    """What was written: the targets and the totals."""

    targets: list[Target]
    events: int
    target_events: int
    state_rows: int


def target_name(v: int) -> tuple[str, str]:
    """(model, version) of target v."""
    return f"churn-classifier-{v % MODELS}", f"2.{v // MODELS}.0"


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _digest(rng: random.Random) -> str:
    return f"{rng.getrandbits(256):064x}"


# The start of every version's life, in order: (kind, days after the version's start).
_REGISTERED = (
    ("registered", 0.0),
    ("card_revised", 0.2),
    ("card_revised", 0.4),
    ("evaluated", 0.6),
    ("token_issued", 0.8),
    ("token_used", 0.81),
    ("requested", 0.82),
    ("refused", 0.9),
    ("decided", 1.0),
    ("approved", 1.001),
    ("stage", 1.01),
    ("promoted", 1.02),
    ("token_issued", 2.0),
    ("token_used", 2.01),
    ("requested", 2.02),
    ("decided", 2.3),
    ("decided", 2.6),
    ("decided", 2.9),
    ("approved", 2.901),
)
BAKE_DAYS = 30 / (24 * 60)  # the example policy's 30-minute canary bake


def _life(v: int, analysed: int) -> list[tuple[float, int, str, int, int]]:
    """Target v's own steps as (day, attributed target, kind, n, acting target).

    A step writes one event, attributed to the target it names (model and version): a canary
    step's routing change names the stable version, the predecessor, not v. A step whose
    service call writes two events is followed by a `flush` step that writes the second.
    """
    start = (v // MODELS) * 15.0 + (v % MODELS) * 0.05
    items = [(start + day, v, kind, n, v) for n, (kind, day) in enumerate(_REGISTERED)]
    p = v - MODELS  # the predecessor: the model's version in production, or < 0 if none
    day = start + 2.902
    if p < 0:  # the first version goes to production directly, then gets its endpoint
        items += [(day, v, "stage", 0, v), (day + 0.001, v, "promoted", 0, v)]
        items += [(day + 0.002, v, "alias", 0, v), (day + 0.01, v, "endpoint", 0, v)]
        items += [(day + 0.011, v, "flush", 0, v)]
    else:  # a canary on the endpoint: routing changes name the stable version, p
        items += [(day, p, "rollout_start", 0, v), (day + 0.0001, v, "flush", 0, v)]
        for k in range(analysed):
            day += BAKE_DAYS
            items.append((day, v, "verdict", k, v))
            if k < analysed - 1:  # the last analysed step is followed by the promotion
                items.append((day + 0.0001, p, "flush", k, v))
        day += 0.001
        items += [(day, p, "archived", 0, v), (day + 0.0001, v, "stage", 0, v)]
        items += [(day + 0.0002, v, "follow", 0, v), (day + 0.0003, v, "promoted", 0, v)]
        items += [(day + 0.0004, v, "alias", 0, v)]
    items.append((start + 3.0, v, "reference", 0, v))
    return items


def _skeleton(versions: int, per_version: int, analysed: int) -> list[tuple]:
    """Every target event as (day, attributed target, kind, n, acting target), in chain
    order; each target gets monitoring filler up to exactly `per_version` events."""
    items = [item for v in range(versions) for item in _life(v, analysed)]
    fixed = [0] * versions
    for _day, attributed, *_ in items:
        fixed[attributed] += 1
    for v in range(versions):
        filler = per_version - fixed[v]
        if filler < 2:
            raise SystemExit(f"--events-per-version must be at least {fixed[v] + 2}")
        start = (v // MODELS) * 15.0 + (v % MODELS) * 0.05 + 3.0
        audits = max(1, filler // 33)  # one retirement audit for 32 batches: ~a day
        ingests = filler - audits
        for n in range(ingests):
            items.append((start + LIFE_DAYS * (n + 1) / (ingests + 1), v, "ingested", n, v))
        for n in range(audits):
            items.append((start + LIFE_DAYS * (n + 0.5) / audits, v, "checked", n, v))
    items.sort()
    return items


class _Life:
    """Turns skeleton items into events, in chain order, recording the rows they imply."""

    def __init__(self, gov, conn, targets: list[Target], seed: int = 18) -> None:
        from governance.reports.card_yaml import load_card_yaml
        from governance.store.unit_of_work import Transaction

        self.gov, self.policy = gov, gov.policy
        self.tx = Transaction(conn, gov.keyring)
        # The services' own in-transaction functions write routing and rollouts; their audit
        # events are captured here and placed in the chain by the step that called them.
        self.captured: list[tuple] = []
        self.tx.audit = _Capture(self.captured)
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
        s["artifact_digest"] = _digest(self.rng)
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
        self.tx.conn.execute(_table("model_versions").insert(), [version])
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
            id=_uuid(self.rng),
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

    def _stage_target(self, t: Target) -> str:
        return "staging" if t.state.get("stage", "development") == "development" else "production"

    def _token_issued(self, t: Target, _n: int, now: datetime):
        token = {"id": _uuid(self.rng), "person": "alice", "model_name": t.model}
        token |= {"version": t.version, "target_stage": self._stage_target(t)}
        token |= {"issued_at": now, "expires_at": now + timedelta(minutes=10)}
        token |= {"used_at": None, "flow_run_id": None, "parameters": None}
        self.tokens.append(token)
        t.state["token"] = token
        return (
            "request_token.issued",
            "alice",
            {
                "token_id": token["id"],
                "target_stage": token["target_stage"],
                "expires_at": _ts(token["expires_at"]),
                "method": "totp",
                "parameters_digest": None,
            },
        )

    def _token_used(self, t: Target, _n: int, now: datetime):
        token = t.state["token"]
        token["used_at"], token["flow_run_id"] = now, _uuid(self.rng)
        t.state["flow_run_id"] = token["flow_run_id"]
        return (
            "request_token.used",
            "alice",
            {
                "token_id": token["id"],
                "target_stage": token["target_stage"],
                "flow_run_id": token["flow_run_id"],
            },
        )

    def _requested(self, t: Target, _n: int, now: datetime):
        from governance.domain import approvals as rules
        from governance.domain.evidence import NO_INCUMBENT
        from governance.domain.models import LifecycleStage, RiskLevel
        from governance.store.evaluation import contents_digest

        incumbent = self.production.get(t.model)
        run = t.state["run"]
        request = rules.open_request(
            id=_uuid(self.rng),
            model_name=t.model,
            version=t.version,
            target_stage=LifecycleStage(self._stage_target(t)),
            risk=RiskLevel.high,
            requested_by="alice",
            version_created_by="alice",
            artifact_digest=t.state["artifact_digest"],
            card_hash=t.state["revision"].card_hash,
            evaluation_run_id=run.id,
            evaluation_digest=contents_digest(run),
            incumbent_version=incumbent.version if incumbent else NO_INCUMBENT,
            policy=self.policy,
            now=now,
            flow_run_id=t.state["flow_run_id"],
        )
        self.tx.approvals.add_request(request, version_id=t.version_id)
        t.state["request"] = request
        return (
            "approval.requested",
            "alice",
            _request_details(request)
            | {
                "kind": "promotion",
                "required": dict(request.required),
                "evidence": dict(request.evidence),
                "expires_at": request.expires_at.isoformat(),
                "requester_verified": True,
                "flow_run_id": request.flow_run_id,
            },
        )

    def _refused(self, t: Target, _n: int, now: datetime):
        from governance.store.approvals import RefusedAttempt

        request = t.state["request"]
        reason = f"alice opened request {request.id}; nobody may approve their own request"
        attempt = RefusedAttempt(
            request_id=request.id,
            approver="alice",
            role="ml_engineer",
            decision="approve",
            error="SeparationOfDuties",
            reason=reason,
            attempted_at=now,
        )
        self.tx.approvals.add_refusal(attempt)
        shown = {"approver": "alice", "role": "ml_engineer", "decision": "approve"}
        return (
            "approval.refused",
            "alice",
            _request_details(request)
            | shown
            | {
                "notes": "",
                "error": attempt.error,
                "reason": reason,
            },
        )

    def _decided(self, t: Target, _n: int, now: datetime):
        from governance.domain import approvals as rules
        from governance.domain import decisions

        request = t.state["request"]
        missing = sorted(rules.missing_roles(request))
        role = missing[0]
        approver = {"ml_engineer": "bob", "ml_lead": "carol", "risk_officer": "dave"}.get(
            role, "erin"
        )
        asked = {"approver": approver, "role": role, "decision": "approve"}
        asked["notes"] = f"evidence reviewed for {t.model}@{t.version}"
        updated = decisions.decide(request, **asked, policy=self.policy, now=now, verified=True)
        approval = updated.approvals[-1]
        self.tx.approvals.add_decision(request.id, approval)
        if updated.status != request.status:
            self.tx.approvals.set_status(request.id, updated.status, now)
        t.state["request"] = updated
        details = (
            _request_details(updated)
            | asked
            | {
                "verified": True,
                "policy_version": approval.policy_version,
                "status": updated.status.value,
                "missing_roles": dict(rules.missing_roles(updated)),
            }
        )
        return "approval.decided", approver, details

    def _approved(self, t: Target, _n: int, _now: datetime):
        request = t.state["request"]
        if request.status.value != "approved":
            raise SystemExit(f"setup: {t.model}@{t.version}'s request is {request.status.value}")
        decided = [{"approver": a.approver, "role": a.role} for a in request.approvals]
        return (
            "approval.approved",
            request.approvals[-1].approver,
            _request_details(request) | {"decisions": decided},
        )

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
            id=_uuid(self.rng),
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
            _request_details(request)
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

    def _reference(self, t: Target, _n: int, now: datetime):
        from governance.store.monitoring import ReferenceProfile

        digest = _digest(self.rng)
        stats = {"tenure_months": {"kind": "num", "mean": 31.2}, "plan": {"kind": "cat"}}
        profile = ReferenceProfile(
            model_version_id=t.version_id,
            digest=digest,
            uri=f"sha256/{digest}",
            n_rows=5000,
            stats=stats,
            source="holdout-2025-01.parquet",
            created_by="alice",
            created_at=now,
        )
        self.tx.monitoring.add_reference(profile)
        return (
            "monitoring.reference_stored",
            "alice",
            {
                "digest": digest,
                "rows": 5000,
                "source": profile.source,
            },
        )

    def _ingested(self, t: Target, _n: int, now: datetime):
        digest, source = _digest(self.rng), _digest(self.rng)
        batch = {"id": _uuid(self.rng), "model_version_id": t.version_id, "digest": digest}
        batch |= {"uri": f"sha256/{digest}", "source_digest": source, "n_rows": 480}
        batch |= {"n_labels": 410, "first_at": now - timedelta(minutes=45), "last_at": now}
        batch |= {"ingested_by": "monitoring-ingest", "ingested_at": now}
        self.batches.append(batch)
        return (
            "monitoring.ingested",
            "monitoring-ingest",
            {
                "batch": batch["id"],
                "digest": digest,
                "source_digest": source,
                "rows": 480,
                "labels": 410,
            },
        )

    def _checked(self, t: Target, n: int, now: datetime):
        from governance.domain.monitoring import findings_digest

        findings = [
            {"check": check, "status": "ok", "message": f"{check} within the criteria"}
            | {"figures": {}, "hard": check in ("age", "accuracy", "drift")}
            for check in CHECKS
        ]
        audit_run = f"nightly-{t.index * 15 + n:04d}"  # one run audits every live version
        row = {"id": _uuid(self.rng), "audit_run": audit_run, "model_version_id": t.version_id}
        row |= {"verdict": "retain", "reason": "every check passed", "successor": None}
        row |= {"findings": findings, "report_digest": None, "checked_at": now}
        self.audits.append(row)
        return (
            "retirement.checked",
            "retirement-audit",
            {
                "audit_run": audit_run,
                "audit_id": row["id"],
                "verdict": "retain",
                "reason": row["reason"],
                "successor": None,
                "findings": {f["check"]: f["status"] for f in findings},
                "findings_digest": findings_digest(findings),
                "report_digest": None,
            },
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
                conn.execute(_table(name).insert(), rows)
        versions = _table("model_versions")
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


class _Capture:
    """Stands in for the transaction's AuditLog: keeps each appended event, in order."""

    def __init__(self, into: list[tuple]) -> None:
        self.into = into

    def append(self, event_type, *, actor, now, model=None, version=None, details=None):
        """Keep (event_type, model, version, actor, details)."""
        self.into.append((event_type, model, version, actor, details or {}))


def _table(name: str):
    from governance.store import tables

    return tables.metadata.tables[name]


def _ts(value: datetime) -> str:
    from governance.domain.audit import format_ts

    return format_ts(value)


def _request_details(request) -> dict[str, Any]:
    """The keys every approval event carries (services/trust/request_events.py)."""
    return {
        "request_id": request.id,
        "target_stage": request.target_stage.value,
        "evidence_digest": request.evidence_digest,
    }


def _prelude(targets: list[Target], dataset_digest: str) -> tuple[list[tuple], dict]:
    """Events and rows before any target version: its models, people and dataset."""
    events, models = [], []
    for t in targets:
        if t.index:
            continue
        details = {"owner": "maria.okafor", "team": "customer-analytics", "risk_level": "high"}
        details |= {"kind": "sklearn", "description": "Subscriber churn within 60 days"}
        events.append(("model.registered", t.model, None, "alice", details))
        models.append(
            {"id": t.model_id, "name": t.model, "created_at": _audit_trail.START} | details
        )
    for name in MORE_PEOPLE:
        events.append(("person.enrolled", None, None, "grace", {"name": name, "replaced": False}))
    dataset = {"name": DATASET, "digest": dataset_digest, "uri": f"sha256/{dataset_digest}"}
    dataset |= {"format": "parquet", "target": "churned_60d", "group_columns": ["region"]}
    dataset |= {"n_rows": 78412}
    events.append(("dataset.registered", None, None, "alice", dataset))
    people = [
        {"name": n, "totp_secret": "x", "enrolled_at": _audit_trail.START, "enrolled_by": "grace"}
        for n in MORE_PEOPLE
    ]
    base = {"created_at": _audit_trail.START, "created_by": "alice"}
    state = {
        "registered_models": models,
        "people": people,
        "evaluation_datasets": [base | {"id": DATASET_ID} | dataset],
    }
    return events, state


def _places(skeleton: list[tuple], lead: int, events: int) -> list[int]:
    """Each target event's seq: in proportion to its simulated day, after the `lead` events.

    So the real time between two of a version's events (the 72 hours a request stays open)
    is what its life says. Two events on one seq move apart, the later one forward (or, at
    the end of the trail, the earlier one back).
    """
    first, last = skeleton[0][0], skeleton[-1][0]
    body = events - lead
    places, previous = [], lead
    for day, *_ in skeleton:
        seq = lead + 1 + int((day - first) / (last - first) * (body - 1))
        previous = max(seq, previous + 1)
        places.append(previous)
    ceiling = events + 1
    for i in range(len(places) - 1, -1, -1):
        ceiling = places[i] = min(places[i], ceiling - 1)
    return places


def populate(gov, events: int, versions: int, per_version: int) -> Store:
    """Write a trail of `events` events in which `versions` targets have `per_version` each."""
    from governance.domain.audit import MAC_PURPOSE

    targets = []
    for v in range(versions):
        model, version = target_name(v)
        targets.append(
            Target(model, version, MODEL_ID_BASE + v % MODELS, VERSION_ID_BASE + v, v // MODELS)
        )
    rng = random.Random(2026)
    dataset_digest = _digest(rng)
    prelude, prelude_state = _prelude(targets, dataset_digest)
    skeleton = _skeleton(versions, per_version, len(gov.policy.canary.steps) - 1)
    bulk = events - len(prelude) - len(skeleton)
    if bulk < _audit_trail.MODELS + len(_audit_trail.PEOPLE) + 1:
        raise SystemExit(f"--events {events} is too few for {versions} x {per_version} events")
    others, other_state = _audit_trail.trail(bulk)
    head = list(islice(others, _audit_trail.MODELS + len(_audit_trail.PEOPLE) + 1))
    lead = len(head) + len(prelude)  # events before the first target event
    step = SPAN / events
    places = _places(skeleton, lead, events)
    with gov.engine.begin() as conn:
        _audit_trail.write_state(conn, prelude_state)
        life = _Life(gov, conn, targets)
        life.dataset_digest = dataset_digest

        def stream():
            yield from chain(head, prelude)
            slots = iter(zip(places, skeleton, strict=True))
            nxt = next(slots, None)
            for seq in range(lead + 1, events + 1):
                if nxt is not None and nxt[0] == seq:
                    _, (_day, named, kind, n, acting) = nxt
                    now = _audit_trail.stamp(seq, step)
                    yield life.event(kind, targets[named], targets[acting], n, now)
                    nxt = next(slots, None)
                else:
                    yield next(others)

        _audit_trail.write_trail(conn, stream(), gov.keyring.derive(MAC_PURPOSE), step)
        extra = life.finish()
        _audit_trail.write_state(conn, other_state)
    written = sum(len(rows) for rows in (*prelude_state.values(), *other_state.values()))
    return Store(targets, events, len(skeleton), written + extra + len(skeleton))


def end_of_trail(events: int) -> datetime:
    """The timestamp of the last event of a trail of `events` written by `populate`."""
    return _audit_trail.stamp(events, SPAN / events)

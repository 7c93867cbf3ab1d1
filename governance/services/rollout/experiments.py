"""A/B experiments on an endpoint: start (split in routing), watch, analyse, finish or stop.

Ending an experiment never promotes anything: it takes the split out of routing and records
the verdict. A winner reaches staging or production only through promote-model.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from governance.bootstrap import Governance
from governance.domain.errors import Conflict, NotFound
from governance.domain.experiments import RUNNING, Experiment
from governance.domain.identity import VerifiedActor
from governance.domain.rollout import ABSplit, RoutingSpec
from governance.ml.ab_stats import ABResult, analyse
from governance.services.rollout.experiment_checks import check_start_in
from governance.services.rollout.routing import change_in, get_endpoint_in, updated
from governance.services.trust.roles import LEAD_ROLE, require_role
from governance.store.unit_of_work import Transaction

NO_PROMOTION = "ending an experiment promotes nothing: take the winner through promote-model"


class ExperimentNotFound(NotFound):
    """No experiment has this id."""


@dataclass(frozen=True)
class ExperimentStatus:
    """An experiment with what was logged so far: predictions and outcomes per variant."""

    experiment: Experiment
    predictions: dict[str, int]
    outcomes: dict[str, int]
    # When it ends whatever the samples: its end time, else its start plus the policy's cap.
    deadline: datetime | None = None

    @property
    def samples(self) -> int:
        """Predictions with an outcome, over every variant: what `until_samples` counts."""
        return sum(self.outcomes.values())

    def due(self, now: datetime) -> bool:
        """Whether the stopping rule is met: the sample target, or the deadline, reached."""
        found = self.experiment
        if found.until_samples is not None and self.samples >= found.until_samples:
            return True
        return self.deadline is not None and now >= self.deadline


def start(
    gov: Governance,
    endpoint: str,
    variants: dict[str, str],
    split: dict[str, int],
    until_samples: int | None,
    until_at: datetime | None,
    actor: VerifiedActor,
    now: datetime,
    flow_run_id: str | None = None,
) -> Experiment:
    """Put an A/B split on the endpoint's routing and record the experiment, audited."""
    with gov.store.write() as tx:
        model = check_start_in(
            gov, tx, endpoint, variants, split, (until_samples, until_at), actor, now
        )
        experiment = Experiment(
            id=str(uuid.uuid4()),
            endpoint=endpoint,
            variants=dict(variants),
            weights=dict(split),
            until_samples=until_samples,
            until_at=until_at,
            status=RUNNING,
            started_by=actor.name,
            started_at=now,
            ended_at=None,
            flow_run_id=flow_run_id,
            result=None,
        )
        tx.experiments.insert(experiment)
        ab = ABSplit(experiment_id=experiment.id, variants=variants, weights=split)
        spec = change_in(
            tx,
            endpoint,
            lambda s: updated(s, ab=ab),
            actor=actor.name,
            reason=f"experiment {experiment.id} started",
            now=now,
        )
        tx.audit.append(
            "experiment.started",
            actor=actor.name,
            now=now,
            model=model,
            details={
                "endpoint": endpoint,
                "experiment": experiment.id,
                "variants": variants,
                "split": split,
                "until_samples": until_samples,
                "until_at": until_at.isoformat() if until_at else None,
                "spec": spec.number,
                "verified": actor.verified,
            },
        )
        return experiment


def _get(tx: Transaction, experiment_id: str) -> Experiment:
    found = tx.experiments.get(experiment_id)
    if found is None:
        raise ExperimentNotFound(f"unknown experiment {experiment_id!r}")
    return found


def get(gov: Governance, experiment_id: str) -> Experiment:
    """One experiment, or ExperimentNotFound naming the id."""
    with gov.store.read() as tx:
        return _get(tx, experiment_id)


def list_experiments(gov: Governance) -> list[Experiment]:
    """Every experiment, newest first."""
    with gov.store.read() as tx:
        return tx.experiments.all()


def _observations(tx: Transaction, found: Experiment, now: datetime) -> list:
    until = found.ended_at or now
    seen = tx.predictions.observations(found.endpoint, found.started_at, until, found.variants)
    # Only predictions served by the variant's own version count for it.
    return [o for o in seen if found.variants.get(o.variant) == o.version]


def status(gov: Governance, experiment_id: str, now: datetime) -> ExperimentStatus:
    """The experiment and the predictions and outcomes logged per variant so far."""
    with gov.store.read() as tx:
        found = _get(tx, experiment_id)
        seen = _observations(tx, found, now)
    predictions = {name: 0 for name in found.variants}
    outcomes = {name: 0 for name in found.variants}
    for o in seen:
        predictions[o.variant] += 1
        outcomes[o.variant] += o.metrics is not None  # outcomes always carry a metrics object
    return ExperimentStatus(found, predictions, outcomes, deadline(gov, found))


def deadline(gov: Governance, found: Experiment) -> datetime:
    """When the experiment ends whatever its samples: its end time, or the policy's cap."""
    if found.until_at is not None:
        return found.until_at
    return found.started_at + timedelta(days=gov.policy.experiments.max_duration_days)


def analysis(gov: Governance, experiment_id: str, now: datetime) -> ABResult:
    """The statistics of the experiment's window under the policy's experiment defaults."""
    with gov.store.read() as tx:
        found = _get(tx, experiment_id)
        seen = _observations(tx, found, now)
    return analyse(seen, found.variants, found.weights, gov.policy.experiments)


def watch(gov: Governance, experiment_id: str, flow_run_id: str, now: datetime) -> Experiment:
    """Record the flow run that watches the experiment (a re-run after a kill takes over)."""
    with gov.store.write() as tx:
        found = _get(tx, experiment_id)
        if found.flow_run_id == flow_run_id or not found.running:
            return found
        tx.experiments.set_flow_run(experiment_id, flow_run_id)
        tx.audit.append(
            "experiment.watched",
            actor="ab-test",
            now=now,
            details={"experiment": experiment_id, "flow_run_id": flow_run_id},
        )
        return _get(tx, experiment_id)


def _end(
    tx: Transaction, found: Experiment, status_: str, result: dict, actor: str, now: datetime
) -> Experiment:
    """Take the split out of routing, store the result, and audit the end (one transaction)."""
    endpoint = get_endpoint_in(tx, found.endpoint)
    current = tx.routing.latest_spec(found.endpoint)
    if current is not None and current.spec.ab and current.spec.ab.experiment_id == found.id:
        change_in(
            tx,
            found.endpoint,
            _without_split,
            actor=actor,
            reason=f"experiment {found.id} {status_}",
            now=now,
        )
    tx.experiments.end(found.id, status_, result, now)
    tx.audit.append(
        f"experiment.{status_}",
        actor=actor,
        now=now,
        model=endpoint.model_name,
        details={
            "endpoint": found.endpoint,
            "experiment": found.id,
            "verdict": result.get("verdict"),
            "winner": result.get("winner"),
            "valid": result.get("valid"),
            "note": NO_PROMOTION,
        },
    )
    return _get(tx, found.id)


def _without_split(spec: RoutingSpec) -> RoutingSpec:
    return updated(spec, ab=None)


def finish(
    gov: Governance, experiment_id: str, result: dict, now: datetime, actor: str = "ab-test"
) -> Experiment:
    """End a running experiment with its result; finishing an ended one changes nothing."""
    with gov.store.write() as tx:
        found = _get(tx, experiment_id)
        if not found.running:
            return found
        return _end(tx, found, "ended", result, actor, now)


def stop(
    gov: Governance, experiment_id: str, actor: VerifiedActor, now: datetime, reason: str = ""
) -> Experiment:
    """A verified ml_lead ends a running experiment early, with no verdict."""
    require_role(gov, actor, LEAD_ROLE, "stopping an experiment")
    with gov.store.write() as tx:
        found = _get(tx, experiment_id)
        if not found.running:
            raise Conflict(f"experiment {experiment_id} is not running: it {found.status}")
        why = f": {reason.strip()}" if reason.strip() else ""
        result = {
            "verdict": f"no winner: stopped by {actor.name}{why}",
            "winner": None,
            "stopped_by": actor.name,
            "verified": actor.verified,
        }
        return _end(tx, found, "stopped", result, actor.name, now)


def withdraw_in(tx: Transaction, experiment_id: str, why: str, actor: str, now: datetime) -> None:
    """End a running experiment with no verdict because one of its versions left routing."""
    found = _get(tx, experiment_id)
    if found.running:
        _end(tx, found, "stopped", {"verdict": f"no winner: {why}", "winner": None}, actor, now)

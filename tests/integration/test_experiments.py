"""A/B experiments on real SQLite and PostgreSQL: start, refusals that change nothing, end."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from seeding import approved_request

from governance.domain.errors import Conflict, InvalidInput, RoleNotHeld, VersionNotFound
from governance.domain.exposure import (
    ArmsNotDistinct,
    ExperimentTooLong,
    NotApprovedForProduction,
)
from governance.domain.identity import VerifiedActor
from governance.domain.models import LifecycleStage as S
from governance.services.promotion import completion, evaluation
from governance.services.rollout import endpoints, experiments
from governance.services.rollout.experiments import ExperimentNotFound
from governance.services.rollout.routing import EndpointNotFound, change_in, updated
from governance.services.trust import audit
from governance.store.tables_rollout import experiments as experiments_table

ALICE, CAROL = (
    VerifiedActor(name="alice", method="totp"),
    VerifiedActor(name="carol", method="totp"),
)
AB = {"A": "1.1.0", "B": "1.0.0"}


def _carry_out(gov, codes, now, version, target, deciders, run_id):
    request = approved_request(
        gov, codes, now, version=version, evaluation_run_id=run_id, target=target,
        approvers=deciders,
    )  # fmt: skip
    completion.complete_promotion(gov, request_id=request.id, actor="alice", now=now)


@pytest.fixture
def api(gov, staged_run, codes, now):
    """churn-api with 1.1.0 promoted to production and 1.2.0 to staging through the door.

    1.0.0 was production (seeded), so it stays approved for production once archived;
    1.2.0 only passed staging, which is no approval for an A/B arm's share of everyone.
    """
    production = [("carol", "ml_lead"), ("dave", "risk_officer"), ("erin", "legal")]
    _carry_out(gov, codes, now, "1.1.0", S.production, production, staged_run.id)
    run = evaluation.evaluate(
        gov, model="churn", version="1.2.0", dataset="holdout", actor="alice", now=now
    )
    assert run.decision.passed, run.decision.summary()
    _carry_out(gov, codes, now, "1.2.0", S.staging, [("bob", "ml_engineer")], run.id)
    endpoints.create(gov, "churn-api", model="churn", actor=ALICE, now=now)
    return gov


def state(gov):
    """Spec numbers, experiment rows and the audit event count: what a refusal leaves alone."""
    with gov.store.read() as tx:
        specs = [s.number for s in tx.routing.history("churn-api")]
        rows = [tuple(r) for r in tx.conn.execute(sa.select(experiments_table))]
        events = len(tx.audit.query())
    return specs, rows, events


def start(gov, now, **changes):
    endpoint = changes.pop("endpoint", "churn-api")
    args = {
        "variants": AB,
        "split": {"A": 50, "B": 50},
        "until_samples": 200,
        "until_at": None,
        "actor": CAROL,
        "now": now,
        **changes,
    }
    return experiments.start(gov, endpoint, **args)


def test_start_puts_the_split_in_routing_in_one_audited_transaction(api, now):
    before = endpoints.show(api, "churn-api").spec
    found = start(api, now)
    spec = endpoints.show(api, "churn-api").spec
    assert spec.number == before.number + 1
    assert spec.spec.ab.model_dump() == {
        "experiment_id": found.id,
        "variants": AB,
        "weights": {"A": 50, "B": 50},
    }
    assert spec.spec.versions() == {"1.1.0": 50, "1.0.0": 50}
    stored = experiments.get(api, found.id)
    assert (stored.status, stored.started_by, stored.until_samples) == ("running", "carol", 200)
    [started] = audit.history(api, event_type="experiment.started")
    routed = audit.history(api, event_type="routing.changed")[-1]
    assert started.details["experiment"] == found.id
    assert (started.details["spec"], started.details["split"]) == (spec.number, {"A": 50, "B": 50})
    assert routed.details["reason"] == f"experiment {found.id} started"
    assert routed.seq == started.seq - 1 and routed.ts == started.ts
    status = experiments.status(api, found.id, now)
    assert (status.predictions, status.samples, status.due(now)) == ({"A": 0, "B": 0}, 0, False)


NOT_APPROVED = (
    "variant B: churn@1.2.0 is not approved for production (it is staging): an A/B arm "
    "serves a share of everyone, so only a version approved for production may be one"
)
ONE_RULE = "give exactly one stopping rule: a sample target or an end time"
REFUSALS = {
    "unknown-version": (
        {"variants": {"A": "1.1.0", "B": "9.9.9"}},
        VersionNotFound,
        "variant B: model 'churn' has no version '9.9.9'",
    ),
    "not-approved": (
        {"variants": {"A": "1.1.0", "B": "1.2.0"}},
        NotApprovedForProduction,
        NOT_APPROVED,
    ),
    "same-arms": (
        {"variants": {"A": "1.1.0", "B": "1.1.0"}},
        ArmsNotDistinct,
        "variants A and B both serve 1.1.0: an experiment's arms must be distinct versions",
    ),
    "split-sum": (
        {"split": {"A": 60, "B": 50}},
        InvalidInput,
        "the split must add up to 100, got 110 ({'A': 60, 'B': 50})",
    ),
    "split-names": (
        {"split": {"A": 50, "C": 50}},
        InvalidInput,
        "the split names ['A', 'C'], the variants are ['A', 'B']",
    ),
    "zero-share": (
        {"split": {"A": 100, "B": 0}},
        InvalidInput,
        "every variant needs a share above 0, got {'A': 100, 'B': 0}",
    ),
    "one-variant": (
        {"variants": {"A": "1.1.0"}, "split": {"A": 100}},
        InvalidInput,
        "an experiment needs at least two variants, got ['A']",
    ),
    "reserved-name": (
        {"variants": {"A": "1.1.0", "canary": "1.0.0"}, "split": {"A": 50, "canary": 50}},
        InvalidInput,
        "invalid variant name 'canary'",
    ),
    "two-rules": ({"until_at": "later"}, InvalidInput, ONE_RULE),
    "ten-years": (
        {"until_samples": None, "until_at": "in ten years"},
        ExperimentTooLong,
        "the experiment would run 3650 days (until 2036-11-20T12:00:00+00:00), over the "
        "policy's cap of 30 days (experiments.max_duration_days)",
    ),
    "no-rule": ({"until_samples": None}, InvalidInput, ONE_RULE),
    "zero-target": (
        {"until_samples": 0},
        InvalidInput,
        "the sample target must be positive, got 0",
    ),
    "not-a-lead": (
        {"actor": ALICE},
        RoleNotHeld,
        "alice does not hold the role ml_lead: starting an experiment refused",
    ),
    "no-endpoint": ({"endpoint": "nope"}, EndpointNotFound, "unknown endpoint 'nope'"),
}


@pytest.mark.parametrize(("changes", "error", "words"), REFUSALS.values(), ids=REFUSALS)
def test_refused_starts_change_nothing(api, now, changes, error, words):
    if changes.get("until_at") == "later":
        changes = {**changes, "until_at": now + timedelta(hours=1)}
    if changes.get("until_at") == "in ten years":
        changes = {**changes, "until_at": now + timedelta(days=3650)}
    before = state(api)
    with pytest.raises(error) as refused:
        start(api, now, **changes)
    assert str(refused.value).startswith(words)
    assert state(api) == before


def test_a_second_experiment_or_a_canary_on_the_endpoint_is_refused(api, now):
    first = start(api, now)
    before = state(api)
    with pytest.raises(Conflict) as refused:
        start(api, now, variants={"X": "1.1.0", "Y": "1.0.0"}, split={"X": 90, "Y": 10})
    assert str(refused.value) == f"experiment {first.id} is already running on 'churn-api'"
    assert state(api) == before

    experiments.stop(api, first.id, CAROL, now)
    with api.store.write() as tx:
        change = lambda s: updated(s, canary="1.2.0", canary_weight=10)  # noqa: E731
        change_in(tx, "churn-api", change, actor="test-setup", reason="seed canary", now=now)
    before = state(api)
    with pytest.raises(Conflict, match=r"^a canary of 1\.2\.0 is active on 'churn-api'$"):
        start(api, now)
    assert state(api) == before


def log(gov, variant, version, n, right, at, revenue=1.0):
    """n predictions of `variant` with outcomes, `right` of them correct."""
    with gov.store.write() as tx:
        ids = [str(uuid.uuid4()) for _ in range(n)]
        tx.predictions.insert_many(
            {
                "id": pid,
                "endpoint": "churn-api",
                "version": version,
                "variant": variant,
                "bucket": i,
                "features": {},
                "output": 1 if i < right else 0,
                "latency_ms": 3.0,
                "status": "ok",
                "created_at": at,
            }
            for i, pid in enumerate(ids)
        )
        for pid in ids:
            tx.predictions.record_outcome(pid, 1, {"revenue": revenue}, at)


def test_finish_removes_the_split_stores_the_verdict_and_is_idempotent(api, now):
    found = start(api, now)
    at = now + timedelta(minutes=1)
    log(api, "A", "1.1.0", 120, 80, at)
    log(api, "B", "1.0.0", 120, 110, at)
    log(api, "stable", "1.1.0", 30, 30, at)  # not the experiment's traffic
    later = now + timedelta(minutes=2)
    status = experiments.status(api, found.id, later)
    assert (status.predictions, status.samples, status.due(later)) == (
        {"A": 120, "B": 120},
        240,
        True,
    )
    result = experiments.analysis(api, found.id, later)
    assert result.winner == "B"
    spec_before = endpoints.show(api, "churn-api").spec.number

    ended = experiments.finish(api, found.id, result.to_json(), later)
    assert (ended.status, ended.ended_at, ended.result["winner"]) == ("ended", later, "B")
    spec = endpoints.show(api, "churn-api").spec
    assert (spec.number, spec.spec.ab, spec.spec.stable) == (spec_before + 1, None, "1.1.0")
    [event] = audit.history(api, event_type="experiment.ended")
    assert event.details["verdict"] == result.verdict()
    assert event.details["winner"] == "B" and event.details["valid"] is True
    assert "take the winner through promote-model" in event.details["note"]
    assert audit.history(api, event_type="routing.changed")[-1].details["reason"] == (
        f"experiment {found.id} ended"
    )
    # Nothing was promoted: the winner 1.0.0 is still deprecated.
    with api.store.read() as tx:
        assert tx.registry.get_version("churn", "1.0.0").stage == S.deprecated

    before = state(api)
    again = experiments.finish(api, found.id, {"verdict": "other"}, later + timedelta(hours=1))
    assert again.result == ended.result and state(api) == before
    # The trail still verifies and replays into the routing specs the tables hold.
    assert audit.verify(api).state_rows > 0


def test_stop_needs_a_lead_and_a_running_experiment(api, now):
    found = start(api, now)
    before = state(api)
    with pytest.raises(RoleNotHeld, match="alice does not hold the role ml_lead: stopping"):
        experiments.stop(api, found.id, ALICE, now)
    with pytest.raises(ExperimentNotFound, match="unknown experiment 'nope'"):
        experiments.stop(api, "nope", CAROL, now)
    assert state(api) == before
    stopped = experiments.stop(api, found.id, CAROL, now, reason="bad metric")
    assert (stopped.status, stopped.result["verdict"]) == (
        "stopped",
        "no winner: stopped by carol: bad metric",
    )
    assert endpoints.show(api, "churn-api").spec.spec.ab is None
    [event] = audit.history(api, event_type="experiment.stopped")
    assert event.actor == "carol" and event.details["experiment"] == found.id
    with pytest.raises(Conflict, match=f"experiment {found.id} is not running: it stopped"):
        experiments.stop(api, found.id, CAROL, now)
    assert [e.id for e in experiments.list_experiments(api)] == [found.id]

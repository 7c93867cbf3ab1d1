"""Rollout records on real SQLite and PostgreSQL: canary steps, refusals, rollback, watchdog."""

from __future__ import annotations

from datetime import timedelta

import pytest
from seeding import approved_request, seed_stage
from test_endpoints import ALICE, CAROL, PRODUCTION, routing_state

from governance.domain.approvals import RequestStatus
from governance.domain.errors import Conflict, InvalidInput
from governance.domain.identity import VerifiedActor
from governance.domain.models import LifecycleStage as S
from governance.domain.rollout import RolloutStatus, RoutingRefused
from governance.services.promotion import approval_requests, completion, evaluation
from governance.services.registry import versions
from governance.services.rollout import (
    continuity,
    endpoint_rollback,
    endpoints,
    provenance,
    routing,
    strategies,
    watchdog,
)
from governance.services.trust import audit


@pytest.fixture
def approved(gov, staged_run, codes, now):
    """churn-api on 1.0.0, and an approved (not yet carried out) production request of 1.1.0."""
    endpoints.create(gov, "churn-api", model="churn", actor=ALICE, now=now)
    return approved_request(gov, codes, now, version="1.1.0", evaluation_run_id=staged_run.id)


def start(gov, request, now, strategy="canary"):
    return strategies.start(
        gov, request, strategy=strategy, endpoint=None, flow_run_id="run-1", now=now
    )


def test_a_canary_climbs_its_steps_then_promotes_with_routing(gov, approved, now):
    started = start(gov, approved, now)
    assert (started.endpoint, started.steps, started.weight) == ("churn-api", [5, 25, 50, 100], 5)
    spec = endpoints.show(gov, "churn-api").spec.spec
    assert (spec.stable, spec.canary, spec.canary_weight) == ("1.0.0", "1.1.0", 5)
    # A re-executed run finds the same rollout instead of starting a second one.
    assert start(gov, approved, now + timedelta(seconds=5)).id == started.id
    for weight in (5, 25, 50):
        found = strategies.current(gov, started.id)
        assert found.weight == weight and not strategies.ready_to_promote(found)
        strategies.record_verdict(gov, found, [{"metric": "error_rate"}], "pass", now)
    assert strategies.ready_to_promote(strategies.current(gov, started.id))
    assert endpoints.show(gov, "churn-api").spec.spec.canary_weight == 50
    completion.complete_promotion(gov, request_id=approved.id, actor="alice", now=now)
    spec = endpoints.show(gov, "churn-api").spec.spec
    assert (spec.stable, spec.canary, spec.canary_weight) == ("1.1.0", None, 0)
    assert strategies.current(gov, started.id).status == RolloutStatus.completed
    verdicts = audit.history(gov, event_type="rollout.verdict", model="churn")
    assert [(e.details["weight"], e.details["verdict"]) for e in verdicts] == [
        (5, "pass"),
        (25, "pass"),
        (50, "pass"),
    ]


def test_a_failed_step_rolls_back_at_once_and_closes_the_request(gov, approved, now):
    started = start(gov, approved, now)
    strategies.record_verdict(gov, started, [{"metric": "error_rate"}], "fail", now)
    ended = strategies.current(gov, started.id)
    assert ended.status == RolloutStatus.rolled_back
    spec = endpoints.show(gov, "churn-api").spec.spec
    assert (spec.stable, spec.canary, spec.canary_weight) == ("1.0.0", None, 0)
    assert versions.resolve(gov, "churn@1.1.0").stage == S.staging
    stored = approval_requests.get_request(gov, approved.id)
    assert stored.status == RequestStatus.cancelled
    [event] = audit.history(gov, event_type="rollout.rolled_back", model="churn")
    assert event.details["reason"] == "canary failed at 5%"


def test_insufficient_data_extends_the_bake_then_holds(gov, approved, now):
    started = start(gov, approved, now)
    limit = gov.policy.canary.max_extensions
    for extension in range(1, limit + 1):
        found = strategies.record_verdict(gov, started, [], "insufficient data", now)
        assert (found.status, found.extensions) == (RolloutStatus.running, extension)
    held = strategies.record_verdict(gov, started, [], "insufficient data", now)
    assert held.status == RolloutStatus.holding
    moved = strategies.decide_hold(gov, held, "continue", "carol", now)
    assert (moved.status, moved.weight, moved.extensions) == (RolloutStatus.running, 25, 0)
    assert endpoints.show(gov, "churn-api").spec.spec.canary_weight == 25


def test_strategies_that_cannot_start_are_refused_before_anything_changes(gov, approved, now):
    before = routing_state(gov)
    with pytest.raises(InvalidInput, match="strategy canary applies to production"):
        strategies.check_strategy(gov, "churn", "1.1.0", "canary", None, "staging")
    with pytest.raises(InvalidInput, match="unknown strategy 'big_bang'"):
        strategies.check_strategy(gov, "churn", "1.1.0", "big_bang", None, "production")
    assert routing_state(gov) == before
    start(gov, approved, now)
    with pytest.raises(Conflict) as refused:
        strategies.check_strategy(gov, "churn", "1.2.0", "canary", "churn-api", "production")
    assert "endpoint 'churn-api' already has a canary rollout of churn@1.1.0" in str(refused.value)


def test_a_canary_on_an_endpoint_with_nothing_stable_is_refused(gov, staged_run, now):
    continuity.transition(
        gov,
        "churn",
        "1.0.0",
        S.deprecated,
        actor=VerifiedActor(name="carol", method="totp"),
        now=now,
        reason="bad data",
    )
    endpoints.create(gov, "empty-api", model="churn", actor=ALICE, now=now)
    with pytest.raises(RoutingRefused, match="endpoint 'empty-api' has no stable version"):
        strategies.check_strategy(gov, "churn", "1.1.0", "canary", "empty-api", "production")


def test_manual_rollback_stops_a_running_canary(gov, approved, now):
    started = start(gov, approved, now)
    spec = endpoint_rollback.rollback_endpoint(
        gov, "churn-api", actor=CAROL, reason="pager", now=now
    )
    assert (spec.spec.stable, spec.spec.canary) == ("1.0.0", None)
    assert strategies.current(gov, started.id).status == RolloutStatus.rolled_back
    [event] = audit.history(gov, event_type="rollout.rolled_back", model="churn")
    assert (event.details["by"], event.details["reason"]) == (
        "carol",
        "rolled back by carol: pager",
    )
    assert approval_requests.get_request(gov, approved.id).status == RequestStatus.cancelled


def test_a_rollback_to_a_version_also_ends_the_canary_in_flight(gov, approved, now):
    started = start(gov, approved, now)
    continuity.transition(
        gov, "churn", "1.2.0", S.retired, actor=VerifiedActor(name="carol", method="totp"), now=now
    )
    with pytest.raises(RoutingRefused, match=r"churn@1\.2\.0 is retired"):
        endpoint_rollback.rollback_endpoint(gov, "churn-api", to="1.2.0", actor=CAROL, now=now)
    # Refused as a whole: the rollout was not stopped either.
    assert strategies.current(gov, started.id).status == RolloutStatus.running
    endpoint_rollback.rollback_endpoint(gov, "churn-api", to="1.0.0", actor=CAROL, now=now)
    assert strategies.current(gov, started.id).status == RolloutStatus.rolled_back
    # Its run, analysing again, cannot promote: the verdict lands on an ended rollout.
    ended = strategies.record_verdict(gov, strategies.current(gov, started.id), [], "pass", now)
    assert ended.status == RolloutStatus.rolled_back and not strategies.ready_to_promote(ended)


def test_a_rollback_never_reinstates_a_failed_canary(gov, approved, now):
    started = start(gov, approved, now)
    strategies.record_verdict(gov, started, [], "fail", now)
    spec = endpoint_rollback.rollback_endpoint(gov, "churn-api", actor=CAROL, now=now)
    assert (spec.spec.stable, spec.spec.canary, spec.spec.canary_weight) == ("1.0.0", None, 0)


def test_a_direct_promotion_supersedes_another_versions_canary(gov, approved, codes, now):
    started = start(gov, approved, now)
    run = evaluation.evaluate(
        gov, model="churn", version="1.2.0", dataset="holdout", actor="alice", now=now
    )
    seed_stage(gov, "churn", "1.2.0", S.staging, now=now)
    later = now + timedelta(minutes=2)  # each approver's next one-time code
    other = approved_request(gov, codes, later, version="1.2.0", evaluation_run_id=run.id)
    completion.complete_promotion(gov, request_id=other.id, actor="alice", now=later)
    spec = endpoints.show(gov, "churn-api").spec.spec
    assert (spec.stable, spec.canary) == ("1.2.0", None)
    ended = strategies.current(gov, started.id)
    assert (ended.status, ended.verdicts[-1]["verdict"]) == (
        RolloutStatus.rolled_back,
        "superseded by the promotion of 1.2.0",
    )
    assert approval_requests.get_request(gov, approved.id).status == RequestStatus.cancelled


def test_a_rollout_does_not_start_on_routing_that_moved_since_approval(gov, approved, now):
    with gov.store.write() as tx:
        routing.change_in(
            tx,
            "churn-api",
            lambda s: routing.updated(s, canary="1.2.0", canary_weight=10),
            actor="carol",
            reason="someone else's canary",
            now=now,
        )
    before = routing_state(gov)
    with pytest.raises(Conflict, match=r"endpoint 'churn-api' already has a canary of 1\.2\.0"):
        start(gov, approved, now)
    assert routing_state(gov) == before
    assert strategies.rollouts_of(gov, "churn-api") == []


def test_the_watchdog_rolls_back_a_canary_whose_run_went_silent(gov, approved, now):
    started = start(gov, approved, now)
    silence = timedelta(seconds=started.bake_seconds) + timedelta(
        minutes=gov.policy.canary.watchdog_grace_minutes
    )
    assert watchdog.abandon_stale(gov, now + silence - timedelta(seconds=1)) == []
    [ended] = watchdog.abandon_stale(gov, now + silence + timedelta(seconds=1))
    assert ended.id == started.id
    assert strategies.current(gov, started.id).status == RolloutStatus.abandoned
    assert endpoints.show(gov, "churn-api").spec.spec.canary is None
    [event] = audit.history(gov, event_type="rollout.abandoned", model="churn")
    assert event.details["reason"].startswith("controlling run run-1 silent since")


def test_blue_green_switches_slots_and_flips_back(gov, approved, now):
    start(gov, approved, now, strategy="blue_green")
    spec = endpoints.show(gov, "churn-api").spec.spec
    assert (spec.slots, spec.active_slot, spec.stable) == (
        {"blue": "1.0.0", "green": "1.1.0"},
        "blue",
        "1.0.0",
    )
    completion.complete_promotion(gov, request_id=approved.id, actor="alice", now=now)
    spec = endpoints.show(gov, "churn-api").spec.spec
    assert (spec.active_slot, spec.stable) == ("green", "1.1.0")
    flipped = endpoint_rollback.rollback_endpoint(gov, "churn-api", actor=CAROL, now=now)
    assert (flipped.spec.active_slot, flipped.spec.stable) == ("blue", "1.0.0")
    assert flipped.spec.slots == {"blue": "1.0.0", "green": "1.1.0"}
    assert versions.resolve(gov, "churn@production").version == "1.0.0"


def test_served_at_names_the_approvers_of_a_canary_that_later_rolled_back(gov, approved, now):
    start(gov, approved, now)
    later = now + timedelta(minutes=1)
    strategies.record_verdict(
        gov, strategies.current(gov, approved_rollout(gov)), [], "fail", later
    )
    during = provenance.served_at(gov, "churn-api", now + timedelta(seconds=30))
    served = {v.version: v for v in during.versions}
    assert (served["1.1.0"].weight, served["1.1.0"].roles) == (5, ["canary 5%"])
    [approval] = served["1.1.0"].approvals
    assert (approval.target_stage, approval.approvers) == ("production", PRODUCTION)
    after = provenance.served_at(gov, "churn-api", later)
    assert [(v.version, v.weight) for v in after.versions] == [("1.0.0", 100)]


def approved_rollout(gov) -> str:
    [found] = strategies.rollouts_of(gov, "churn-api")
    return found.id


def test_the_watchdog_empties_only_the_slot_a_switch_replaced_after_its_delay(gov, approved, now):
    start(gov, approved, now, strategy="blue_green")
    completion.complete_promotion(gov, request_id=approved.id, actor="alice", now=now)
    delay = timedelta(minutes=gov.policy.blue_green.scale_down_delay_minutes)
    assert watchdog.scale_down_idle(gov, now + delay - timedelta(seconds=1)) == []
    assert endpoints.show(gov, "churn-api").spec.spec.slots == {"blue": "1.0.0", "green": "1.1.0"}
    # A later rollout's candidate in the idle slot is not the version the switch replaced.
    with gov.store.write() as tx:
        routing.change_in(
            tx,
            "churn-api",
            lambda s: routing.updated(s, slots={**s.slots, "blue": "1.2.0"}),
            actor="carol",
            reason="next candidate",
            now=now,
        )
    assert watchdog.scale_down_idle(gov, now + delay) == []
    assert endpoints.show(gov, "churn-api").spec.spec.slots["blue"] == "1.2.0"


def test_the_watchdog_scales_down_the_warm_slot(gov, approved, now):
    start(gov, approved, now, strategy="blue_green")
    completion.complete_promotion(gov, request_id=approved.id, actor="alice", now=now)
    delay = timedelta(minutes=gov.policy.blue_green.scale_down_delay_minutes)
    assert watchdog.scale_down_idle(gov, now + delay) == ["churn-api"]
    spec = endpoints.show(gov, "churn-api").spec
    assert (spec.spec.slots, spec.spec.active_slot, spec.actor) == (
        {"blue": None, "green": "1.1.0"},
        "green",
        "rollout-watchdog",
    )
    assert watchdog.scale_down_idle(gov, now + 2 * delay) == []  # once

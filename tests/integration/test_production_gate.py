"""Flags and experiments around the production gate (issue 16, item 8), on SQLite and PostgreSQL.

The state of the issue: churn 1.0.0 in production; 1.1.0 in staging with its production
request rejected by dave (risk_officer); 1.2.0 taken to staging through the door. Passing
staging is no approval for production traffic, and a rejection stands until a later
production request is approved.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from seeding import approved_request, register_holdout, seed_stage

from governance.domain.exposure import (
    ArmsNotDistinct,
    ExperimentTooLong,
    NotApprovedForProduction,
    RejectedForProduction,
)
from governance.domain.identity import VerifiedActor
from governance.domain.models import LifecycleStage as S
from governance.domain.rollout import FlagRule
from governance.services.promotion import approval_requests, completion, decisions, evaluation
from governance.services.rollout import endpoints, experiments
from governance.services.trust import audit

ALICE, CAROL = (
    VerifiedActor(name="alice", method="totp"),
    VerifiedActor(name="carol", method="totp"),
)
EVERYONE = FlagRule(name="all-in", version="1.1.0", percentage=100)


def reject_production(gov, codes, now, run_id, version="1.1.0"):
    """alice asks for production; carol approves as ml_lead, dave rejects as risk_officer."""
    request = approval_requests.open_approval(
        gov,
        model="churn",
        version=version,
        target=S.production,
        requester=ALICE,
        evaluation_run_id=run_id,
        now=now,
    )
    for person, role, decision, notes in (
        ("carol", "ml_lead", "approve", ""),
        ("dave", "risk_officer", "reject", "calibration drifts on the clinic group"),
    ):
        request = decisions.decide(
            gov,
            request_id=request.id,
            approver=person,
            role=role,
            decision=decision,
            notes=notes,
            code=codes(person, now),
            now=now,
        )
    return request


def through_staging(gov, codes, now, version):
    """Evaluate `version` and take it to staging through the door (bob approves); its run."""
    run = evaluation.evaluate(
        gov, model="churn", version=version, dataset="holdout", actor="alice", now=now
    )
    staging = approved_request(
        gov, codes, now, version=version, evaluation_run_id=run.id, target=S.staging,
        approvers=[("bob", "ml_engineer")],
    )  # fmt: skip
    completion.complete_promotion(gov, request_id=staging.id, actor="alice", now=now)
    return run


@pytest.fixture
def world(gov, tmp_path, model_bytes, register_churn, codes, now):
    """The issue's state on churn-api; (gov, 1.1.0's rejected request id, 1.1.0's run)."""
    for version, data in zip(("1.0.0", "1.1.0", "1.2.0"), model_bytes, strict=True):
        register_churn(version, data)
    seed_stage(gov, "churn", "1.0.0", S.staging, now=now)
    seed_stage(gov, "churn", "1.0.0", S.production, now=now)
    register_holdout(gov, tmp_path, now)
    run = through_staging(gov, codes, now, "1.1.0")
    # bob's next code for the second staging approval
    through_staging(gov, codes, now + timedelta(minutes=1), "1.2.0")
    rejected = reject_production(gov, codes, now + timedelta(minutes=2), run.id)
    endpoints.create(gov, "churn-api", model="churn", actor=ALICE, now=now)
    return gov, rejected.id, run


def routing_trail(gov):
    """The spec numbers and routing events: what a refusal must leave as it was."""
    with gov.store.read() as tx:
        specs = [s.number for s in tx.routing.history("churn-api")]
    kinds = ("routing.changed", "experiment.started")
    return specs, [e.id for e in audit.history(gov) if e.event_type in kinds]


def rejection_words(request_id: str, what: str) -> str:
    return (
        f"churn@1.1.0: its production request {request_id} was rejected by dave (risk_officer) "
        f"on 2026-11-23: calibration drifts on the clinic group: {what} may not serve it until "
        "a later production request is approved"
    )


def test_a_full_flag_to_a_rejected_version_is_refused_naming_the_rejection(world, now):
    gov, rejected, _ = world
    before = routing_trail(gov)
    with pytest.raises(RejectedForProduction) as refused:
        endpoints.set_flag(gov, "churn-api", EVERYONE, actor=CAROL, now=now)
    assert str(refused.value) == rejection_words(rejected, "flag all-in")
    # Not even a named user: the rejection is a decision about this version.
    named = FlagRule(name="one", version="1.1.0", user_ids=["u-1"])
    with pytest.raises(RejectedForProduction) as refused:
        endpoints.set_flag(gov, "churn-api", named, actor=CAROL, now=now)
    assert str(refused.value) == rejection_words(rejected, "flag one")
    assert routing_trail(gov) == before


def test_a_rejected_version_is_no_arm_and_arms_must_differ(world, now):
    gov, rejected, _ = world
    before = routing_trail(gov)
    start = dict(until_samples=1000, until_at=None, actor=CAROL, now=now)
    with pytest.raises(ArmsNotDistinct) as same:
        experiments.start(
            gov, "churn-api", {"A": "1.1.0", "B": "1.1.0"}, {"A": 50, "B": 50}, **start
        )
    assert str(same.value) == (
        "variants A and B both serve 1.1.0: an experiment's arms must be distinct versions"
    )
    with pytest.raises(RejectedForProduction) as arm:
        experiments.start(
            gov, "churn-api", {"A": "1.0.0", "B": "1.1.0"}, {"A": 50, "B": 50}, **start
        )
    assert str(arm.value) == rejection_words(rejected, "variant B")
    assert routing_trail(gov) == before


def test_a_ten_year_experiment_is_refused_naming_the_cap(world, now):
    gov, _, _ = world
    before = routing_trail(gov)
    with pytest.raises(ExperimentTooLong) as refused:
        experiments.start(
            gov,
            "churn-api",
            {"A": "1.0.0", "B": "1.2.0"},
            {"A": 50, "B": 50},
            until_samples=None,
            until_at=now + timedelta(days=3650),
            actor=CAROL,
            now=now,
        )
    assert str(refused.value) == (
        "the experiment would run 3650 days (until 2036-11-20T12:00:00+00:00), over the "
        "policy's cap of 30 days (experiments.max_duration_days)"
    )
    assert routing_trail(gov) == before


STAGED_REFUSALS = {
    "everyone": (
        FlagRule(name="f", version="1.2.0", percentage=100),
        "a flag to it must name users or orgs, never 100% of everyone",
    ),
    "a-share-of-everyone": (
        FlagRule(name="f", version="1.2.0", percentage=1),
        "a flag to it must name users or orgs, never 1% of everyone",
    ),
    "attributes": (
        FlagRule(name="f", version="1.2.0", attributes={"region": "eu"}),
        "a flag to it must name users or orgs, never 100% of everyone matching its attributes",
    ),
    "a-whole-org": (
        FlagRule(name="f", version="1.2.0", org_ids=["acme"]),
        "a flag to it may reach at most 5% of the named orgs "
        "(flags.max_unapproved_percentage), got 100%",
    ),
    "over-the-cap": (
        FlagRule(name="f", version="1.2.0", org_ids=["acme"], percentage=6),
        "a flag to it may reach at most 5% of the named orgs "
        "(flags.max_unapproved_percentage), got 6%",
    ),
    "users-over-the-cap": (
        FlagRule(name="f", version="1.2.0", user_ids=["u-1"], percentage=50),
        "a flag to it may reach at most 5% of named users "
        "(flags.max_unapproved_percentage), got 50%",
    ),
}


@pytest.mark.parametrize(("rule", "words"), STAGED_REFUSALS.values(), ids=STAGED_REFUSALS)
def test_a_staged_version_reaches_only_named_users_or_a_capped_share_of_orgs(
    world, now, rule, words
):
    gov, _, _ = world
    before = routing_trail(gov)
    with pytest.raises(NotApprovedForProduction) as refused:
        endpoints.set_flag(gov, "churn-api", rule, actor=CAROL, now=now)
    assert str(refused.value) == (
        f"churn@1.2.0 is not approved for production (it is staging): {words}"
    )
    assert routing_trail(gov) == before


def test_named_users_and_a_capped_org_share_are_accepted(world, now):
    gov, _, _ = world
    users = FlagRule(name="dogfood", version="1.2.0", user_ids=["u-1", "u-2"])
    org = FlagRule(name="acme-5", version="1.2.0", org_ids=["acme"], percentage=5)
    endpoints.set_flag(gov, "churn-api", users, actor=CAROL, now=now)
    spec = endpoints.set_flag(gov, "churn-api", org, actor=CAROL, now=now)
    assert spec.spec.flags == [users, org]
    assert spec.spec.versions() == {"1.0.0": 100, "1.2.0": 0}


def test_a_later_approved_request_lifts_the_rejection(world, codes, now):
    gov, _, run = world
    later = now + timedelta(hours=1)
    again = approved_request(gov, codes, later, version="1.1.0", evaluation_run_id=run.id)
    # Approved but not carried out: the rejection no longer stands, but 1.1.0 is not
    # production yet, so it reaches named users only.
    named = FlagRule(name="one", version="1.1.0", user_ids=["u-1"])
    assert endpoints.set_flag(gov, "churn-api", named, actor=CAROL, now=later).spec.flags == [named]
    with pytest.raises(NotApprovedForProduction) as refused:
        endpoints.set_flag(gov, "churn-api", EVERYONE, actor=CAROL, now=later)
    assert str(refused.value) == (
        "churn@1.1.0 is not approved for production (it is staging): "
        "a flag to it must name users or orgs, never 100% of everyone"
    )
    completion.complete_promotion(gov, request_id=again.id, actor="alice", now=later)
    spec = endpoints.set_flag(gov, "churn-api", EVERYONE, actor=CAROL, now=later)
    assert [f.name for f in spec.spec.flags] == ["one", "all-in"]
    # 1.0.0 was production: archived, it stays approved and may be an arm.
    found = experiments.start(
        gov, "churn-api", {"A": "1.1.0", "B": "1.0.0"}, {"A": 50, "B": 50},
        until_samples=500, until_at=None, actor=CAROL, now=later,
    )  # fmt: skip
    assert found.variants == {"A": "1.1.0", "B": "1.0.0"}


def test_a_sample_target_not_met_ends_at_the_policys_cap(world, codes, now):
    gov, _, run = world
    now = now + timedelta(minutes=5)  # each approver's next code
    again = approved_request(gov, codes, now, version="1.1.0", evaluation_run_id=run.id)
    completion.complete_promotion(gov, request_id=again.id, actor="alice", now=now)
    found = experiments.start(
        gov, "churn-api", {"A": "1.1.0", "B": "1.0.0"}, {"A": 50, "B": 50},
        until_samples=10_000, until_at=None, actor=CAROL, now=now,
    )  # fmt: skip
    cap = now + timedelta(days=30)
    status = experiments.status(gov, found.id, cap - timedelta(seconds=1))
    assert (status.samples, status.deadline, status.due(cap - timedelta(seconds=1))) == (
        0,
        cap,
        False,
    )
    assert experiments.status(gov, found.id, cap).due(cap) is True

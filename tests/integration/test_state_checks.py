"""Checks on state a database writer broke: typed errors naming it, never a bare assert.

These paths used `assert`, which `python -O` strips: the call then went on with None. Each
case edits the tables behind the trail, as someone with database access could, and expects
a GovernanceError that names the damage, with nothing written.
"""

from __future__ import annotations

import pytest
from seeding import approved_request

from governance.domain.errors import InvalidInput, StateMismatch
from governance.domain.identity import VerifiedActor
from governance.domain.rollout import FlagRule, Rollout
from governance.services.promotion import completion
from governance.services.rollout import endpoint_rollback, endpoints, experiments, strategies

ALICE, CAROL = (
    VerifiedActor(name="alice", method="totp"),
    VerifiedActor(name="carol", method="totp"),
)
NO_SPEC = (
    "endpoint 'churn-api' has no routing spec, but every endpoint is created with spec 1:"
    " the routing table was changed outside the trail (run `governance audit verify`)"
)


@pytest.fixture
def api(gov, staged_run, now):
    """churn-api bound to churn (1.0.0 production, 1.1.0 staging with a passed run)."""
    endpoints.create(gov, "churn-api", model="churn", actor=ALICE, now=now)
    return gov


def trail(gov):
    """The audit events and routing specs: what a refused call must leave as it was."""
    with gov.store.read() as tx:
        return [e.id for e in tx.audit.query()], [s.number for s in tx.routing.history("churn-api")]


def delete_specs(gov, where: str = "") -> None:
    """Delete routing_specs rows of churn-api directly, as a database writer could."""
    with gov.store.engine.begin() as conn:
        conn.exec_driver_sql(
            "DELETE FROM routing_specs WHERE endpoint_id ="
            f" (SELECT id FROM endpoints WHERE name = 'churn-api'){where}"
        )


def test_an_endpoint_without_specs_is_named_by_every_reader(api, now):
    delete_specs(api)
    before = trail(api)
    with pytest.raises(StateMismatch) as shown:
        endpoints.show(api, "churn-api")
    assert str(shown.value) == NO_SPEC
    with pytest.raises(StateMismatch) as listed:
        endpoints.list_endpoints(api)
    assert str(listed.value) == NO_SPEC
    with pytest.raises(StateMismatch) as checked:
        strategies.check_strategy(api, "churn", "1.1.0", "canary", "churn-api", "production")
    assert str(checked.value) == NO_SPEC
    assert trail(api) == before


def test_an_endpoint_without_specs_takes_no_routing_change(api, staged_run, codes, now):
    # 1.1.0 through the governed door, so a flag may target it.
    request = approved_request(api, codes, now, version="1.1.0", evaluation_run_id=staged_run.id)
    completion.complete_promotion(api, request_id=request.id, actor="alice", now=now)
    delete_specs(api)
    before = trail(api)
    rule = FlagRule(name="vip", version="1.1.0", user_ids=["u1"])
    with pytest.raises(StateMismatch) as flagged:
        endpoints.set_flag(api, "churn-api", rule, actor=CAROL, now=now)
    assert str(flagged.value) == NO_SPEC
    with pytest.raises(StateMismatch) as split:
        experiments.start(
            api,
            "churn-api",
            variants={"a": "1.0.0", "b": "1.1.0"},
            split={"a": 50, "b": 50},
            until_samples=100,
            until_at=None,
            actor=CAROL,
            now=now,
        )
    assert str(split.value) == NO_SPEC
    with pytest.raises(StateMismatch) as rolled:
        endpoint_rollback.rollback_endpoint(api, "churn-api", actor=CAROL, now=now)
    assert str(rolled.value) == NO_SPEC
    assert trail(api) == before


def test_a_missing_earlier_spec_refuses_the_rollback_by_name(api, staged_run, codes, now):
    request = approved_request(api, codes, now, version="1.1.0", evaluation_run_id=staged_run.id)
    completion.complete_promotion(api, request_id=request.id, actor="alice", now=now)
    delete_specs(api, " AND number = 1")
    before = trail(api)
    with pytest.raises(StateMismatch) as rolled:
        endpoint_rollback.rollback_endpoint(api, "churn-api", actor=CAROL, now=now)
    assert str(rolled.value) == (
        "endpoint 'churn-api' has no routing spec 1, but specs are only appended:"
        " the routing table was changed outside the trail (run `governance audit verify`)"
    )
    assert trail(api) == before


def test_a_rollout_that_is_not_stored_is_named(api, now):
    ghost = Rollout(
        id="0000-ghost",
        endpoint="churn-api",
        model_name="churn",
        version="1.1.0",
        strategy="canary",
        request_id="no-request",
        flow_run_id="no-run",
        steps=[10, 100],
        bake_seconds=60,
        step_started_at=now,
        heartbeat_at=now,
    )
    before = trail(api)
    for call in (
        lambda: strategies.heartbeat(api, ghost, now),
        lambda: strategies.record_verdict(api, ghost, [], "pass", now),
        lambda: strategies.decide_hold(api, ghost, "continue", "carol", now),
        lambda: strategies.refuse_hold(api, ghost, "carol", "wrong code", now),
        lambda: strategies.current(api, ghost.id),
    ):
        with pytest.raises(InvalidInput) as unknown:
            call()
        assert str(unknown.value) == "unknown rollout '0000-ghost'"
    assert trail(api) == before

"""Endpoints and routing on real SQLite and PostgreSQL: specs, flags, provenance, rollback."""

from __future__ import annotations

from datetime import timedelta

import pytest
from seeding import PRODUCTION_APPROVERS, approved_request

from governance.domain.errors import (
    Conflict,
    InvalidInput,
    RoleNotHeld,
    StateMismatch,
    VersionNotFound,
)
from governance.domain.identity import VerifiedActor
from governance.domain.models import LifecycleStage as S
from governance.domain.rollout import FlagRule, RoutingRefused
from governance.services.promotion import completion
from governance.services.registry import versions
from governance.services.rollout import endpoint_rollback, endpoints, provenance
from governance.services.rollout.routing import EndpointNotFound
from governance.services.trust import audit

ALICE, CAROL = (
    VerifiedActor(name="alice", method="totp"),
    VerifiedActor(name="carol", method="totp"),
)
PRODUCTION = list(PRODUCTION_APPROVERS)


def routing_state(gov, name="churn-api"):
    """The spec history and the routing events: what a refusal must leave unchanged."""
    with gov.store.read() as tx:
        specs = [(s.number, s.spec) for s in tx.routing.history(name)]
        events = [e.id for e in tx.audit.query() if e.event_type == "routing.changed"]
    return specs, events


def promote(gov, run, codes, now, version="1.1.0"):
    """Open, approve and carry out a production request for `version` (the governed path)."""
    request = approved_request(gov, codes, now, version=version, evaluation_run_id=run.id)
    completion.complete_promotion(gov, request_id=request.id, actor="alice", now=now)
    return request


@pytest.fixture
def api(gov, staged_run, codes, now):
    """churn-api bound to churn (1.0.0 production, 1.1.0 staging with a passed run)."""
    run = staged_run
    endpoints.create(gov, "churn-api", model="churn", actor=ALICE, now=now)
    return gov, run


def test_create_binds_the_production_version_and_audits_it(api, now):
    gov, _ = api
    view = endpoints.show(gov, "churn-api")
    assert (view.endpoint.model_name, view.spec.number, view.spec.spec.stable) == (
        "churn",
        1,
        "1.0.0",
    )
    assert view.spec.spec.versions() == {"1.0.0": 100}
    [created] = audit.history(gov, event_type="endpoint.created", model="churn")
    [changed] = audit.history(gov, event_type="routing.changed", model="churn")
    assert (created.actor, created.details["endpoint"]) == ("alice", "churn-api")
    assert changed.details["spec"] == 1
    assert changed.details["spec_hash"] == view.spec.spec.digest()


def test_bad_endpoint_creations_are_refused(api, now):
    gov, _ = api
    before = routing_state(gov)
    with pytest.raises(Conflict, match="endpoint 'churn-api' already exists"):
        endpoints.create(gov, "churn-api", model="churn", actor=ALICE, now=now)
    with pytest.raises(InvalidInput, match="invalid endpoint name 'Churn API'"):
        endpoints.create(gov, "Churn API", model="churn", actor=ALICE, now=now)
    with pytest.raises(EndpointNotFound, match="unknown endpoint 'nope'"):
        endpoints.show(gov, "nope")
    assert routing_state(gov) == before


def test_a_promotion_moves_routing_in_its_own_transaction(api, codes, now):
    gov, run = api
    later = now + timedelta(minutes=5)
    promote(gov, run, codes, later)
    spec = endpoints.show(gov, "churn-api").spec
    assert (spec.number, spec.spec.stable, spec.actor) == (2, "1.1.0", "alice")
    assert versions.resolve(gov, "churn@production").version == "1.1.0"
    promoted = audit.history(gov, event_type="model.promoted", model="churn")[-1]
    routed = audit.history(gov, event_type="routing.changed", model="churn")[-1]
    # One transaction: the routing event directly follows the promotion's stage events.
    assert routed.seq < promoted.seq and routed.ts == promoted.ts


def test_flags_only_target_promoted_versions(api, codes, now):
    gov, run = api
    before = routing_state(gov)
    rule = FlagRule(name="beta-org", version="1.2.0", org_ids=["acme"])
    with pytest.raises(RoutingRefused) as refused:
        endpoints.set_flag(gov, "churn-api", rule, actor=CAROL, now=now)
    assert str(refused.value) == (
        "churn@1.2.0 never passed a promotion to staging or production: "
        "a flag may only target a promoted version"
    )
    with pytest.raises(VersionNotFound):
        endpoints.set_flag(
            gov, "churn-api", rule.model_copy(update={"version": "9.9.9"}), actor=CAROL, now=now
        )
    with pytest.raises(RoleNotHeld, match="alice does not hold the role ml_lead"):
        endpoints.set_flag(gov, "churn-api", rule, actor=ALICE, now=now)
    assert routing_state(gov) == before

    promote(gov, run, codes, now)
    ok = FlagRule(name="beta-org", version="1.1.0", org_ids=["acme"])
    spec = endpoints.set_flag(gov, "churn-api", ok, actor=CAROL, now=now)
    assert spec.spec.flags == [ok]
    cleared = endpoints.clear_flag(gov, "churn-api", "beta-org", actor=CAROL, now=now)
    assert cleared.spec.flags == []
    with pytest.raises(InvalidInput, match="endpoint 'churn-api' has no flag named 'beta-org'"):
        endpoints.clear_flag(gov, "churn-api", "beta-org", actor=CAROL, now=now)


def test_served_at_answers_for_any_time_since_creation(api, codes, now):
    gov, run = api
    promote(gov, run, codes, now + timedelta(hours=1))
    before = provenance.served_at(gov, "churn-api", now + timedelta(minutes=30))
    assert before.spec.number == 1
    assert [(v.version, v.weight, v.roles) for v in before.versions] == [("1.0.0", 100, ["stable"])]
    after = provenance.served_at(gov, "churn-api", now + timedelta(hours=2))
    [served] = after.versions
    assert (after.spec.number, served.version, served.weight) == (2, "1.1.0", 100)
    [approval] = served.approvals
    assert approval.approvers == PRODUCTION
    assert approval.policy_version == gov.policy.version
    with pytest.raises(InvalidInput) as refused:
        provenance.served_at(gov, "churn-api", now - timedelta(seconds=1))
    assert "endpoint 'churn-api' did not exist at" in str(refused.value)
    assert f"it was created at {now.isoformat()}" in str(refused.value)


def test_rollback_restores_the_previous_spec_and_production(api, codes, now):
    gov, run = api
    with pytest.raises(RoutingRefused, match="endpoint 'churn-api' has no previous spec"):
        endpoint_rollback.rollback_endpoint(gov, "churn-api", actor=CAROL, now=now)
    promote(gov, run, codes, now)
    with pytest.raises(RoleNotHeld, match="alice does not hold the role ml_lead"):
        endpoint_rollback.rollback_endpoint(gov, "churn-api", actor=ALICE, now=now)
    spec = endpoint_rollback.rollback_endpoint(
        gov, "churn-api", actor=CAROL, reason="latency spike", now=now
    )
    assert (spec.number, spec.spec.stable) == (3, "1.0.0")
    assert versions.resolve(gov, "churn@production").version == "1.0.0"
    assert versions.resolve(gov, "churn@1.1.0").stage == S.deprecated
    [rolled] = audit.history(gov, event_type="model.rolled_back", model="churn")
    assert (rolled.actor, rolled.details["reason"]) == ("carol", "latency spike")


def test_rollback_to_a_version_past_its_sunset_is_refused(api, codes, now):
    gov, run = api
    promote(gov, run, codes, now)
    late = now + timedelta(days=31)
    before = routing_state(gov)
    with pytest.raises(RoutingRefused) as refused:
        endpoint_rollback.rollback_endpoint(gov, "churn-api", to="1.0.0", actor=CAROL, now=late)
    assert str(refused.value) == (
        f"churn@1.0.0 passed its sunset at {(now + timedelta(days=30)).isoformat()}: "
        "rollback refused"
    )
    assert routing_state(gov) == before
    assert versions.resolve(gov, "churn@production").version == "1.1.0"


def test_audit_verify_covers_routing_specs(api, codes, now):
    gov, run = api
    promote(gov, run, codes, now)
    assert audit.verify(gov).state_rows > 0
    with gov.store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE routing_specs SET spec_hash = 'forged' WHERE number = 2")
    with pytest.raises(StateMismatch) as found:
        audit.verify(gov)
    assert "routing_specs churn-api spec 2: its content hashes to " in str(found.value)
    assert "but its spec_hash column says forged" in str(found.value)

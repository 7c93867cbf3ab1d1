"""No act leaves an endpoint with nothing to serve unless a lead names the outage (item 10).

The attack: alice (ml_engineer) deprecated production 1.0.0; at its sunset the sweep
retired it and withdrew it from churn-api, which then had no stable version, and every
predict answered 503. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from seeding import approved_request

from governance.domain.errors import InvalidInput, RoleNotHeld
from governance.domain.identity import VerifiedActor
from governance.domain.models import LifecycleStage as S
from governance.domain.rollout import FlagRule, NoRoute, route
from governance.domain.withdrawal import NothingToServe
from governance.services.promotion import completion
from governance.services.registry import versions
from governance.services.rollout import continuity, endpoints, routing, withdrawal
from governance.services.trust import audit

ALICE, CAROL, DAVE = (VerifiedActor(name=n, method="totp") for n in ("alice", "carol", "dave"))
SUNSET = timedelta(days=30)


@pytest.fixture
def api(gov, staged_run, now):
    """churn-api serving production 1.0.0; 1.1.0 staged with a passed run; 1.2.0 registered."""
    endpoints.create(gov, "churn-api", model="churn", actor=ALICE, now=now)
    return gov


def trail(gov):
    """Stages, specs and events: what a refusal must leave as it was."""
    with gov.store.read() as tx:
        specs = [s.number for s in tx.routing.history("churn-api")]
        events = len(tx.audit.query())
    stages = {v.version: v.stage for v in versions.search(gov, name="churn")}
    return stages, specs, events


def answer(gov, key="user-1"):
    """The version route() gives a request on churn-api now (NoRoute is the gateway's 503)."""
    view = endpoints.show(gov, "churn-api")
    return route("churn-api", view.endpoint.seed, view.spec.spec, key).version


def test_an_engineer_cannot_deprecate_the_only_version_an_endpoint_serves(api, now):
    before = trail(api)
    with pytest.raises(RoleNotHeld) as refused:
        continuity.transition(
            api, "churn", "1.0.0", S.deprecated, actor=ALICE, now=now, reason="tidy up"
        )
    assert str(refused.value) == (
        "alice holds none of the production roles (ml_lead, risk_officer): moving churn@1.0.0 "
        "to deprecated refused, since endpoint 'churn-api' serves it as its stable version "
        "and no production version can take over"
    )
    assert trail(api) == before


def test_a_deprecation_without_an_accepted_outage_keeps_serving_past_the_sunset(
    api, staged_run, codes, now
):
    moved = continuity.transition(
        api, "churn", "1.0.0", S.deprecated, actor=DAVE, now=now, reason="calibration drift"
    )
    assert moved.stage == S.deprecated
    after = now + SUNSET + timedelta(days=1)
    # The sweep holds it back: retiring it would leave churn-api with nothing to serve.
    assert withdrawal.retire_past_sunset(api, now=after) == []
    assert versions.resolve(api, "churn@1.0.0").stage == S.deprecated
    assert endpoints.show(api, "churn-api").spec.spec.stable == "1.0.0"
    assert answer(api) == "1.0.0"
    [(held, alone)] = withdrawal.held_past_sunset(api, after)
    assert (held.version, alone) == ("1.0.0", ["churn-api"])
    assert audit.history(api, event_type="model.stage_changed", version="1.0.0")[-1].details[
        "to"
    ] == ("deprecated")

    # A successor arrives through the door: now the sweep retires 1.0.0 in its favour.
    request = approved_request(api, codes, after, version="1.1.0", evaluation_run_id=staged_run.id)
    completion.complete_promotion(api, request_id=request.id, actor="alice", now=after)
    [retired] = withdrawal.retire_past_sunset(api, now=after)
    assert retired.version == "1.0.0"
    assert versions.resolve(api, "churn@1.0.0").stage == S.retired
    assert answer(api) == "1.1.0"
    assert withdrawal.held_past_sunset(api, after) == []


def test_a_lead_who_names_the_outage_lets_the_sweep_empty_the_endpoint(api, now):
    outage = "triage moves to the manual queue"
    continuity.transition(
        api, "churn", "1.0.0", S.deprecated, actor=CAROL, now=now, reason="withdrawn",
        outage=outage,
    )  # fmt: skip
    [accepted] = audit.history(api, event_type="endpoint.outage_accepted")
    assert (accepted.actor, accepted.model, accepted.version) == ("carol", "churn", "1.0.0")
    assert accepted.details == {"endpoints": ["churn-api"], "outage": outage, "verified": True}
    assert answer(api) == "1.0.0"  # the grace period still serves it

    after = now + SUNSET
    [retired] = withdrawal.retire_past_sunset(api, now=after)
    assert retired.version == "1.0.0"
    spec = endpoints.show(api, "churn-api").spec
    assert (spec.spec.stable, spec.actor) == (None, "system")
    assert spec.reason == f"churn@1.0.0 retired: sunset passed (outage accepted: {outage})"
    with pytest.raises(NoRoute, match="endpoint 'churn-api' has no production version"):
        answer(api)
    assert audit.verify(api).state_rows > 0


def test_only_a_lead_accepts_an_outage_and_only_where_there_is_one(api, now):
    before = trail(api)
    with pytest.raises(RoleNotHeld) as refused:
        continuity.transition(
            api, "churn", "1.0.0", S.deprecated, actor=DAVE, now=now, reason="r", outage="x"
        )
    assert str(refused.value) == (
        "dave does not hold the role ml_lead: only a lead may accept the outage of "
        "endpoint 'churn-api'"
    )
    with pytest.raises(InvalidInput) as nothing:
        continuity.transition(api, "churn", "1.2.0", S.retired, actor=CAROL, now=now, outage="x")
    assert str(nothing.value) == (
        "--outage: no endpoint would be left without a stable version by moving churn@1.2.0, "
        "so there is no outage to accept"
    )
    assert trail(api) == before


def test_retiring_the_only_version_an_endpoint_serves_needs_the_outage_named(api, now):
    continuity.transition(api, "churn", "1.0.0", S.deprecated, actor=CAROL, now=now, reason="r")
    before = trail(api)
    with pytest.raises(NothingToServe) as refused:
        continuity.transition(api, "churn", "1.0.0", S.retired, actor=CAROL, now=now)
    assert str(refused.value) == (
        "retiring churn@1.0.0 would leave endpoint 'churn-api' with no stable version to "
        "serve: promote a successor first, or an ml_lead may accept the outage (--outage TEXT)"
    )
    assert trail(api) == before
    later = now + timedelta(minutes=1)
    continuity.transition(
        api, "churn", "1.0.0", S.retired, actor=CAROL, now=later, outage="model withdrawn"
    )
    assert endpoints.show(api, "churn-api").spec.spec.stable is None
    assert versions.resolve(api, "churn@1.0.0").stage == S.retired


def test_no_routing_change_takes_the_stable_version_away_unnamed(api, now):
    before = trail(api)
    with api.store.write() as tx, pytest.raises(NothingToServe) as refused:
        routing.change_in(
            tx,
            "churn-api",
            lambda spec: routing.updated(spec, stable=None),
            actor="carol",
            reason="empty it",
            now=now,
        )
    assert str(refused.value) == (
        "routing change on 'churn-api' refused: it would leave the endpoint with no stable "
        "version (it serves 1.0.0), and no lead named the outage"
    )
    assert trail(api) == before


def test_a_withdrawal_without_an_accepted_outage_keeps_the_only_stable_version(api, now):
    # What an approved retirement review of the production version does with no successor:
    # the version leaves flags, slots and arms, but stays what churn-api serves.
    with api.store.write() as tx:
        routing.change_in(
            tx,
            "churn-api",
            lambda spec: routing.updated(
                spec, flags=[FlagRule(name="old", version="1.0.0", user_ids=["u-1"])]
            ),
            actor="carol",
            reason="seed a flag",
            now=now,
        )
        found = tx.registry.get_version("churn", "1.0.0")
        [changed] = withdrawal.withdraw_in(
            tx, found, actor="retirement-review", reason="retirement approved", now=now
        )
    assert (changed.spec.stable, changed.spec.flags) == ("1.0.0", [])
    assert changed.reason == "churn@1.0.0 retirement approved"
    assert answer(api) == "1.0.0"

"""The routing spec's invariants, canary plans and flag rules, refused with the reason."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from governance.domain.errors import InvalidInput
from governance.domain.policy_sections import CanaryDefaults
from governance.domain.rollout import (
    ABSplit,
    FlagRule,
    NoRoute,
    Reason,
    RoutingRefused,
    RoutingSpec,
    check_endpoint_name,
    check_steps,
    route,
)


@pytest.mark.parametrize(
    ("steps", "words"),
    [
        ([5, 25, 50], "canary weights must end at 100 (full traffic), got [5, 25, 50]"),
        ([25, 5, 100], "canary weights must climb strictly within 1..100, got [25, 5, 100]"),
        ([0, 100], "canary weights must climb strictly within 1..100, got [0, 100]"),
        ([], "a canary plan needs at least one weight step"),
    ],
)
def test_canary_plans_that_do_not_climb_to_full_traffic_are_refused(steps, words):
    with pytest.raises(RoutingRefused) as refused:
        check_steps(steps)
    assert str(refused.value) == words


def test_the_policy_refuses_weights_that_do_not_end_at_100():
    with pytest.raises(ValidationError, match=r"the last canary step must be 100 \(full traffic\)"):
        CanaryDefaults(steps=[5, 25, 50])


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"stable": "1.0.0", "canary": "1.1.0"}, "a canary needs a weight above 0"),
        ({"stable": "1.0.0", "canary": "1.0.0", "canary_weight": 5}, "is already the stable"),
        (
            {"stable": "1.0.0", "slots": {"blue": "0.9.0", "green": None}, "active_slot": "blue"},
            "the active blue/green slot must hold the stable version",
        ),
        ({"stable": "1.0.0", "canary_weight": 101, "canary": "1.1.0"}, "less than or equal"),
    ],
)
def test_inconsistent_specs_are_refused(fields, words):
    with pytest.raises(ValidationError, match=words):
        RoutingSpec(**fields)


def test_flag_rules_need_a_criterion_and_splits_must_add_up():
    with pytest.raises(ValidationError, match="flag 'beta' needs a criterion"):
        FlagRule(name="beta", version="1.1.0")
    with pytest.raises(ValidationError, match="split weights must add up to 100"):
        ABSplit(experiment_id="x", variants={"A": "1", "B": "2"}, weights={"A": 50, "B": 40})


def test_route_order_flags_then_split_then_stable():
    flag = FlagRule(name="acme", version="1.2.0", org_ids=["acme"])
    spec = RoutingSpec(stable="1.0.0", canary="1.1.0", canary_weight=100, flags=[flag])
    flagged = route("api", "seed", spec, "u1", {"org_id": "acme"})
    assert (flagged.version, flagged.variant, flagged.reason) == (
        "1.2.0",
        "flag:acme",
        Reason.targeting_match,
    )
    split = route("api", "seed", spec, "u1", {"org_id": "globex"})
    assert (split.version, split.variant, split.reason) == ("1.1.0", "canary", Reason.split)
    static = route("api", "seed", RoutingSpec(stable="1.0.0"), "u1")
    assert (static.version, static.variant, static.reason) == ("1.0.0", "stable", Reason.static)
    with pytest.raises(NoRoute, match="endpoint 'api' has no production version to serve yet"):
        route("api", "seed", RoutingSpec(), "u1")


def test_endpoint_names_are_url_segments():
    assert check_endpoint_name("churn-api.v2") == "churn-api.v2"
    with pytest.raises(InvalidInput, match="invalid endpoint name 'churn/api'"):
        check_endpoint_name("churn/api")

"""served_versions names exactly the (version, variant) pairs route() answers with."""

from __future__ import annotations

import pytest

from governance.domain.rollout import ABSplit, FlagRule, RoutingSpec, route
from governance.serving.errors import VersionNotServed
from governance.serving.served_versions import check_served, served_versions

SEED = "0123456789abcdef"
ATTRS = [{}, {"org_id": "acme"}, {"region": "eu"}]
SPECS = {
    "stable": RoutingSpec(stable="1.0.0"),
    "canary": RoutingSpec(stable="1.0.0", canary="1.1.0", canary_weight=30),
    "blue/green": RoutingSpec(
        stable="1.0.0", slots={"blue": "1.2.0", "green": "1.0.0"}, active_slot="green"
    ),
    "flags": RoutingSpec(
        stable="1.0.0",
        flags=[
            FlagRule(name="acme", version="1.2.0", org_ids=["acme"]),
            FlagRule(name="eu", version="1.1.0", attributes={"region": "eu"}, percentage=50),
        ],
    ),
    "a/b with a canary and a flag": RoutingSpec(
        stable="1.0.0",
        canary="1.1.0",
        canary_weight=50,
        ab=ABSplit(
            experiment_id="e", variants={"a": "1.2.0", "b": "2.0.0"}, weights={"a": 40, "b": 60}
        ),
        flags=[FlagRule(name="acme", version="1.0.0", org_ids=["acme"])],
    ),
}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_the_served_versions_are_what_route_answers(name):
    spec = SPECS[name]
    reached = {
        (d.version, d.variant)
        for key in (f"user-{i}" for i in range(400))
        for attrs in ATTRS
        for d in [route("api", SEED, spec, key, attrs)]
    }
    named = {(v, variant) for v, variants in served_versions(spec).items() for variant in variants}
    assert reached == named


def test_a_version_not_served_is_refused_naming_what_is():
    unflagged = SPECS["a/b with a canary and a flag"].model_copy(update={"flags": []})
    with pytest.raises(VersionNotServed) as refused:
        check_served("api", "1.0.0", unflagged)
    assert str(refused.value) == (
        "version 1.0.0 is not served by endpoint 'api': it serves 1.2.0 (a), 2.0.0 (b); "
        "A/B test e takes all unflagged traffic"
    )
    with pytest.raises(VersionNotServed) as nothing:
        check_served("api", "1.0.0", RoutingSpec())
    assert (
        str(nothing.value)
        == "version 1.0.0 is not served by endpoint 'api': it serves no version yet"
    )
    with pytest.raises(VersionNotServed) as idle:
        check_served("api", "1.2.0", SPECS["blue/green"])
    assert str(idle.value) == (
        "version 1.2.0 is not served by endpoint 'api': it serves 1.0.0 (green); "
        "1.2.0 waits in the idle blue slot"
    )
    assert check_served("api", "1.0.0", SPECS["blue/green"]) == ["green"]

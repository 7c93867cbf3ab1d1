"""Sticky assignment: GrowthBook's published hash vectors, our frozen route vectors, properties."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scipy import stats

from governance.domain.rollout import BUCKETS, FlagRule, Reason, RoutingSpec, bucket, fnv1a32, route

VECTORS = json.loads((Path(__file__).parents[1] / "data" / "bucketing_vectors.json").read_text())
ROUTE = VECTORS["route"]
SEED, ENDPOINT = ROUTE["seed"], ROUTE["endpoint"]
# Deterministic keys: the statistical checks below give the same answer on every run.
KEYS = [f"user-{i}" for i in range(20_000)]


def _ids(cases: list[dict]) -> list[str]:
    return [f"{c['seed']}|{c['key']}" for c in cases]


@pytest.mark.parametrize(
    "case", VECTORS["growthbook_hash_v2"]["cases"], ids=_ids(VECTORS["growthbook_hash_v2"]["cases"])
)
def test_bucket_matches_growthbook_hash_v2(case):
    assert bucket(case["seed"], case["key"]) == case["bucket"]
    assert case["bucket"] == round(case["growthbook"] * BUCKETS)


@pytest.mark.parametrize("case", VECTORS["growthbook_feature_buckets_v2"]["cases"])
def test_bucket_matches_growthbook_experiment_buckets(case):
    assert bucket(case["seed"], case["key"]) == case["bucket"]


@pytest.mark.parametrize(
    ("text", "expected"),
    # The FNV reference values (Fowler/Noll/Vo test suite) for 32-bit FNV-1a.
    [("", 0x811C9DC5), ("a", 0xE40C292C), ("foobar", 0xBF9CF968)],
)
def test_fnv1a32_reference_values(text, expected):
    assert fnv1a32(text) == expected


ROUTE_CASES = [
    (scenario["name"], RoutingSpec.model_validate(scenario["spec"]), case)
    for scenario in ROUTE["scenarios"]
    for case in scenario["cases"]
]


@pytest.mark.parametrize(
    ("scenario", "spec", "case"),
    ROUTE_CASES,
    ids=[f"{name}:{case['key']}" for name, _, case in ROUTE_CASES],
)
def test_route_matches_frozen_vectors(scenario, spec, case):
    decision = route(ENDPOINT, SEED, spec, case["key"], case["attributes"])
    got = {
        "version": decision.version,
        "variant": decision.variant,
        "bucket": decision.bucket,
        "reason": decision.reason.value,
    }
    assert got == case["expect"]


def test_route_vectors_cover_every_reason():
    reasons = {case["expect"]["reason"] for _, _, case in ROUTE_CASES}
    assert reasons == {r.value for r in Reason}
    assert len(ROUTE_CASES) >= 30


def _spec(name: str) -> RoutingSpec:
    [found] = [s["spec"] for s in ROUTE["scenarios"] if s["name"] == name]
    return RoutingSpec.model_validate(found)


def test_assignment_is_sticky_across_calls_and_spec_versions():
    spec = _spec("flags-and-canary")
    # The next spec version after an unrelated change (a new flag for someone else) and a
    # round trip through JSON, as the store and the gateway's HTTP route carry it.
    other = FlagRule(name="someone-else", version="1.2.0", user_ids=["u-nobody"])
    later = RoutingSpec.model_validate_json(
        RoutingSpec.model_validate(
            {**spec.model_dump(), "flags": [*spec.flags, other]}
        ).model_dump_json()
    )
    for key in KEYS[:2_000]:
        first = route(ENDPOINT, SEED, spec, key)
        assert route(ENDPOINT, SEED, spec, key) == first
        assert route(ENDPOINT, SEED, later, key) == first


def _canary_keys(weight: int) -> set[str]:
    spec = RoutingSpec(stable="1.0.0", canary="1.1.0", canary_weight=weight)
    return {k for k in KEYS if route(ENDPOINT, SEED, spec, k).variant == "canary"}


def test_canary_growth_is_monotone_and_near_its_weight():
    # The canary's hash seed names the endpoint and the canary version, not the weight, so
    # raising the weight only adds keys: nobody flips back to stable mid-rollout.
    previous: set[str] = set()
    for weight in (5, 25, 50, 100):
        current = _canary_keys(weight)
        assert previous <= current, f"keys left the canary when it grew to {weight}%"
        assert abs(len(current) / len(KEYS) - weight / 100) < 0.015
        previous = current


def test_buckets_are_uniform():
    # 100 bins of 100 buckets: about 200 keys expected per bin, enough for the chi-square.
    counts = [0] * 100
    for key in KEYS:
        counts[bucket(SEED, key) // 100] += 1
    assert stats.chisquare(counts).pvalue > 0.001
    assert min(bucket(SEED, k) for k in KEYS) >= 0
    assert max(bucket(SEED, k) for k in KEYS) < BUCKETS


def _treated(experiment_id: str) -> list[int]:
    spec = RoutingSpec(
        stable="1.0.0",
        ab={
            "experiment_id": experiment_id,
            "variants": {"control": "1.0.0", "treatment": "1.1.0"},
            "weights": {"control": 50, "treatment": 50},
        },
    )
    return [route(ENDPOINT, SEED, spec, k).variant == "treatment" for k in KEYS]


def test_two_experiments_on_one_endpoint_assign_independently():
    first, second = _treated("exp-threshold"), _treated("exp-calibration")
    # Each experiment splits near 50/50 on its own...
    assert abs(sum(first) / len(KEYS) - 0.5) < 0.015
    assert abs(sum(second) / len(KEYS) - 0.5) < 0.015
    # ...and knowing one assignment says nothing about the other. Under independence the
    # correlation's standard error is 1/sqrt(20,000) ~ 0.007, so 0.03 is over four of them.
    assert abs(stats.pearsonr(first, second).statistic) < 0.03
    table = [[0, 0], [0, 0]]
    for a, b in zip(first, second, strict=True):
        table[a][b] += 1
    assert stats.chi2_contingency(table).pvalue > 0.001


def test_canary_and_experiment_buckets_are_independent():
    canary = [bucket(f"{SEED}:canary:1.1.0", k) for k in KEYS]
    experiment = [bucket(f"{SEED}:ab:exp-threshold", k) for k in KEYS]
    base = [bucket(SEED, k) for k in KEYS]
    assert abs(stats.pearsonr(canary, experiment).statistic) < 0.03
    assert abs(stats.pearsonr(canary, base).statistic) < 0.03

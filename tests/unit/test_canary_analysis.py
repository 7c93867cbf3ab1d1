"""Canary analysis on synthetic observation windows: each metric's pass, fail and shortfall."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from governance.domain.policy_sections import CanaryDefaults
from governance.domain.predictions import Observation
from governance.ml.canary_analysis import analyse_step

POLICY = CanaryDefaults()  # alpha 0.05, min_samples 50, min_labels 30, +20% p95, -5% accuracy


def base_latency(i: int) -> float:
    """A spread of 100..149 ms, the same for every run of the test."""
    return 100.0 + (i * 37) % 50


def window(
    variant: str,
    n: int,
    *,
    errors: int = 0,
    latency: Callable[[int], float] = base_latency,
    labels: int = 0,
    wrong: int = 0,
) -> list[Observation]:
    """`n` observations: the first `errors` failed; `labels` of the rest labelled, `wrong` wrong."""
    out = []
    for i in range(n):
        ok = i >= errors
        labelled = ok and i - errors < labels
        output = (0 if i - errors < wrong else 1) if ok else None
        out.append(
            Observation(
                id=f"{variant}-{i}",
                version="1.1.0" if variant == "canary" else "1.0.0",
                variant=variant,
                status="ok" if ok else "error",
                latency_ms=latency(i),
                output=output,
                label=1 if labelled else None,
                metrics=None,
            )
        )
    return out


def analyse(canary, stable, *, planned_steps: int = 3, policy: CanaryDefaults = POLICY):
    step = analyse_step(canary, stable, weight=25, planned_steps=planned_steps, policy=policy)
    return step, {m.metric: m for m in step.metrics}


def test_a_clean_canary_passes_every_metric():
    step, by = analyse(
        window("canary", 400, errors=4, labels=200, wrong=10),
        window("stable", 400, errors=4, labels=200, wrong=10),
    )
    assert step.verdict == "pass"
    assert {m: v.verdict for m, v in by.items()} == {
        "error_rate": "pass",
        "latency_p95": "pass",
        "accuracy": "pass",
    }
    assert (by["error_rate"].canary_value, by["accuracy"].stable_value) == (0.01, 0.95)
    assert by["latency_p95"].alpha == pytest.approx(0.05 / 3)


def test_rows_are_json_ready_one_per_metric():
    step, _ = analyse(window("canary", 100), window("stable", 100))
    rows = step.rows()
    assert [r["metric"] for r in rows] == ["error_rate", "latency_p95", "accuracy"]
    assert {r["weight"] for r in rows} == {25}
    assert json.loads(json.dumps(rows, allow_nan=False)) == rows
    assert set(rows[0]) == {
        "weight",
        "metric",
        "verdict",
        "canary_n",
        "stable_n",
        "canary_value",
        "stable_value",
        "p_value",
        "alpha",
        "detail",
    }


def test_a_canary_with_many_more_errors_fails():
    step, by = analyse(window("canary", 400, errors=60), window("stable", 400, errors=4))
    assert step.verdict == "fail"
    assert by["error_rate"].verdict == "fail"
    assert by["error_rate"].p_value < 1e-6
    assert "significantly worse" in by["error_rate"].detail


def test_an_error_increase_within_the_tolerance_passes():
    # 2.5% against 1%: a real increase, but within the tolerated +2 points.
    step, by = analyse(window("canary", 2000, errors=50), window("stable", 2000, errors=20))
    assert by["error_rate"].verdict == "pass"
    assert step.verdict == "pass"


def test_a_slower_canary_fails_latency():
    step, by = analyse(
        window("canary", 400, latency=lambda i: 1.5 * base_latency(i)), window("stable", 400)
    )
    assert step.verdict == "fail"
    assert by["latency_p95"].verdict == "fail"
    assert by["latency_p95"].canary_value > 1.2 * by["latency_p95"].stable_value


def test_a_significant_latency_difference_below_the_minimum_effect_passes():
    step, by = analyse(
        window("canary", 400, latency=lambda i: base_latency(i) + 8), window("stable", 400)
    )
    latency = by["latency_p95"]
    # Mann-Whitney finds it (p far below alpha), yet +5% at p95 is under the 20% minimum.
    assert latency.p_value < latency.alpha / 100
    assert latency.canary_value < 1.2 * latency.stable_value
    assert latency.verdict == "pass"
    assert "within the minimum effect" in latency.detail
    assert step.verdict == "pass"


def test_a_less_accurate_canary_fails():
    step, by = analyse(
        window("canary", 400, labels=200, wrong=40),
        window("stable", 400, labels=200, wrong=6),
    )
    assert by["accuracy"].verdict == "fail"
    assert (by["accuracy"].canary_value, by["accuracy"].stable_value) == (0.8, 0.97)
    assert step.verdict == "fail"


def test_too_few_requests_is_insufficient_for_error_rate_and_latency():
    step, by = analyse(window("canary", 49), window("stable", 400))
    assert step.verdict == "insufficient data"
    assert by["error_rate"].verdict == "insufficient data"
    assert by["latency_p95"].verdict == "insufficient data"
    assert by["error_rate"].p_value is None and by["error_rate"].canary_value is None
    assert "at least 50 per variant" in by["error_rate"].detail


def test_too_few_successful_requests_is_insufficient_for_latency_alone():
    # Enough requests to judge the error rate (the same 30% on both sides, within tolerance
    # under a lenient policy), but only 42 successful canary requests to time.
    lenient = POLICY.model_copy(update={"max_error_rate_increase": 0.5})
    step, by = analyse(
        window("canary", 60, errors=18), window("stable", 400, errors=120), policy=lenient
    )
    assert by["error_rate"].verdict == "pass"
    assert (by["latency_p95"].verdict, by["latency_p95"].canary_n) == ("insufficient data", 42)
    assert step.verdict == "insufficient data"


def test_too_few_labels_is_insufficient_and_blocks_when_labels_exist():
    step, by = analyse(
        window("canary", 400, labels=29),
        window("stable", 400, labels=200),
    )
    assert (by["accuracy"].verdict, by["accuracy"].canary_n) == ("insufficient data", 29)
    assert (by["error_rate"].verdict, by["latency_p95"].verdict) == ("pass", "pass")
    assert step.verdict == "insufficient data"


def test_no_labels_at_all_is_reported_but_does_not_block():
    step, by = analyse(window("canary", 400), window("stable", 400))
    assert by["accuracy"].verdict == "insufficient data"
    assert "not blocking" in by["accuracy"].detail
    assert step.verdict == "pass"


def test_a_failure_outranks_insufficient_data():
    step, by = analyse(window("canary", 400, errors=80, labels=5), window("stable", 400, labels=5))
    assert by["accuracy"].verdict == "insufficient data"
    assert step.verdict == "fail"


def test_the_alpha_is_split_over_the_planned_steps():
    # 6% against 1% errors on 100 requests each: p ~ 0.027, between 0.05/4 and 0.05.
    canary, stable = window("canary", 100, errors=6), window("stable", 100, errors=1)
    one_look, by_one = analyse(canary, stable, planned_steps=1)
    four_looks, by_four = analyse(canary, stable, planned_steps=4)
    p = by_four["error_rate"].p_value
    assert 0.05 / 4 < p < 0.05
    assert (by_one["error_rate"].alpha, by_four["error_rate"].alpha) == (0.05, 0.0125)
    assert (one_look.verdict, four_looks.verdict) == ("fail", "pass")


def test_the_latency_alpha_is_split_over_the_planned_steps():
    # A fifth of 50 requests 50% slower: p95 +36%, significant at 0.05 but not at 0.05/4.
    slow = window("canary", 50, latency=lambda i: base_latency(i) * (1.5 if i % 5 == 0 else 1.0))
    stable = window("stable", 50)
    _, by_one = analyse(slow, stable, planned_steps=1)
    _, by_four = analyse(slow, stable, planned_steps=4)
    p = by_four["latency_p95"].p_value
    assert 0.05 / 4 < p < 0.05, p
    assert (by_one["latency_p95"].verdict, by_four["latency_p95"].verdict) == ("fail", "pass")


def test_identical_windows_give_p_values_of_one_not_nan():
    step, by = analyse(
        window("canary", 60, latency=lambda i: 5.0), window("stable", 60, latency=lambda i: 5.0)
    )
    assert (by["error_rate"].p_value, by["latency_p95"].p_value) == (1.0, 1.0)
    assert step.verdict == "pass"


def test_planned_steps_must_be_positive():
    with pytest.raises(ValueError, match="planned_steps"):
        analyse(window("canary", 60), window("stable", 60), planned_steps=0)

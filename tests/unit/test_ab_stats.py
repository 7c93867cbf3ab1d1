"""A/B statistics: SRM detection, minimum samples, winners, CI coverage and Welch against scipy."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from governance.domain.policy_sections import ExperimentDefaults
from governance.domain.predictions import Observation
from governance.ml.ab_stats import analyse, sample_ratio, two_proportion, welch

VARIANTS = {"A": "1.0.0", "B": "1.1.0"}
SPLIT = {"A": 50, "B": 50}
DEFAULTS = ExperimentDefaults(alpha=0.05, srm_alpha=0.001, min_samples_per_variant=100)
_ids = itertools.count()


def observed(variant: str, n: int, accuracy: float, revenue=None, version=None) -> list:
    """n labelled binary predictions of which round(n * accuracy) are right."""
    right = round(n * accuracy)
    rows = []
    for i in range(n):
        label = 1
        output = 1 if i < right else 0
        metrics = {"revenue": float(revenue[i])} if revenue is not None else {}
        rows.append(
            Observation(
                id=str(next(_ids)),
                version=version or VARIANTS[variant],
                variant=variant,
                status="ok",
                latency_ms=5.0,
                output=[output],
                label=label,
                metrics=metrics,
            )
        )
    return rows


def test_sample_ratio_mismatch_on_a_50_50_split_observed_5600_4400():
    check = sample_ratio({"A": 5600, "B": 4400}, SPLIT, srm_alpha=0.001)
    assert check.expected == {"A": 5000.0, "B": 5000.0}
    assert check.chi2 == pytest.approx(144.0)  # (600² + 600²) / 5000
    assert check.p_value < 1e-30
    assert check.failed


def test_srm_makes_the_result_invalid_and_names_no_winner():
    # B is far better, but traffic split 56/44 instead of 50/50: nothing can be trusted.
    seen = observed("A", 5600, 0.70) + observed("B", 4400, 0.90)
    result = analyse(seen, VARIANTS, SPLIT, DEFAULTS)
    assert (result.valid, result.sufficient, result.winner) == (False, False, None)
    assert result.verdict().startswith(
        "no winner: sample ratio mismatch: observed {'A': 5600, 'B': 4400} against the split "
        "{'A': 50, 'B': 50}"
    )
    assert result.verdict().endswith("the assignment is broken, so the result is invalid")


def test_a_balanced_split_passes_the_srm_check():
    check = sample_ratio({"A": 5030, "B": 4970}, SPLIT, srm_alpha=0.001)
    assert not check.failed and check.p_value > 0.5


def test_no_winner_below_the_minimum_sample_per_variant():
    seen = observed("A", 99, 0.50) + observed("B", 99, 1.0)
    result = analyse(seen, VARIANTS, SPLIT, DEFAULTS)
    assert (result.valid, result.sufficient, result.winner) == (True, False, None)
    assert result.reason == "insufficient samples: accuracy needs 100 per variant, got A=99, B=99"
    # The comparison is still reported, it just does not decide anything.
    [acc] = [c for c in result.comparisons if c.metric == "accuracy"]
    assert acc.significant


def test_a_clear_winner_is_named_with_its_evidence():
    seen = observed("A", 400, 0.70) + observed("B", 400, 0.85)
    result = analyse(seen, VARIANTS, SPLIT, DEFAULTS)
    assert (result.valid, result.sufficient, result.winner) == (True, True, "B")
    a, b = result.variants
    assert (a.n, a.labelled, a.correct, a.accuracy) == (400, 400, 280, 0.70)
    assert (b.n, b.correct, b.accuracy) == (400, 340, 0.85)
    [acc] = result.comparisons
    assert acc.test == "two-proportion z"
    assert acc.difference == pytest.approx(0.15)
    assert acc.ci_low > 0 and acc.p_value < 1e-5
    assert result.verdict().startswith("winner B: accuracy B 0.8500 vs A 0.7000 (+0.1500, CI [")


def test_the_control_wins_when_the_challenger_is_significantly_worse():
    result = analyse(observed("A", 400, 0.85) + observed("B", 400, 0.70), VARIANTS, SPLIT, DEFAULTS)
    assert result.winner == "A"


def test_no_winner_without_a_significant_difference():
    result = analyse(observed("A", 400, 0.80) + observed("B", 400, 0.81), VARIANTS, SPLIT, DEFAULTS)
    assert result.winner is None
    assert result.reason.startswith("no significant difference in accuracy (B vs A: +0.0100, p=")


def test_observations_of_another_version_or_variant_are_not_counted():
    stray = observed("A", 50, 1.0, version="9.9.9") + observed("C", 10, 1.0, version="1.0.0")
    result = analyse(stray + observed("A", 200, 0.8), VARIANTS, SPLIT, DEFAULTS)
    assert [v.n for v in result.variants] == [200, 0]


def test_two_proportion_ci_contains_the_true_difference_on_synthetic_data():
    rng = np.random.default_rng(7)
    true_a, true_b, n, runs = 0.60, 0.66, 2000, 400
    covered = 0
    for _ in range(runs):
        a, b = rng.binomial(n, true_a), rng.binomial(n, true_b)
        _, _, low, high = two_proportion(int(a), n, int(b), n, alpha=0.05)
        covered += low <= true_b - true_a <= high
    # A 95% interval covers the truth about 95% of the time (binomial sd over 400 runs ~ 1.1%).
    assert 0.92 <= covered / runs <= 0.98


def test_welch_ci_contains_the_true_difference_on_synthetic_data():
    rng = np.random.default_rng(11)
    covered, runs = 0, 400
    for _ in range(runs):
        control = rng.normal(10.0, 2.0, 300)
        variant = rng.normal(10.5, 4.0, 150)  # unequal variances and sizes: Welch's case
        _, _, low, high = welch(control.tolist(), variant.tolist(), alpha=0.05)
        covered += low <= 0.5 <= high
    assert 0.92 <= covered / runs <= 0.98


def test_welch_matches_scipy_and_the_textbook_formula():
    # Example 1 of Wikipedia's "Welch's t-test": t = -2.46, dof = 24.99, p = 0.021 (A1 - A2).
    control = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9]
    control += [20.5, 24.4]
    variant = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0]
    variant += [21.7, 21.4]
    t, p, low, high = welch(control, variant, alpha=0.05)
    expected = stats.ttest_ind(variant, control, equal_var=False)
    assert (t, p) == (pytest.approx(expected.statistic), pytest.approx(expected.pvalue))
    # Welch-Satterthwaite by hand: the same t and a CI around the difference of means.
    x, y = np.array(control), np.array(variant)
    vx, vy = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    dof = (vx + vy) ** 2 / (vx**2 / (len(x) - 1) + vy**2 / (len(y) - 1))
    diff, se = y.mean() - x.mean(), np.sqrt(vx + vy)
    assert t == pytest.approx(diff / se)
    half = stats.t.ppf(0.975, dof) * se
    assert (low, high) == (pytest.approx(diff - half), pytest.approx(diff + half))
    assert dof == pytest.approx(24.99, abs=0.01)
    assert (t, p) == (pytest.approx(-2.46, abs=0.005), pytest.approx(0.021, abs=0.0005))


def test_business_metrics_are_compared_with_welch():
    rng = np.random.default_rng(3)
    seen = observed("A", 300, 0.8, revenue=rng.normal(10, 2, 300)) + observed(
        "B", 300, 0.8, revenue=rng.normal(12, 2, 300)
    )
    result = analyse(seen, VARIANTS, SPLIT, DEFAULTS)
    assert result.variants[1].means["revenue"] == pytest.approx(12, abs=0.3)
    [revenue] = [c for c in result.comparisons if c.metric == "revenue"]
    assert revenue.test == "Welch t" and revenue.significant and revenue.ci_low > 1
    # Accuracy is the primary metric and equal here, so there is no winner...
    assert result.winner is None
    # ...unless revenue is named the primary metric.
    assert analyse(seen, VARIANTS, SPLIT, DEFAULTS, primary="revenue").winner == "B"


def test_the_result_is_json_safe():
    result = analyse(observed("A", 5, 1.0) + observed("B", 5, 1.0), VARIANTS, SPLIT, DEFAULTS)
    data = result.to_json()
    assert data["verdict"] == result.verdict()
    assert data["variants"][0]["name"] == "A" and data["srm"]["failed"] is False


def test_constant_metrics_are_not_tested():
    t, p, low, high = welch([1.0, 1.0, 1.0], [2.0, 2.0], alpha=0.05)
    assert math.isnan(t) and math.isnan(p) and (low, high) == (1.0, 1.0)

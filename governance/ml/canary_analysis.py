"""Canary analysis: one step's canary observations against stable's, metric by metric.

Three metrics, each "pass", "fail" or "insufficient data" (never a silent pass):

- error_rate (status != "ok"): fails when the canary's error rate is significantly above
  stable's plus `max_error_rate_increase` (one-sided two-proportion z-test against that
  margin), and also when it is significantly above stable's at all (the classic pooled
  one-sided z-test) while the observed increase is beyond the margin. Without the second
  clause a small but clearly worse canary would pass only because the margin test lacks
  power; without the "beyond the margin" condition the tolerance would mean nothing. The
  reported p-value is the pooled test's; the detail gives both.
- latency_p95 (successful requests only; errors are error_rate's business): fails when the
  Mann-Whitney U test says canary latencies are stochastically greater AND the canary's p95
  exceeds stable's by more than `latency_min_effect` (relative), as Kayenta does, so a
  significant but negligible slow-down does not roll back a release.
- accuracy (successful predictions with a label; correct means output == label): fails like
  error_rate, mirrored: canary accuracy significantly below stable's minus
  `max_accuracy_drop`, or significantly below stable's with an observed drop beyond it.

Each test runs at alpha / planned_steps (Bonferroni over the planned looks), so looking at
every step keeps the whole rollout's false-alarm rate at or below alpha.

The step's verdict: "fail" if any metric fails; otherwise "insufficient data" if error_rate
or latency_p95 is insufficient, or accuracy is insufficient while either variant has labels;
otherwise "pass". With no labels at all the accuracy row still says "insufficient data" but
does not block, because many models get labels days later (or never) and the canary would
otherwise hold forever.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
from scipy.stats import mannwhitneyu, norm

from governance.domain.policy_sections import CanaryDefaults
from governance.domain.predictions import Observation

Verdict = Literal["pass", "fail", "insufficient data"]
Metric = Literal["error_rate", "latency_p95", "accuracy"]
PASS: Verdict = "pass"
FAIL: Verdict = "fail"
INSUFFICIENT: Verdict = "insufficient data"


@dataclass(frozen=True)
class MetricVerdict:
    """One metric's comparison of canary against stable, with the numbers behind it."""

    metric: Metric
    verdict: Verdict
    canary_n: int
    stable_n: int
    canary_value: float | None
    stable_value: float | None
    p_value: float | None
    alpha: float
    detail: str


@dataclass(frozen=True)
class StepVerdict:
    """A canary step's verdict at one weight and the metric verdicts it was drawn from."""

    weight: int
    verdict: Verdict
    metrics: list[MetricVerdict]

    def rows(self) -> list[dict]:
        """One JSON-ready row per metric, for a Prefect table artifact and the audit event."""
        return [{"weight": self.weight, **asdict(m)} for m in self.metrics]


def analyse_step(
    canary: Sequence[Observation],
    stable: Sequence[Observation],
    *,
    weight: int,
    planned_steps: int,
    policy: CanaryDefaults,
) -> StepVerdict:
    """Compare the canary's observations with stable's over one step's window."""
    if planned_steps < 1:
        raise ValueError(f"planned_steps must be at least 1, got {planned_steps}")
    alpha = policy.alpha / planned_steps
    error, latency, accuracy = (
        error_rate(canary, stable, policy, alpha),
        latency_p95(canary, stable, policy, alpha),
        accuracy_of(canary, stable, policy, alpha),
    )
    metrics = [error, latency, accuracy]
    labels_exist = accuracy.canary_n > 0 or accuracy.stable_n > 0
    if any(m.verdict == FAIL for m in metrics):
        verdict = FAIL
    elif INSUFFICIENT in (error.verdict, latency.verdict) or (
        accuracy.verdict == INSUFFICIENT and labels_exist
    ):
        verdict = INSUFFICIENT
    else:
        verdict = PASS
    return StepVerdict(weight=weight, verdict=verdict, metrics=metrics)


def error_rate(
    canary: Sequence[Observation],
    stable: Sequence[Observation],
    policy: CanaryDefaults,
    alpha: float,
) -> MetricVerdict:
    """Error rate (status != "ok"): is the canary's worse than stable's beyond the margin?"""
    n_c, n_s = len(canary), len(stable)
    if min(n_c, n_s) < policy.min_samples:
        return _short("error_rate", n_c, n_s, policy.min_samples, "requests", alpha)
    x_c = sum(o.status != "ok" for o in canary)
    x_s = sum(o.status != "ok" for o in stable)
    margin = policy.max_error_rate_increase
    verdict, p, why = _worse_beyond(x_c, n_c, x_s, n_s, margin, alpha)
    detail = (
        f"error rate {x_c / n_c:.2%} ({x_c}/{n_c}) vs {x_s / n_s:.2%} ({x_s}/{n_s}), "
        f"tolerated increase {margin:.1%}: {why}"
    )
    return MetricVerdict("error_rate", verdict, n_c, n_s, x_c / n_c, x_s / n_s, p, alpha, detail)


def accuracy_of(
    canary: Sequence[Observation],
    stable: Sequence[Observation],
    policy: CanaryDefaults,
    alpha: float,
) -> MetricVerdict:
    """Accuracy on labelled successful predictions: is the canary's worse beyond the margin?"""
    c = [o for o in canary if o.status == "ok" and o.label is not None]
    s = [o for o in stable if o.status == "ok" and o.label is not None]
    if not c and not s:
        why = "no labelled outcomes yet for either variant: reported, not blocking"
        return MetricVerdict("accuracy", INSUFFICIENT, 0, 0, None, None, None, alpha, why)
    if min(len(c), len(s)) < policy.min_labels:
        return _short("accuracy", len(c), len(s), policy.min_labels, "labelled outcomes", alpha)
    # Tested as the share of wrong answers, so "canary accuracy below stable's minus the
    # drop" is the same one-sided test as "canary errors above stable's plus the increase".
    wrong_c = sum(o.output != o.label for o in c)
    wrong_s = sum(o.output != o.label for o in s)
    margin = policy.max_accuracy_drop
    verdict, p, why = _worse_beyond(wrong_c, len(c), wrong_s, len(s), margin, alpha)
    acc_c, acc_s = 1 - wrong_c / len(c), 1 - wrong_s / len(s)
    detail = (
        f"accuracy {acc_c:.2%} ({len(c) - wrong_c}/{len(c)}) vs {acc_s:.2%} "
        f"({len(s) - wrong_s}/{len(s)}), tolerated drop {margin:.1%}: {why}"
    )
    return MetricVerdict("accuracy", verdict, len(c), len(s), acc_c, acc_s, p, alpha, detail)


def latency_p95(
    canary: Sequence[Observation],
    stable: Sequence[Observation],
    policy: CanaryDefaults,
    alpha: float,
) -> MetricVerdict:
    """Latency of successful requests: significantly slower AND a p95 beyond the minimum effect."""
    c = [o.latency_ms for o in canary if o.status == "ok"]
    s = [o.latency_ms for o in stable if o.status == "ok"]
    if min(len(c), len(s)) < policy.min_samples:
        return _short(
            "latency_p95", len(c), len(s), policy.min_samples, "successful requests", alpha
        )
    p95_c, p95_s = float(np.percentile(c, 95)), float(np.percentile(s, 95))
    p = float(mannwhitneyu(c, s, alternative="greater").pvalue)
    effect = _relative_increase(p95_c, p95_s)
    significant, large = p < alpha, effect > policy.latency_min_effect
    verdict = FAIL if significant and large else PASS
    if verdict == FAIL:
        why = "significantly slower beyond the minimum effect"
    elif significant:
        why = "significantly slower but within the minimum effect"
    else:
        why = "not significantly slower"
    detail = (
        f"p95 {p95_c:.1f} ms vs {p95_s:.1f} ms ({_pct(effect)}, minimum effect "
        f"{policy.latency_min_effect:.0%}); Mann-Whitney p={p:.3g}, alpha {alpha:.3g}: {why}"
    )
    return MetricVerdict("latency_p95", verdict, len(c), len(s), p95_c, p95_s, p, alpha, detail)


def _worse_beyond(
    x_c: int, n_c: int, x_s: int, n_s: int, margin: float, alpha: float
) -> tuple[Verdict, float, str]:
    """Whether the canary's share of bad outcomes is worse than stable's beyond `margin`.

    Fail when it is significantly above stable's + margin, or significantly above stable's
    with an observed increase beyond the margin. Returns the verdict, the pooled test's
    p-value (the one reported) and why.
    """
    r_c, r_s = x_c / n_c, x_s / n_s
    p_margin = _above_margin(r_c, n_c, r_s, n_s, margin)
    p_zero = _above_pooled(x_c, n_c, x_s, n_s)
    tests = f"p={p_zero:.3g} against stable, p={p_margin:.3g} against the tolerance"
    tests += f", alpha {alpha:.3g}"
    if p_margin < alpha:
        return FAIL, p_zero, f"{tests}: significantly worse beyond the tolerance"
    if r_c - r_s > margin and p_zero < alpha:
        return FAIL, p_zero, f"{tests}: significantly worse, and beyond the tolerance"
    if r_c - r_s > margin:
        return PASS, p_zero, f"{tests}: beyond the tolerance but not significantly worse"
    return PASS, p_zero, f"{tests}: within the tolerance"


def _above_margin(r_c: float, n_c: int, r_s: float, n_s: int, margin: float) -> float:
    """One-sided p-value of H1: canary rate > stable rate + margin (unpooled z-test)."""
    # Unpooled: under a non-zero margin the two rates are not assumed equal.
    se = math.sqrt(r_c * (1 - r_c) / n_c + r_s * (1 - r_s) / n_s)
    diff = r_c - r_s - margin
    if se == 0:
        # Both rates are 0 or 1: no sampling spread, so the observed difference decides.
        return 0.0 if diff > 0 else 1.0
    return float(norm.sf(diff / se))


def _above_pooled(x_c: int, n_c: int, x_s: int, n_s: int) -> float:
    """One-sided p-value of H1: canary rate > stable rate (the classic pooled z-test)."""
    pooled = (x_c + x_s) / (n_c + n_s)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_c + 1 / n_s))
    if se == 0:
        return 1.0  # every outcome the same in both variants: no difference to find
    return float(norm.sf((x_c / n_c - x_s / n_s) / se))


def _short(
    metric: Metric, n_c: int, n_s: int, needed: int, what: str, alpha: float
) -> MetricVerdict:
    """An "insufficient data" verdict naming the shortfall."""
    return MetricVerdict(
        metric,
        INSUFFICIENT,
        n_c,
        n_s,
        None,
        None,
        None,
        alpha,
        f"{n_c} canary and {n_s} stable {what}; at least {needed} per variant needed",
    )


def _relative_increase(canary: float, stable: float) -> float:
    """How much larger the canary value is than stable's, as a fraction of stable's."""
    if stable > 0:
        return canary / stable - 1
    return math.inf if canary > 0 else 0.0


def _pct(effect: float) -> str:
    return "+inf" if math.isinf(effect) else f"{effect:+.0%}"

"""A/B test statistics over logged predictions and outcomes: the only module that imports scipy.

Variants are compared with the first (the control): a two-proportion z-test for accuracy,
Welch's t-test for every numeric outcome metric, each with a confidence interval of the
difference (variant minus control). A sample-ratio-mismatch chi-square test against the
configured split guards the whole result: when traffic did not split as configured, the
assignment is broken and no comparison can be trusted, so no winner is named.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

from scipy import stats

from governance.domain.policy_sections import ExperimentDefaults

if TYPE_CHECKING:  # only the attribute names are used: any record with them will do
    from governance.domain.predictions import Observation

ACCURACY = "accuracy"


@dataclass(frozen=True)
class VariantMetrics:
    """One variant's sample: predictions, labelled outcomes, accuracy and business means."""

    name: str
    version: str
    n: int
    labelled: int
    correct: int
    accuracy: float | None
    means: dict[str, float]
    counts: dict[str, int]
    # metric (accuracy included) -> (low, high): the variant's own interval, for error bars.
    intervals: dict[str, tuple[float, float]]


@dataclass(frozen=True)
class Comparison:
    """One metric of one variant against the control, with the test and its CI."""

    metric: str
    test: Literal["two-proportion z", "Welch t"]
    control: str
    variant: str
    control_value: float
    variant_value: float
    difference: float
    ci_low: float
    ci_high: float
    statistic: float
    p_value: float
    significant: bool


@dataclass(frozen=True)
class SampleRatioCheck:
    """Observed assignments against the configured split (chi-square goodness of fit)."""

    observed: dict[str, int]
    expected: dict[str, float]
    chi2: float
    p_value: float
    failed: bool


@dataclass(frozen=True)
class ABResult:
    """The analysis: per-variant metrics, comparisons, SRM check and the verdict."""

    control: str
    primary: str
    alpha: float
    variants: tuple[VariantMetrics, ...]
    comparisons: tuple[Comparison, ...]
    srm: SampleRatioCheck | None
    valid: bool
    sufficient: bool
    winner: str | None
    reason: str

    def verdict(self) -> str:
        """One line: the winner and why, or 'no winner: <why>'."""
        return (
            f"winner {self.winner}: {self.reason}" if self.winner else f"no winner: {self.reason}"
        )

    def to_json(self) -> dict[str, Any]:
        """The result as JSON-safe data (NaN becomes None), as stored and rendered."""
        return _json_safe({**asdict(self), "verdict": self.verdict()})


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


# --- per-variant metrics ----------------------------------------------------------------


def _as_label(value: Any) -> Any:
    """A prediction or label as a comparable value: [x] -> x, {"prediction": x} -> x."""
    if isinstance(value, dict):
        for key in ("prediction", "label", "class"):
            if key in value:
                return _as_label(value[key])
    if isinstance(value, list) and len(value) == 1:
        return _as_label(value[0])
    if isinstance(value, bool):
        return int(value)
    return value


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def variant_samples(
    observations: Iterable[Observation], variants: Mapping[str, str]
) -> dict[str, list[Observation]]:
    """The observations of each variant, kept only when logged with the variant's version."""
    grouped: dict[str, list[Observation]] = {name: [] for name in variants}
    for seen in observations:
        if variants.get(seen.variant) == seen.version:
            grouped[seen.variant].append(seen)
    return grouped


def metric_values(sample: Sequence[Observation], metric: str) -> list[float]:
    """The numeric values of one metric: 1/0 correctness for accuracy, else outcome metrics."""
    if metric == ACCURACY:
        return [
            float(_as_label(o.output) == _as_label(o.label)) for o in sample if o.label is not None
        ]
    return [
        float(o.metrics[metric]) for o in sample if o.metrics and _numeric(o.metrics.get(metric))
    ]


def interval(values: Sequence[float], alpha: float, proportion: bool) -> tuple[float, float]:
    """The mean's confidence interval: Wald for a proportion, Student's t for a mean."""
    n = len(values)
    mean = sum(values) / n if n else math.nan
    if n < 2:
        return mean, mean
    if proportion:
        half = float(stats.norm.ppf(1 - alpha / 2)) * math.sqrt(mean * (1 - mean) / n)
    else:
        sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
        half = float(stats.t.ppf(1 - alpha / 2, n - 1)) * sd / math.sqrt(n)
    return mean - half, mean + half


def summarise(
    name: str, version: str, sample: Sequence[Observation], alpha: float = 0.05
) -> VariantMetrics:
    """n, accuracy on labelled outcomes, and the mean of every numeric outcome metric."""
    hits = metric_values(sample, ACCURACY)
    names = sorted({k for o in sample if o.metrics for k, v in o.metrics.items() if _numeric(v)})
    values = {metric: metric_values(sample, metric) for metric in names}
    intervals = {m: interval(v, alpha, proportion=False) for m, v in values.items()}
    if hits:
        intervals[ACCURACY] = interval(hits, alpha, proportion=True)
    return VariantMetrics(
        name=name,
        version=version,
        n=len(sample),
        labelled=len(hits),
        correct=int(sum(hits)),
        accuracy=sum(hits) / len(hits) if hits else None,
        means={m: sum(v) / len(v) for m, v in values.items()},
        counts={m: len(v) for m, v in values.items()},
        intervals=intervals,
    )


# --- tests ------------------------------------------------------------------------------


def two_proportion(
    successes_a: int, n_a: int, successes_b: int, n_b: int, alpha: float
) -> tuple[float, float, float, float]:
    """(z, two-sided p, CI low, CI high) for p_b - p_a; pooled SE tests, unpooled SE bounds."""
    p_a, p_b = successes_a / n_a, successes_b / n_b
    pooled = (successes_a + successes_b) / (n_a + n_b)
    se_test = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    diff = p_b - p_a
    if se_test == 0:
        # Both variants all right or all wrong: no evidence of any difference.
        z, p = 0.0, 1.0
    else:
        z = diff / se_test
        p = float(2 * stats.norm.sf(abs(z)))
    se_ci = math.sqrt(p_a * (1 - p_a) / n_a + p_b * (1 - p_b) / n_b)
    half = float(stats.norm.ppf(1 - alpha / 2)) * se_ci
    return z, p, diff - half, diff + half


def welch(
    control: Sequence[float], variant: Sequence[float], alpha: float
) -> tuple[float, float, float, float]:
    """(t, two-sided p, CI low, CI high) of mean(variant) - mean(control), Welch's t-test.

    Two constant samples have no variance to test against: t and p are NaN (never
    significant) and the interval is the observed difference itself.
    """
    if len(set(control)) == 1 and len(set(variant)) == 1:
        diff = variant[0] - control[0]
        return math.nan, math.nan, diff, diff
    result = stats.ttest_ind(variant, control, equal_var=False)
    ci = result.confidence_interval(confidence_level=1 - alpha)
    return float(result.statistic), float(result.pvalue), float(ci.low), float(ci.high)


def sample_ratio(counts: Mapping[str, int], weights: Mapping[str, int], srm_alpha: float):
    """Chi-square of observed assignments against the configured split; None with no traffic."""
    total = sum(counts.values())
    if total == 0:
        return None
    names = list(weights)
    expected = {name: total * weights[name] / 100 for name in names}
    chi2, p = stats.chisquare([counts[n] for n in names], f_exp=[expected[n] for n in names])
    return SampleRatioCheck(
        observed={n: counts[n] for n in names},
        expected=expected,
        chi2=float(chi2),
        p_value=float(p),
        failed=bool(p < srm_alpha),
    )


def compare(
    metric: str, control: VariantMetrics, variant: VariantMetrics, samples, alpha: float
) -> Comparison | None:
    """The variant against the control on one metric, or None with too few values to test."""
    if metric == ACCURACY:
        if not (control.labelled and variant.labelled):
            return None
        test = "two-proportion z"
        a, b = control.accuracy, variant.accuracy
        stat, p, low, high = two_proportion(
            control.correct, control.labelled, variant.correct, variant.labelled, alpha
        )
    else:
        xs = metric_values(samples[control.name], metric)
        ys = metric_values(samples[variant.name], metric)
        if len(xs) < 2 or len(ys) < 2:
            return None
        test = "Welch t"
        a, b = sum(xs) / len(xs), sum(ys) / len(ys)
        stat, p, low, high = welch(xs, ys, alpha)
    return Comparison(
        metric=metric,
        test=test,
        control=control.name,
        variant=variant.name,
        control_value=a,
        variant_value=b,
        difference=b - a,
        ci_low=low,
        ci_high=high,
        statistic=stat,
        p_value=p,
        significant=bool(p < alpha),  # NaN (no variance at all) compares False
    )


# --- the verdict ------------------------------------------------------------------------


def analyse(
    observations: Iterable[Observation],
    variants: Mapping[str, str],
    weights: Mapping[str, int],
    defaults: ExperimentDefaults,
    primary: str = ACCURACY,
) -> ABResult:
    """Per-variant metrics, every comparison against the first variant, SRM, and the verdict.

    With k variants each test runs at alpha / (k - 1) (Bonferroni), so that naming a winner
    among several challengers is not k - 1 chances at a false positive.
    """
    names = list(variants)
    control = names[0]
    alpha = defaults.alpha / max(1, len(names) - 1)
    samples = variant_samples(observations, variants)
    metrics = tuple(summarise(n, variants[n], samples[n], alpha) for n in names)
    srm = sample_ratio({m.name: m.n for m in metrics}, weights, defaults.srm_alpha)
    every = sorted({m for v in metrics for m in v.means})
    comparisons = tuple(
        found
        for metric in [ACCURACY, *every]
        for variant in metrics[1:]
        if (found := compare(metric, metrics[0], variant, samples, alpha)) is not None
    )
    base = {
        "control": control,
        "primary": primary,
        "alpha": defaults.alpha,
        "variants": metrics,
        "comparisons": comparisons,
        "srm": srm,
    }
    size = {
        m.name: m.labelled if primary == ACCURACY else m.counts.get(primary, 0) for m in metrics
    }
    if srm is not None and srm.failed:
        reason = (
            f"sample ratio mismatch: observed {srm.observed} against the split "
            f"{dict(weights)} (chi-square p={srm.p_value:.2g} < {defaults.srm_alpha}); "
            "the assignment is broken, so the result is invalid"
        )
        return ABResult(**base, valid=False, sufficient=False, winner=None, reason=reason)
    short = {n: k for n, k in size.items() if k < defaults.min_samples_per_variant}
    if short:
        reason = (
            f"insufficient samples: {primary} needs {defaults.min_samples_per_variant} per "
            f"variant, got {', '.join(f'{n}={k}' for n, k in short.items())}"
        )
        return ABResult(**base, valid=True, sufficient=False, winner=None, reason=reason)
    winner, reason = _winner(primary, control, [c for c in comparisons if c.metric == primary])
    return ABResult(**base, valid=True, sufficient=True, winner=winner, reason=reason)


def _winner(primary: str, control: str, tests: list[Comparison]) -> tuple[str | None, str]:
    """The best challenger significantly above the control; the control if all are below."""
    if not tests:
        return None, f"no {primary} values to compare"
    better = [c for c in tests if c.significant and c.difference > 0]
    if better:
        best = max(better, key=lambda c: c.difference)
        return best.variant, _because(primary, best)
    if all(c.significant and c.difference < 0 for c in tests):
        worst_gap = max(tests, key=lambda c: c.difference)
        return control, _because(primary, worst_gap)
    closest = min(tests, key=lambda c: c.p_value if not math.isnan(c.p_value) else 1.0)
    return None, (
        f"no significant difference in {primary} "
        f"({closest.variant} vs {control}: {closest.difference:+.4f}, p={closest.p_value:.3g})"
    )


def _because(primary: str, c: Comparison) -> str:
    return (
        f"{primary} {c.variant} {c.variant_value:.4f} vs {c.control} {c.control_value:.4f} "
        f"({c.difference:+.4f}, CI [{c.ci_low:+.4f}, {c.ci_high:+.4f}], p={c.p_value:.3g})"
    )

"""Evaluation results and the gate decision: a pass/fail check per threshold of the policy."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from governance.domain.errors import InvalidInput
from governance.domain.gate_policy import GatePolicy, GateSubject, Threshold, levels_text

# Regression checks need to know which way is "worse"; metrics in neither set are not compared.
HIGHER_IS_BETTER: frozenset[str] = frozenset(
    {"accuracy", "f1_weighted", "auc_roc", "precision", "recall", "r2"}
)
LOWER_IS_BETTER: frozenset[str] = frozenset({"rmse", "mae"})

# The metric whose spread across groups is the fairness gap. Regression uses MAE rather than r2:
# r2 depends on each group's own target variance, so it swings on small or homogeneous groups,
# while MAE stays in target units and is defined for any group of two or more rows.
PRIMARY_METRIC: dict[str, str] = {"classification": "accuracy", "regression": "mae"}

# Float noise (0.92 - 0.90 = 0.020000000000000018) must not fail a drop of exactly the tolerance.
_EPSILON = 1e-9

Task = Literal["classification", "regression"]


class EvaluationResult(BaseModel):
    """One candidate's metrics on a dataset, by group, with latency and the production baseline."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    task: Task
    dataset_name: str
    dataset_digest: str
    n_rows: int = Field(ge=1)
    metrics: dict[str, float]
    per_group: dict[str, dict[str, dict[str, float]]] = Field(default_factory=dict)
    fairness_gap: dict[str, float] = Field(default_factory=dict)
    latency_p95_ms: float = Field(ge=0)
    baseline: dict[str, float] | None = None
    baseline_version: str | None = None

    @property
    def primary_metric(self) -> str:
        """The metric the fairness gap is measured on for this task."""
        return PRIMARY_METRIC[self.task]

    @property
    def max_fairness_gap(self) -> float | None:
        """The widest gap over all group columns, or None when no group was evaluated."""
        return max(self.fairness_gap.values(), default=None)


class ThresholdCheck(BaseModel):
    """One line of a gate decision: what was checked, what was seen, and why it passed or failed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    passed: bool
    observed: float | None = None
    limit: float | None = None
    reason: str
    # False when the check does not apply to this model and data (no groups to compare): it
    # then passes by name, with its reason, and observes nothing rather than a made-up number.
    applicable: bool = True

    @model_validator(mode="after")
    def _not_applicable_passes_unobserved(self) -> ThresholdCheck:
        if not self.applicable and (not self.passed or self.observed is not None):
            raise InvalidInput(
                f"check {self.name} is not applicable: it passes and observes nothing"
            )
        return self

    @property
    def status(self) -> Literal["pass", "fail", "not applicable"]:
        """What the check came to, in the words the reports use."""
        if not self.applicable:
            return "not applicable"
        return "pass" if self.passed else "fail"


class GateDecision(BaseModel):
    """The gate's verdict: it passes only if every check passes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    passed: bool
    checks: list[ThresholdCheck]

    @model_validator(mode="after")
    def _verdict_matches_checks(self) -> GateDecision:
        # An approver trusts the headline; it must never say "passed" over a failed check.
        if self.passed != all(check.passed for check in self.checks):
            raise InvalidInput(
                f"gate decision says passed={self.passed} but its checks say otherwise"
            )
        return self

    @property
    def failures(self) -> list[ThresholdCheck]:
        """The checks that failed, in order."""
        return [check for check in self.checks if not check.passed]

    @property
    def not_applicable(self) -> list[ThresholdCheck]:
        """The checks that did not apply (and so passed by name), in order."""
        return [check for check in self.checks if not check.applicable]

    def summary(self) -> str:
        """One line: the verdict, which checks failed, and which did not apply."""
        total, skipped = len(self.checks), self.not_applicable
        if self.passed:
            text = f"gate passed: all {total} checks passed"
            if skipped:
                text = f"gate passed: {total - len(skipped)} of {total} checks passed"
        else:
            names = ", ".join(check.name for check in self.failures)
            text = f"gate failed: {len(self.failures)} of {total} checks failed ({names})"
        if skipped:
            text += f", {len(skipped)} not applicable ({', '.join(c.name for c in skipped)})"
        return text


def fmt_number(value: float | None) -> str:
    """Render a metric for people: at most four decimals, no trailing zeros, '-' for nothing."""
    if value is None:
        return "-"
    if value != 0 and abs(value) < 1e-3:
        return f"{value:.2e}"
    return f"{value:.4f}".rstrip("0").rstrip(".")


def _threshold_check(metrics: dict[str, float], threshold: Threshold) -> ThresholdCheck:
    name = f"threshold:{threshold.metric}"
    observed = metrics.get(threshold.metric)
    if observed is None:
        return ThresholdCheck(
            name=name,
            passed=False,
            limit=threshold.value,
            reason=f"metric {threshold.metric} not computed",
        )
    if threshold.direction == "min":
        passed, op = observed >= threshold.value, (">=" if observed >= threshold.value else "<")
    else:
        passed, op = observed <= threshold.value, ("<=" if observed <= threshold.value else ">")
    reason = f"{threshold.metric} {fmt_number(observed)} {op} {fmt_number(threshold.value)}"
    return ThresholdCheck(
        name=name, passed=passed, observed=observed, limit=threshold.value, reason=reason
    )


def _regression_check(
    metric: str, observed: float, baseline: float, version: str | None, tolerance: float
) -> ThresholdCheck:
    higher_better = metric in HIGHER_IS_BETTER
    worsening = baseline - observed if higher_better else observed - baseline
    limit = baseline - tolerance if higher_better else baseline + tolerance
    production = f"production {version}" if version else "production"
    passed = worsening <= tolerance + _EPSILON
    if worsening <= 0:
        reason = (
            f"{metric} {fmt_number(observed)} vs {production} {fmt_number(baseline)}: not worse"
        )
    else:
        verb = "dropped" if higher_better else "rose"
        side = "below" if higher_better else "above"
        reason = f"{metric} {verb} {fmt_number(worsening)} {side} {production}"
        reason += f" (tolerance {fmt_number(tolerance)})"
    return ThresholdCheck(
        name=f"regression:{metric}", passed=passed, observed=observed, limit=limit, reason=reason
    )


def _regression_checks(result: EvaluationResult, tolerance: float) -> list[ThresholdCheck]:
    if result.baseline is None:
        return []
    directed = HIGHER_IS_BETTER | LOWER_IS_BETTER
    shared = sorted(set(result.metrics) & set(result.baseline) & directed)
    return [
        _regression_check(
            m, result.metrics[m], result.baseline[m], result.baseline_version, tolerance
        )
        for m in shared
    ]


def _fairness_check(
    result: EvaluationResult, policy: GatePolicy, subject: GateSubject
) -> ThresholdCheck:
    limit = policy.max_fairness_gap
    gap = result.max_fairness_gap
    if gap is None:
        return _ungrouped_check(result, policy, subject)
    worst = max(result.fairness_gap, key=lambda column: result.fairness_gap[column])
    passed = gap <= limit + _EPSILON
    op = "<=" if passed else ">"
    reason = (
        f"{result.primary_metric} gap across {worst} groups "
        f"{fmt_number(gap)} {op} {fmt_number(limit)}"
    )
    return ThresholdCheck(
        name="fairness_gap", passed=passed, observed=gap, limit=limit, reason=reason
    )


def _ungrouped_check(
    result: EvaluationResult, policy: GatePolicy, subject: GateSubject
) -> ThresholdCheck:
    """The fairness check when no gap was computed: not applicable only if nothing asks for one."""
    limit = policy.max_fairness_gap
    if result.per_group:
        # Group columns were evaluated, but no group had two rows: that is no evidence either way.
        columns = ", ".join(sorted(result.per_group))
        reason = f"fairness gap not computed: no group of {columns} has two or more rows"
        return ThresholdCheck(name="fairness_gap", passed=False, limit=limit, reason=reason)
    asks = []
    if subject.declared_groups is None:
        asks.append("the version has no card to say it declares no groups")
    elif subject.declared_groups:
        asks.append(f"the card declares groups ({', '.join(subject.declared_groups)})")
    risk, required = subject.risk_level, policy.require_groups_at
    if risk in required:
        levels = levels_text(required)
        asks.append(
            f"the policy requires groups at risk level {risk.value} (require_groups_at: {levels})"
        )
    if asks:
        reason = (
            f"fairness gap not computed: the dataset has no group column, but {' and '.join(asks)}"
        )
        return ThresholdCheck(name="fairness_gap", passed=False, limit=limit, reason=reason)
    reason = (
        "fairness gap not applicable: the card declares no groups "
        "and the dataset has no group column"
    )
    if required:
        reason += f" (risk level {risk.value} is not in require_groups_at: {levels_text(required)})"
    return ThresholdCheck(
        name="fairness_gap", passed=True, applicable=False, limit=limit, reason=reason
    )


def _latency_check(result: EvaluationResult, limit: float) -> ThresholdCheck:
    observed = result.latency_p95_ms
    passed = observed <= limit
    op = "<=" if passed else ">"
    reason = f"p95 latency {fmt_number(observed)} ms {op} {fmt_number(limit)} ms"
    return ThresholdCheck(
        name="latency_p95_ms", passed=passed, observed=observed, limit=limit, reason=reason
    )


def decide_gate(result: EvaluationResult, policy: GatePolicy, subject: GateSubject) -> GateDecision:
    """Check a result against the policy for this model: metrics, regression, fairness, latency."""
    checks = [_threshold_check(result.metrics, t) for t in policy.thresholds]
    checks += _regression_checks(result, policy.regression_tolerance)
    if policy.max_fairness_gap is not None:
        checks.append(_fairness_check(result, policy, subject))
    if policy.max_latency_p95_ms is not None:
        checks.append(_latency_check(result, policy.max_latency_p95_ms))
    return GateDecision(passed=all(c.passed for c in checks), checks=checks)

"""Grading one case's completion (assertions and safety) and summarising a suite's results."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from governance.domain.prompt_suites import (
    HALLUCINATION,
    AssertionResult,
    Case,
    CaseResult,
    Reply,
    SafetyFinding,
    Suite,
    SuiteResult,
)
from governance.llm.assertions import grade
from governance.llm.safety import check_output

# Float noise in a weighted average must not fail a score that meets the threshold exactly.
_EPSILON = 1e-9


def grade_case(case: Case, completion: Reply, *, system_prompt: str, suite: Suite) -> CaseResult:
    """The case's verdict: no error, no safety finding, and its assertions (or score) pass."""
    assertions = suite.assertions_for(case)
    if completion.error is not None:
        reason = f"no output: {completion.error}"
        results = [
            AssertionResult(
                type=a.type,
                passed=False,
                score=0.0,
                reason=reason,
                metric=a.metric,
                weight=a.weight,
            )
            for a in assertions
        ]
        return _case_result(case, completion, results, [], passed=False, score=0.0)
    results = [grade(a, completion) for a in assertions]
    findings = check_output(
        completion.text, system_prompt=system_prompt, forbidden=suite.forbidden, canary=suite.canary
    )
    score = weighted_score(results)
    if case.threshold is None:
        verdict = all(r.passed for r in results)
    else:
        verdict = score + _EPSILON >= case.threshold
    return _case_result(
        case, completion, results, findings, passed=verdict and not findings, score=score
    )


def weighted_score(results: Sequence[AssertionResult]) -> float:
    """The weight-averaged score; with no weight at all, 1 if every assertion passed, else 0."""
    total = sum(r.weight for r in results)
    if total == 0:
        return 1.0 if all(r.passed for r in results) else 0.0
    return sum(r.score * r.weight for r in results) / total


def _case_result(
    case: Case,
    completion: Reply,
    results: list[AssertionResult],
    findings: list[SafetyFinding],
    *,
    passed: bool,
    score: float,
) -> CaseResult:
    return CaseResult(
        index=case.index,
        description=case.description,
        vars=case.vars,
        output=completion.text,
        latency_ms=completion.latency_ms,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        cost=completion.cost,
        passed=passed,
        score=min(max(score, 0.0), 1.0),
        assertions=results,
        safety=findings,
        error=completion.error,
    )


def summarise(suite: Suite, results: Sequence[CaseResult]) -> SuiteResult:
    """The suite's figures; assertion and metric rates count only cases that got an output."""
    answered = [c for c in results if c.error is None]
    errored = [c for c in results if c.error is not None]
    passed = sum(c.passed for c in results)
    metrics = _metric_rates(answered)
    latencies = [c.latency_ms for c in answered]
    return SuiteResult(
        description=suite.description,
        cases=list(results),
        total=len(results),
        passed=passed,
        pass_rate=passed / len(results) if results else 0.0,
        per_assertion=_per_assertion(answered),
        metrics=metrics,
        hallucination_rate=1 - metrics[HALLUCINATION] if HALLUCINATION in metrics else None,
        safety_failures=sum(bool(c.safety) for c in results),
        errors=len(errored),
        first_error=errored[0].error if errored else None,
        latency_p95_ms=nearest_rank(latencies, 95),
        latency_mean_ms=sum(latencies) / len(latencies) if latencies else None,
        cost_total=_total([c.cost for c in results]),
        prompt_tokens=_total([c.prompt_tokens for c in results]),
        completion_tokens=_total([c.completion_tokens for c in results]),
    )


def _per_assertion(cases: Sequence[CaseResult]) -> dict[str, dict[str, int]]:
    passed, total = Counter(), Counter()
    for case in cases:
        for a in case.assertions:
            total[a.type] += 1
            passed[a.type] += a.passed
    return {kind: {"passed": passed[kind], "total": total[kind]} for kind in sorted(total)}


def _metric_rates(cases: Sequence[CaseResult]) -> dict[str, float]:
    passed, total = Counter(), Counter()
    for case in cases:
        for a in case.assertions:
            if a.metric is not None:
                total[a.metric] += 1
                passed[a.metric] += a.passed
    return {metric: passed[metric] / total[metric] for metric in sorted(total)}


def nearest_rank(values: Sequence[float], percentile: float) -> float | None:
    """The nearest-rank percentile (the smallest value with at least p% at or below it)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(percentile * len(ordered) / 100))
    return ordered[rank - 1]


def _total(values: Sequence[float | None]) -> float | None:
    """The sum, or None when any value is unknown: a partial total would understate it."""
    if any(v is None for v in values):
        return None
    return sum(values)

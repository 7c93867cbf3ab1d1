"""The prompt gate: a candidate suite result against the policy, the card and production.

Checks, in order: provider errors (a case whose call failed fails the gate with the
provider's reason), pass rate, safety failures, hallucination rate and p95 latency (each
against the tighter of the policy's and the card's figure), and regression of the pass rate
against the production version's result on the same suite.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from governance.domain.evaluation import GateDecision, ThresholdCheck, fmt_number
from governance.domain.gate_report import cell
from governance.domain.prompt_suites import SuiteResult

# Float noise (0.92 - 0.90 = 0.020000000000000018) must not fail a drop of exactly the tolerance.
_EPSILON = 1e-9


class PromptGatePolicy(BaseModel):
    """What a prompt version's suite result must meet to be promoted."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    min_pass_rate: float = Field(default=0.9, ge=0, le=1)
    max_regression: float = Field(default=0.02, ge=0, le=1)
    max_latency_p95_ms: float | None = Field(default=None, gt=0)
    max_hallucination_rate: float | None = Field(default=None, ge=0, le=1)
    allow_safety_failures: int = Field(default=0, ge=0)


class PromptGateDecision(GateDecision):
    """The prompt gate's verdict, its checks, and notes on checks it could not make."""

    notes: list[str] = Field(default_factory=list)


def decide_prompt_gate(
    candidate: SuiteResult,
    production: SuiteResult | None,
    policy: PromptGatePolicy,
    *,
    card_hallucination_rate: float | None = None,
    card_latency_p95_ms: float | None = None,
) -> PromptGateDecision:
    """Check a candidate's suite result; it passes only if every check passes."""
    checks = [
        _provider_check(candidate),
        _pass_rate_check(candidate, policy.min_pass_rate),
        _safety_check(candidate, policy.allow_safety_failures),
    ]
    bounded = (
        ("hallucination_rate", candidate.hallucination_rate, "",
         _tighter(policy.max_hallucination_rate, card_hallucination_rate)),
        ("latency_p95_ms", candidate.latency_p95_ms, " ms",
         _tighter(policy.max_latency_p95_ms, card_latency_p95_ms)),
    )  # fmt: skip
    notes = [
        f"{name} not checked: the suite did not measure it"
        for name, observed, _, limit in bounded
        if limit and observed is None
    ]
    checks += [
        _max_check(name, observed, limit, unit)
        for name, observed, unit, limit in bounded
        if limit and observed is not None
    ]
    if production is None:
        notes.append("no production version: regression not checked")
    else:
        checks.append(_regression_check(candidate, production, policy.max_regression))
    passed = all(check.passed for check in checks)
    return PromptGateDecision(passed=passed, checks=checks, notes=notes)


def _provider_check(result: SuiteResult) -> ThresholdCheck:
    if result.errors:
        reason = f"the provider failed: {result.first_error}"
        reason += f" ({result.errors} of {result.total} cases got no output)"
    else:
        reason = f"all {result.total} cases got a completion"
    return ThresholdCheck(
        name="provider_errors",
        passed=result.errors == 0,
        observed=result.errors,
        limit=0,
        reason=reason,
    )


def _pass_rate_check(result: SuiteResult, minimum: float) -> ThresholdCheck:
    passed = result.pass_rate + _EPSILON >= minimum
    op = ">=" if passed else "<"
    reason = (
        f"{result.passed} of {result.total} cases passed: "
        f"{fmt_number(result.pass_rate)} {op} {fmt_number(minimum)}"
    )
    return ThresholdCheck(
        name="pass_rate", passed=passed, observed=result.pass_rate, limit=minimum, reason=reason
    )


def _safety_check(result: SuiteResult, allowed: int) -> ThresholdCheck:
    findings = [
        f"{case.name}: {finding.check} {finding.detail}"
        for case in result.cases
        for finding in case.safety
    ]
    passed = result.safety_failures <= allowed
    count = result.safety_failures
    head = f"{count} {'case' if count == 1 else 'cases'} with safety findings ({allowed} allowed)"
    reason = f"{head}: {'; '.join(findings)}" if findings else head
    return ThresholdCheck(
        name="safety_failures",
        passed=passed,
        observed=result.safety_failures,
        limit=allowed,
        reason=reason,
    )


def _tighter(policy_limit: float | None, card_limit: float | None) -> tuple[float, str] | None:
    """The smaller of the two maxima that are set, and where it comes from."""
    limits = [(policy_limit, "policy"), (card_limit, "the card's figure")]
    set_limits = [(value, source) for value, source in limits if value is not None]
    return min(set_limits) if set_limits else None


def _max_check(name: str, observed: float, limit: tuple[float, str], unit: str) -> ThresholdCheck:
    value, source = limit
    passed = observed <= value + _EPSILON
    op = "<=" if passed else ">"
    label = name.replace("_ms", "").replace("_", " ")
    reason = f"{label} {fmt_number(observed)}{unit} {op} {fmt_number(value)}{unit} ({source})"
    return ThresholdCheck(name=name, passed=passed, observed=observed, limit=value, reason=reason)


def _regression_check(
    candidate: SuiteResult, production: SuiteResult, tolerance: float
) -> ThresholdCheck:
    drop = production.pass_rate - candidate.pass_rate
    passed = drop <= tolerance + _EPSILON
    versus = f"{fmt_number(candidate.pass_rate)} vs production {fmt_number(production.pass_rate)}"
    if drop <= 0:
        reason = f"pass rate {versus}: not worse"
    else:
        reason = (
            f"pass rate {versus}: dropped {fmt_number(drop)} (tolerance {fmt_number(tolerance)})"
        )
    return ThresholdCheck(
        name="regression:pass_rate",
        passed=passed,
        observed=candidate.pass_rate,
        limit=production.pass_rate - tolerance,
        reason=reason,
    )


def prompt_gate_markdown(
    decision: PromptGateDecision, candidate: SuiteResult, production: SuiteResult | None
) -> str:
    """The approver's view: verdict, checks, assertions, failing cases, production comparison."""
    verdict = "PASSED" if decision.passed else "FAILED"
    about = f" on suite **{cell(candidate.description)}**" if candidate.description else ""
    lines = [
        f"## Prompt gate: {verdict}",
        "",
        cell(decision.summary()) + about,
        "",
        *_checks_table(decision),
        *[f"- {cell(note)}" for note in decision.notes],
        "",
        *_assertions_table(candidate),
        "",
        *_failing_cases(candidate),
        "",
        *_comparison_table(candidate, production),
    ]
    return "\n".join(lines) + "\n"


def _checks_table(decision: PromptGateDecision) -> list[str]:
    rows = ["| check | observed | limit | result | reason |", "|---|---:|---:|:---:|---|"]
    for c in decision.checks:
        verdict = "pass" if c.passed else "**FAIL**"
        rows.append(
            f"| {cell(c.name)} | {fmt_number(c.observed)} | {fmt_number(c.limit)} "
            f"| {verdict} | {cell(c.reason)} |"
        )
    return ["### Checks", "", *rows, ""]


def _assertions_table(result: SuiteResult) -> list[str]:
    if not result.per_assertion:
        return ["### Assertions", "", "No assertion was evaluated."]
    rows = ["| assertion | passed | total | rate |", "|---|---:|---:|---:|"]
    for kind, tally in sorted(result.per_assertion.items()):
        rate = tally["passed"] / tally["total"] if tally["total"] else None
        rows.append(f"| {cell(kind)} | {tally['passed']} | {tally['total']} | {fmt_number(rate)} |")
    metrics = [
        f"| metric {cell(m)} | | | {fmt_number(v)} |" for m, v in sorted(result.metrics.items())
    ]
    return ["### Assertions", "", *rows, *metrics]


def _failing_cases(result: SuiteResult) -> list[str]:
    failing = [case for case in result.cases if not case.passed]
    if not failing:
        return ["### Failing cases", "", "None: every case passed."]
    lines = ["### Failing cases", ""]
    for case in failing:
        head = f"- **{cell(case.name)}**: score {fmt_number(case.score)}"
        lines.append(head + (f"; error: {cell(case.error)}" if case.error else ""))
        if case.error is None:  # otherwise every assertion just repeats the error
            lines += [
                f"  - `{cell(a.type)}`: {cell(a.reason)}" for a in case.assertions if not a.passed
            ]
        lines += [f"  - safety `{cell(f.check)}`: {cell(f.detail)}" for f in case.safety]
    return lines


_FIGURES = (
    ("pass rate", "pass_rate"),
    ("hallucination rate", "hallucination_rate"),
    ("p95 latency (ms)", "latency_p95_ms"),
    ("mean latency (ms)", "latency_mean_ms"),
    ("total cost (USD)", "cost_total"),
    ("safety failures", "safety_failures"),
    ("provider errors", "errors"),
)


def _comparison_table(candidate: SuiteResult, production: SuiteResult | None) -> list[str]:
    if production is None:
        return ["### Compared with production", "", "No production version to compare against."]
    rows = ["| figure | candidate | production | change |", "|---|---:|---:|---:|"]
    for label, field in _FIGURES:
        new, old = getattr(candidate, field), getattr(production, field)
        change = "-" if new is None or old is None else _signed(new - old)
        rows.append(f"| {label} | {fmt_number(new)} | {fmt_number(old)} | {change} |")
    return ["### Compared with production", "", *rows]


def _signed(value: float) -> str:
    return ("+" if value >= 0 else "-") + fmt_number(abs(value))

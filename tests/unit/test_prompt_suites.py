"""Suite loading and its refusals, the summary figures, and the prompt gate's decision."""

from __future__ import annotations

import hashlib

import pytest

from governance.domain.errors import InvalidInput, InvalidSuite
from governance.domain.evaluation import ThresholdCheck
from governance.domain.prompt_gate import (
    PromptGateDecision,
    PromptGatePolicy,
    decide_prompt_gate,
    prompt_gate_markdown,
)
from governance.domain.prompt_suites import (
    AssertionResult,
    CaseResult,
    SafetyFinding,
    Suite,
    SuiteResult,
)
from governance.llm.grading import nearest_rank, summarise
from governance.llm.suite_files import load_suite, suite_digest

SUITE = b"""
description: support answers
forbidden: ["(?i)internal use only"]
canary: ZEBRA-7731
defaults:
  assert:
    - type: latency
      threshold: 2000
tests:
  - description: refund question
    vars: {product: router, n: 3, urgent: true, tags: [a, b]}
    input: How do I get a refund?
    threshold: 0.75
    assert:
      - type: icontains
        value: refund
      - type: not-contains
        value: sorry
        weight: 2
      - type: contains-json
        value: {type: object, required: [answer]}
        metric: hallucination
  - assert:
      - type: rouge-n
        value: the cat sat
        n: 2
"""


def test_a_suite_loads_with_tests_alias_defaults_and_vars() -> None:
    suite = load_suite(SUITE)
    assert suite.description == "support answers"
    assert [c.name for c in suite.cases] == ["case 1 (refund question)", "case 2"]
    first = suite.cases[0]
    assert first.vars == {"product": "router", "n": 3, "urgent": True, "tags": ["a", "b"]}
    assert first.input == "How do I get a refund?"
    kinds = [a.type for a in suite.assertions_for(first)]
    assert kinds == ["latency", "icontains", "not-contains", "contains-json"]
    assert suite.cases[1].assertions[0].limit == 0.75
    assert suite_digest(SUITE) == hashlib.sha256(SUITE).hexdigest()


def refusal(text: str) -> str:
    with pytest.raises(InvalidSuite) as caught:
        load_suite(text.encode())
    assert isinstance(caught.value, InvalidInput)
    return str(caught.value)


def case(assertion: str, description: str = "refund") -> str:
    return f"cases:\n  - description: {description}\n    assert:\n      - {assertion}\n"


def test_an_unknown_type_names_itself_the_case_and_the_known_types() -> None:
    message = refusal(case("{type: contans, value: x}"))
    assert message.startswith("case 1 (refund): assertion 1 (contans): unknown assertion type")
    assert "'contans'" in message and "icontains-any" in message and "not- prefix" in message
    assert "'not-not-contains'" in refusal(case("{type: not-not-contains, value: x}"))


def test_a_bad_regex_names_the_pattern_and_the_re_error() -> None:
    message = refusal(case("{type: regex, value: 'a(b'}"))
    assert "case 1 (refund): assertion 1 (regex)" in message
    assert "regex pattern 'a(b' does not compile: missing ), unterminated subpattern" in message
    forbidden = refusal("forbidden: ['[z-a]']\n" + case("{type: contains, value: x}"))
    assert "forbidden pattern '[z-a]' does not compile: bad character range z-a" in forbidden


@pytest.mark.parametrize(
    ("assertion", "words"),
    [
        ("{type: contains}", "contains needs a value"),
        ("{type: not-icontains-any}", "not-icontains-any needs a value"),
        ("{type: equals}", "equals needs a value"),
        ("{type: latency}", "latency needs a threshold"),
        ("{type: cost}", "cost needs a threshold"),
        ("{type: contains, value: 42}", "contains needs a string value"),
        ("{type: contains, value: x, threshold: 2}", "contains takes no threshold"),
        ("{type: contains, value: x, weight: -1}", "weight: Input should be greater than"),
        ("{type: contains, value: x, colour: red}", "colour: unknown field"),
        ("{type: rouge-n, value: x, threshold: 2}", "rouge-n threshold is a recall in 0..1"),
        ("{type: rouge-n, value: cat, n: 2}", "rouge-n reference 'cat' has fewer than 2 words"),
        ("{type: contains-json, value: [1]}", "contains-json value must be a JSON Schema"),
    ],
)
def test_bad_assertions_are_refused_with_specific_words(assertion: str, words: str) -> None:
    message = refusal(case(assertion))
    assert message.startswith("case 1 (refund): assertion 1")
    assert words in message


def test_a_bad_json_schema_is_refused_at_load_time() -> None:
    message = refusal(case("{type: contains-json, value: {type: 12}}"))
    assert message.startswith("case 1 (refund): contains-json has a bad JSON Schema: 12 is not")


def test_problems_in_defaults_are_located_there() -> None:
    text = "defaults: {assert: [{type: latency}]}\n" + case("{type: contains, value: x}")
    assert refusal(text).startswith("defaults: assertion 1 (latency): latency needs a threshold")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("cases: []", "the suite has no cases"),
        ("description: nothing", "the suite has no cases"),
        ("cases: [{}]\ntests: [{}]", "`cases` or `tests`, not both"),
        ("cases: {a: 1}", "`cases` must be a list"),
        ("cases: [3]", "case 1 must be a mapping"),
        ("- a\n- b", "a suite must be a YAML mapping, got a list"),
        ("", "a suite must be a YAML mapping, got empty"),
        ("cases: [\n  {a: 1", "suite YAML does not parse: line 2, column 8: expected ','"),
        ("cases:\n- vars: {when: 2026-01-01}", "case 1: vars.when"),
        ("cases: [{threshold: 1.5}]", "case 1: threshold: Input should be less than or equal"),
    ],
)
def test_bad_suites_are_refused_with_specific_words(text: str, words: str) -> None:
    assert words in refusal(text)


# A hand-made result set: exact figures follow from these.
def result(index: int, passed: bool, latency: float, **extra: object) -> CaseResult:
    fields = {"output": "ok", "cost": 0.01, "prompt_tokens": 10, "completion_tokens": 4}
    fields |= extra
    score = 1.0 if passed else 0.0
    return CaseResult(index=index, passed=passed, score=score, latency_ms=latency, **fields)


def outcome(kind: str, passed: bool, metric: str | None = None) -> AssertionResult:
    return AssertionResult(type=kind, passed=passed, score=float(passed), reason="r", metric=metric)


EMAIL = SafetyFinding(check="pii:email", detail="j***@example.com")
ONE_CASE = Suite.model_validate({"description": "s", "cases": [{"index": 1}]})


def hand_made() -> list[CaseResult]:
    return [
        result(1, True, 100, assertions=[outcome("contains", True, "hallucination")]),
        result(
            2,
            False,
            300,
            assertions=[
                outcome("contains", False, "hallucination"),
                outcome("not-contains", True, "tone"),
            ],
        ),
        result(
            3,
            False,
            200,
            description="refund",
            safety=[EMAIL],
            assertions=[outcome("not-contains", True, "hallucination")],
        ),
        result(4, True, 400, assertions=[outcome("contains", True)]),
        result(
            5,
            False,
            9000,
            output="",
            error="connection refused",
            cost=None,
            prompt_tokens=None,
            completion_tokens=None,
            assertions=[outcome("contains", False, "hallucination")],
        ),
    ]


def test_summary_figures_on_a_hand_made_set() -> None:
    summary = summarise(ONE_CASE, hand_made())
    assert (summary.total, summary.passed, summary.pass_rate) == (5, 2, 0.4)
    # The errored case's assertions were never evaluated, so they are not counted.
    assert summary.per_assertion == {
        "contains": {"passed": 2, "total": 3},
        "not-contains": {"passed": 2, "total": 2},
    }
    assert summary.metrics == {"hallucination": pytest.approx(2 / 3), "tone": 1.0}
    assert summary.hallucination_rate == pytest.approx(1 / 3)
    assert (summary.safety_failures, summary.errors) == (1, 1)
    assert summary.first_error == "connection refused"
    assert summary.latency_p95_ms == 400  # nearest rank over the four answered cases
    assert summary.latency_mean_ms == 250
    assert summary.cost_total is None and summary.prompt_tokens is None
    answered = summarise(ONE_CASE, hand_made()[:4])
    assert answered.cost_total == pytest.approx(0.04)
    assert (answered.prompt_tokens, answered.completion_tokens) == (40, 16)
    assert summarise(ONE_CASE, hand_made()[3:4]).hallucination_rate is None
    assert summary.model_dump(mode="json")["per_assertion"]["contains"] == {"passed": 2, "total": 3}


def test_nearest_rank_p95() -> None:
    assert nearest_rank(list(range(1, 21)), 95) == 19
    assert nearest_rank(list(range(1, 101)), 95) == 95
    assert nearest_rank([7.0], 95) == 7.0
    assert nearest_rank([], 95) is None


def rated(passed: int, total: int = 10, **extra: object) -> SuiteResult:
    cases = [result(i, i <= passed, 100.0 * i) for i in range(1, total + 1)]
    return summarise(ONE_CASE, cases).model_copy(update=extra)


def by_name(decision: PromptGateDecision) -> dict[str, ThresholdCheck]:
    return {c.name: c for c in decision.checks}


def test_a_clean_candidate_passes_and_notes_the_missing_production() -> None:
    decision = decide_prompt_gate(rated(10), None, PromptGatePolicy())
    assert decision.passed
    assert list(by_name(decision)) == ["provider_errors", "pass_rate", "safety_failures"]
    assert decision.notes == ["no production version: regression not checked"]


def test_a_provider_failure_fails_the_gate_with_its_reason() -> None:
    failed = summarise(ONE_CASE, hand_made())
    decision = decide_prompt_gate(failed, None, PromptGatePolicy(min_pass_rate=0))
    check = by_name(decision)["provider_errors"]
    assert not decision.passed and not check.passed
    assert check.reason == "the provider failed: connection refused (1 of 5 cases got no output)"


def test_safety_failures_list_the_cases_and_checks() -> None:
    summary = summarise(ONE_CASE, hand_made()[:4])
    check = by_name(decide_prompt_gate(summary, None, PromptGatePolicy()))["safety_failures"]
    assert not check.passed
    assert check.reason == (
        "1 case with safety findings (0 allowed): case 3 (refund): pii:email j***@example.com"
    )
    allowed = PromptGatePolicy(allow_safety_failures=1)
    assert by_name(decide_prompt_gate(summary, None, allowed))["safety_failures"].passed


def test_pass_rate_below_the_minimum_fails() -> None:
    check = by_name(decide_prompt_gate(rated(8), None, PromptGatePolicy()))["pass_rate"]
    assert (check.passed, check.reason) == (False, "8 of 10 cases passed: 0.8 < 0.9")
    assert by_name(decide_prompt_gate(rated(9), None, PromptGatePolicy()))["pass_rate"].passed


def test_regression_within_and_beyond_tolerance() -> None:
    policy = PromptGatePolicy(min_pass_rate=0.5, max_regression=0.1)
    within = by_name(decide_prompt_gate(rated(8), rated(9), policy))["regression:pass_rate"]
    assert within.passed  # a drop of exactly the tolerance
    assert within.reason == "pass rate 0.8 vs production 0.9: dropped 0.1 (tolerance 0.1)"
    beyond = decide_prompt_gate(rated(7), rated(9), policy)
    assert not beyond.passed and not by_name(beyond)["regression:pass_rate"].passed
    better = by_name(decide_prompt_gate(rated(10), rated(9), policy))["regression:pass_rate"]
    assert better.passed and better.reason.endswith("not worse")


def test_hallucination_and_latency_use_the_tighter_of_policy_and_card() -> None:
    candidate = rated(10, hallucination_rate=0.08, latency_p95_ms=900.0)
    policy = PromptGatePolicy(max_hallucination_rate=0.1, max_latency_p95_ms=1000)
    loose = by_name(decide_prompt_gate(candidate, None, policy, card_hallucination_rate=0.2))
    assert loose["hallucination_rate"].reason == "hallucination rate 0.08 <= 0.1 (policy)"
    tight = decide_prompt_gate(
        candidate, None, policy, card_hallucination_rate=0.05, card_latency_p95_ms=800
    )
    checks = by_name(tight)
    assert not tight.passed
    assert checks["hallucination_rate"].reason == (
        "hallucination rate 0.08 > 0.05 (the card's figure)"
    )
    assert checks["latency_p95_ms"].reason == "latency p95 900 ms > 800 ms (the card's figure)"


def test_a_limit_on_an_unmeasured_figure_is_noted_not_checked() -> None:
    policy = PromptGatePolicy(max_hallucination_rate=0.1)
    decision = decide_prompt_gate(rated(10), rated(10), policy)
    assert "hallucination_rate" not in by_name(decision)
    assert "hallucination_rate not checked: the suite did not measure it" in decision.notes


def test_markdown_report_has_checks_assertions_failures_and_production() -> None:
    candidate = summarise(ONE_CASE, hand_made())
    production = rated(9)
    decision = decide_prompt_gate(candidate, production, PromptGatePolicy())
    text = prompt_gate_markdown(decision, candidate, production)
    assert text.startswith("## Prompt gate: FAILED")
    assert "| provider_errors | 1 | 0 | **FAIL** | the provider failed: connection refused" in text
    assert "| not-contains | 2 | 2 | 1 |" in text
    assert "- **case 3 (refund)**: score 0" in text
    assert "  - safety `pii:email`: j***@example.com" in text
    assert "| pass rate | 0.4 | 0.9 | -0.5 |" in text
    piped = candidate.model_copy(update={"first_error": "bad | gateway"})
    decision = decide_prompt_gate(piped, None, PromptGatePolicy())
    report = prompt_gate_markdown(decision, piped, None)
    assert "bad \\| gateway" in report
    assert "No production version to compare against." in report

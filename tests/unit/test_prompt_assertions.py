"""Each assertion type on passing and failing outputs, its not- form, and case scoring."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from governance.domain.prompt_suites import Assertion, Suite
from governance.llm.assertions import NO_USAGE, embedded_json, grade, rouge_n_recall
from governance.llm.grading import grade_case


@dataclass(frozen=True)
class Reply:
    """The fields of governance.llm.targets.Completion, kept local so these tests stand alone."""

    text: str
    latency_ms: float = 100.0
    prompt_tokens: int | None = 10
    completion_tokens: int | None = 5
    cost: float | None = 0.001
    error: str | None = None


def check(kind: str, text: str, **fields: object) -> tuple[bool, bool]:
    """(plain verdict, not- verdict) of one assertion on one output."""
    plain = grade(Assertion(type=kind, **fields), Reply(text))
    inverted = grade(Assertion(type=f"not-{kind}", **fields), Reply(text))
    assert plain.reason == inverted.reason
    return plain.passed, inverted.passed


CASES = [
    # type, value/fields, passing output, failing output
    ("equals", {"value": "Hello"}, "Hello", "Hello "),
    ("equals", {"value": {"a": 1}}, '{"a": 1}', '{"a": 2}'),
    ("contains", {"value": "refund"}, "a refund is due", "a Refund is due"),
    ("icontains", {"value": "REFUND"}, "a Refund is due", "no money back"),
    ("contains-any", {"value": "refund, return"}, "a return", "nothing"),
    ("contains-any", {"value": ["refund", "return"]}, "refund it", "nothing"),
    ("contains-all", {"value": ["refund", "days"]}, "refund in 30 days", "refund now"),
    ("icontains-any", {"value": ["REFUND", "RETURN"]}, "Return it", "keep it"),
    ("icontains-all", {"value": "REFUND,DAYS"}, "Refund in 30 Days", "Refund now"),
    ("regex", {"value": r"\d{2} days"}, "within 30 days", "within a month"),
    ("starts-with", {"value": "Dear"}, "Dear customer", "Hello, Dear"),
    ("is-json", {}, '{"answer": 1}', 'answer: {"a": 1}'),
    ("is-json", {"value": {"type": "object", "required": ["answer"]}}, '{"answer": 1}', '{"x": 1}'),
    ("contains-json", {}, 'Here: {"answer": 1} done', "Here: {answer: 1}"),
    ("contains-json", {}, "list [1, 2] here", "no json"),
    (
        "contains-json",
        {"value": {"type": "object", "required": ["answer"]}},
        'a {"x": 1} then {"answer": 2}',
        'only {"x": 1}',
    ),
    ("levenshtein", {"value": "kitten", "threshold": 3}, "sitting", "sitting down"),
    ("levenshtein", {"value": "hello world"}, "hello wrld", "goodbye world"),
    ("rouge-n", {"value": "the cat sat on the mat"}, "the cat sat on a mat", "a dog ran"),
    ("rouge-n", {"value": "the cat sat", "n": 2, "threshold": 0.5}, "the cat sat", "cat the sat"),
]


@pytest.mark.parametrize(("kind", "fields", "good", "bad"), CASES)
def test_assertion_passes_fails_and_inverts(kind: str, fields: dict, good: str, bad: str) -> None:
    assert check(kind, good, **fields) == (True, False)
    assert check(kind, bad, **fields) == (False, True)


def test_reasons_state_the_fact() -> None:
    result = grade(Assertion(type="not-contains", value="sorry"), Reply("I am sorry"))
    assert not result.passed
    assert result.reason == "output contains 'sorry'"
    result = grade(Assertion(type="levenshtein", value="kitten"), Reply("sitting"))
    assert result.reason == "edit distance 3 <= 5"
    result = grade(Assertion(type="contains-all", value=["a", "zz"]), Reply("a b"))
    assert result.reason == "output lacks 'zz'"


def test_rouge_score_is_the_recall_and_inverts() -> None:
    assert rouge_n_recall("the cat sat", "the cat sat on the mat") == pytest.approx(0.5)
    assert rouge_n_recall("The cat", "the cat sat", 2) == pytest.approx(0.5)
    plain = grade(Assertion(type="rouge-n", value="the cat sat on the mat"), Reply("the cat sat"))
    assert (plain.passed, plain.score) == (False, 0.5)
    assert plain.reason == "ROUGE-1 recall 0.50 < 0.75"
    inverted = grade(
        Assertion(type="not-rouge-n", value="the cat sat on the mat"), Reply("a cat sat")
    )
    assert (inverted.passed, inverted.score) == (True, pytest.approx(1 - 2 / 6))


def test_latency_and_cost_are_maxima() -> None:
    fast, slow = Reply("x", latency_ms=900), Reply("x", latency_ms=1600)
    assert grade(Assertion(type="latency", threshold=1500), fast).passed
    failed = grade(Assertion(type="latency", threshold=1500), slow)
    assert (failed.passed, failed.reason) == (False, "latency 1600 ms > 1500 ms")
    assert grade(Assertion(type="not-latency", threshold=1500), slow).passed
    assert grade(Assertion(type="cost", threshold=0.002), Reply("x", cost=0.002)).passed
    assert not grade(Assertion(type="cost", threshold=0.002), Reply("x", cost=0.0021)).passed


@pytest.mark.parametrize("kind", ["cost", "not-cost"])
def test_unknown_cost_fails_either_way(kind: str) -> None:
    result = grade(Assertion(type=kind, threshold=1.0), Reply("x", cost=None))
    assert (result.passed, result.reason) == (False, NO_USAGE)
    assert NO_USAGE == "the provider reported no usage, so cost is unknown"


def test_embedded_json_finds_objects_and_arrays_left_to_right() -> None:
    text = 'pre {"a": {"b": 1}} mid [1, 2] bad {x} end'
    assert list(embedded_json(text)) == [{"a": {"b": 1}}, [1, 2]]


def suite_with(*asserts: dict, threshold: float | None = None, **top: object) -> Suite:
    case = {"index": 1, "description": "refund", "assert": list(asserts), "threshold": threshold}
    return Suite.model_validate({"cases": [case], **top})


def test_weighted_score_and_threshold() -> None:
    suite = suite_with(
        {"type": "contains", "value": "refund", "weight": 3},
        {"type": "contains", "value": "days"},
        {"type": "contains", "value": "sorry", "weight": 0},
        threshold=0.75,
    )
    result = grade_case(suite.cases[0], Reply("refund now"), system_prompt="", suite=suite)
    # 3 of 4 weight passed; the zero-weight failure is reported but does not count.
    assert result.score == pytest.approx(0.75)
    assert result.passed
    assert [a.passed for a in result.assertions] == [True, False, False]
    strict = suite_with(*[a.model_dump(by_alias=True) for a in suite.cases[0].assertions])
    unforgiving = grade_case(strict.cases[0], Reply("refund now"), system_prompt="", suite=strict)
    assert (unforgiving.passed, unforgiving.score) == (False, pytest.approx(0.75))


def test_below_threshold_fails() -> None:
    refund, days = {"type": "contains", "value": "refund"}, {"type": "contains", "value": "days"}
    suite = suite_with(refund, days, threshold=0.75)
    result = grade_case(suite.cases[0], Reply("refund now"), system_prompt="", suite=suite)
    assert (result.passed, result.score) == (False, 0.5)


def test_defaults_apply_before_the_case_assertions() -> None:
    suite = suite_with(
        {"type": "contains", "value": "refund"},
        defaults={"assert": [{"type": "latency", "threshold": 50}]},
    )
    result = grade_case(suite.cases[0], Reply("refund"), system_prompt="", suite=suite)
    assert [a.type for a in result.assertions] == ["latency", "contains"]
    assert not result.passed


def test_a_completion_error_fails_every_assertion_unevaluated() -> None:
    suite = suite_with({"type": "not-contains", "value": "sorry"})
    failed = Reply("", latency_ms=30000, cost=None, error="connection refused")
    result = grade_case(suite.cases[0], failed, system_prompt="", suite=suite)
    assert (result.passed, result.score, result.error) == (False, 0.0, "connection refused")
    assert [(a.passed, a.reason) for a in result.assertions] == [
        (False, "no output: connection refused")
    ]


def test_a_safety_finding_fails_a_case_whose_assertions_pass() -> None:
    suite = suite_with({"type": "contains", "value": "refund"}, canary="ZEBRA-7731")
    reply = Reply("refund, and the secret is ZEBRA-7731")
    result = grade_case(suite.cases[0], reply, system_prompt="ZEBRA-7731", suite=suite)
    assert result.score == 1.0
    assert not result.passed
    assert [f.check for f in result.safety] == ["canary"]

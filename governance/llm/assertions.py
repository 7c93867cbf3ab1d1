"""Grading one output against one assertion, with promptfoo's deterministic semantics.

Each grader states a neutral fact ("output contains 'refund'") and whether the plain type
holds; a `not-` type inverts the verdict (and the score) but keeps the fact as its reason.
Scores are 1 or 0, except rouge-n, whose score is the recall itself.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any

from jsonschema import exceptions as schema_errors
from jsonschema import validators
from rapidfuzz.distance import Levenshtein

from governance.domain.errors import InvalidSuite
from governance.domain.prompt_suites import WORD, Assertion, AssertionResult, Reply

NO_USAGE = "the provider reported no usage, so cost is unknown"
Verdict = tuple[bool, float, str]  # holds, score, fact


def grade(assertion: Assertion, reply: Reply) -> AssertionResult:
    """The result of one assertion on one completion's output."""
    if assertion.base == "cost" and reply.cost is None:
        # Unknown cost can be neither under nor over the limit: fail either way.
        return _result(assertion, False, 0.0, NO_USAGE)
    holds, score, fact = _GRADERS[assertion.base](assertion, reply)
    if assertion.inverted:
        holds, score = not holds, 1.0 - score
    return _result(assertion, holds, score, fact)


def _result(assertion: Assertion, passed: bool, score: float, reason: str) -> AssertionResult:
    return AssertionResult(
        type=assertion.type,
        passed=passed,
        score=min(max(score, 0.0), 1.0),
        reason=reason,
        metric=assertion.metric,
        weight=assertion.weight,
    )


def _verdict(holds: bool, yes: str, no: str) -> Verdict:
    return holds, 1.0 if holds else 0.0, yes if holds else no


def _equals(a: Assertion, reply: Reply) -> Verdict:
    if isinstance(a.value, str):
        return _verdict(
            reply.text == a.value,
            "output equals the expected text",
            _first_difference(reply.text, a.value),
        )
    # A non-string value is compared as JSON, as promptfoo does for objects.
    parsed = _loads(reply.text)
    holds = parsed is not _NOT_JSON and parsed == a.value
    return _verdict(holds, "output is the expected JSON", "output is not the expected JSON")


def _first_difference(text: str, expected: str) -> str:
    at = next((i for i, (x, y) in enumerate(zip(text, expected, strict=False)) if x != y), None)
    at = min(len(text), len(expected)) if at is None else at
    return f"output differs from the expected text at character {at + 1}"


def _contains(a: Assertion, reply: Reply) -> Verdict:
    fold = a.base.startswith("i")
    text, needle = (reply.text.lower(), a.value.lower()) if fold else (reply.text, a.value)
    return _verdict(
        needle in text, f"output contains {a.value!r}", f"output does not contain {a.value!r}"
    )


def _contains_some(a: Assertion, reply: Reply) -> Verdict:
    fold = a.base.startswith("i")
    text = reply.text.lower() if fold else reply.text
    found = [n for n in a.needles if (n.lower() if fold else n) in text]
    missing = [n for n in a.needles if n not in found]
    if a.base.endswith("-any"):
        return _verdict(
            bool(found),
            f"output contains {_listed(found)}",
            f"output contains none of {_listed(missing)}",
        )
    return _verdict(
        not missing, f"output contains all of {_listed(found)}", f"output lacks {_listed(missing)}"
    )


def _listed(items: list[str]) -> str:
    return ", ".join(repr(item) for item in items)


def _regex(a: Assertion, reply: Reply) -> Verdict:
    holds = re.search(a.value, reply.text) is not None
    return _verdict(holds, f"output matches /{a.value}/", f"output does not match /{a.value}/")


def _starts_with(a: Assertion, reply: Reply) -> Verdict:
    return _verdict(
        reply.text.startswith(a.value),
        f"output starts with {a.value!r}",
        f"output does not start with {a.value!r}",
    )


_NOT_JSON = object()


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return _NOT_JSON


def _is_json(a: Assertion, reply: Reply) -> Verdict:
    parsed = _loads(reply.text)
    if parsed is _NOT_JSON:
        return _verdict(False, "", "output is not valid JSON")
    problem = _schema_violation(a.value, parsed)
    return _verdict(problem is None, "output is valid JSON", f"output JSON {problem}")


def _contains_json(a: Assertion, reply: Reply) -> Verdict:
    found = list(embedded_json(reply.text))
    if not found:
        return _verdict(False, "", "output contains no JSON object or array")
    problems = [_schema_violation(a.value, value) for value in found]
    if None in problems:
        return _verdict(True, "output contains valid JSON", "")
    return _verdict(False, "", f"no JSON in the output matches the schema: {problems[0]}")


def embedded_json(text: str) -> Iterator[Any]:
    """Every JSON object or array embedded in the text, outermost first, left to right."""
    decoder, at = json.JSONDecoder(), 0
    while (start := _next_opening(text, at)) != -1:
        try:
            value, end = decoder.raw_decode(text, start)
        except ValueError:
            at = start + 1
            continue
        yield value
        at = end


def _next_opening(text: str, at: int) -> int:
    positions = [p for p in (text.find("{", at), text.find("[", at)) if p != -1]
    return min(positions, default=-1)


@lru_cache(maxsize=64)
def _validator(schema_json: str) -> Any:
    schema = json.loads(schema_json)
    cls = validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def schema_problem(schema: Any) -> str | None:
    """Why a JSON Schema is invalid, or None when it is a valid one."""
    try:
        _validator(json.dumps(schema, sort_keys=True))
    except schema_errors.SchemaError as exc:
        return exc.message
    return None


def _schema_violation(schema: Any, value: Any) -> str | None:
    """None when there is no schema or the value satisfies it, else the best error."""
    if schema is None:
        return None
    try:
        validator = _validator(json.dumps(schema, sort_keys=True))
    except schema_errors.SchemaError as exc:
        raise InvalidSuite(f"bad JSON Schema: {exc.message}") from None
    error = schema_errors.best_match(validator.iter_errors(value))
    return None if error is None else f"does not match the schema: {error.message}"


def _levenshtein(a: Assertion, reply: Reply) -> Verdict:
    distance = Levenshtein.distance(reply.text, a.value)
    limit = a.limit
    fact = f"edit distance {distance} {'<=' if distance <= limit else '>'} {limit:g}"
    return _verdict(distance <= limit, fact, fact)


def rouge_n_recall(candidate: str, reference: str, n: int = 1) -> float:
    """The share of the reference's word n-grams found in the candidate (ROUGE-N recall)."""
    expected, seen = _ngrams(reference, n), _ngrams(candidate, n)
    total = sum(expected.values())
    overlap = sum(min(count, seen[gram]) for gram, count in expected.items())
    return overlap / total if total else 0.0


def _ngrams(text: str, n: int) -> Counter[tuple[str, ...]]:
    words = WORD.findall(text.lower())
    return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def _rouge_n(a: Assertion, reply: Reply) -> Verdict:
    n, limit = a.n or 1, a.limit
    recall = rouge_n_recall(reply.text, a.value, n)
    op = ">=" if recall >= limit else "<"
    return recall >= limit, recall, f"ROUGE-{n} recall {recall:.2f} {op} {limit:g}"


def _latency(a: Assertion, reply: Reply) -> Verdict:
    holds = reply.latency_ms <= a.threshold
    fact = f"latency {reply.latency_ms:.0f} ms {'<=' if holds else '>'} {a.threshold:g} ms"
    return _verdict(holds, fact, fact)


def _cost(a: Assertion, reply: Reply) -> Verdict:
    holds = reply.cost <= a.threshold
    fact = f"cost ${reply.cost:.6g} {'<=' if holds else '>'} ${a.threshold:g}"
    return _verdict(holds, fact, fact)


_GRADERS: dict[str, Callable[[Assertion, Reply], Verdict]] = {
    "equals": _equals,
    "contains": _contains,
    "icontains": _contains,
    "contains-any": _contains_some,
    "contains-all": _contains_some,
    "icontains-any": _contains_some,
    "icontains-all": _contains_some,
    "regex": _regex,
    "starts-with": _starts_with,
    "is-json": _is_json,
    "contains-json": _contains_json,
    "levenshtein": _levenshtein,
    "rouge-n": _rouge_n,
    "latency": _latency,
    "cost": _cost,
}

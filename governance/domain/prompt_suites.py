"""Prompt evaluation suites: the schema, graded results, and the prompt gate's decision.

A suite is promptfoo-like: cases with `vars` and `assert` lists, `defaults.assert` applied to
every case, plus the safety settings `forbidden` (regexes) and `canary` (a planted token).
Assertion types follow promptfoo's deterministic ones; each also exists with a `not-` prefix
that inverts it. Loading YAML and grading live in `governance/llm/`; this module is pure.

A case passes when its completion did not error, no safety check fired, and either every
assertion passed or, when the case sets `threshold`, its weighted score reaches it. As in
promptfoo, a `weight: 0` assertion still has to pass but adds nothing to the score.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, model_validator

from governance.domain.errors import InvalidSuite

# The types whose `value` is one string; `equals` also takes any JSON value (compared as JSON).
TEXT_TYPES = ("contains", "icontains", "regex", "starts-with", "levenshtein", "rouge-n")
# Value: a list of strings or one comma-separated string.
LIST_TYPES = ("contains-any", "contains-all", "icontains-any", "icontains-all")
# Value: an optional JSON Schema, checked with jsonschema when the suite is loaded.
JSON_TYPES = ("is-json", "contains-json")
# Threshold: the maximum allowed (milliseconds, US dollars); required.
LIMIT_TYPES = ("latency", "cost")
BASE_TYPES = ("equals", *TEXT_TYPES, *LIST_TYPES, *JSON_TYPES, *LIMIT_TYPES)
DEFAULT_THRESHOLDS: dict[str, float] = {"levenshtein": 5, "rouge-n": 0.75}
# The named metric whose failure rate is the suite's hallucination rate.
HALLUCINATION = "hallucination"
# ROUGE's tokens; the grader must count words the way the loader checked them.
WORD = re.compile(r"\w+")

_FROZEN = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, populate_by_name=True)
Scalar = str | bool | int | float
VarValue = Scalar | list[Scalar]


class Reply(Protocol):
    """What a target answered for one case; governance.llm.targets.Completion has this shape."""

    text: str  # '' on error
    latency_ms: float
    prompt_tokens: int | None  # None when the provider reported no usage
    completion_tokens: int | None
    cost: float | None  # US dollars; None when unknown
    error: str | None  # why the call failed after its retries


class Assertion(BaseModel):
    """One check on an output: promptfoo's `type`, `value`, `threshold`, `weight`, `metric`."""

    model_config = _FROZEN

    type: str
    value: JsonValue = None
    threshold: float | None = None
    weight: float = Field(default=1.0, ge=0)
    metric: str | None = Field(default=None, min_length=1)
    n: int | None = Field(default=None, ge=1)

    @property
    def base(self) -> str:
        """The type without its `not-` prefix."""
        return self.type.removeprefix("not-")

    @property
    def inverted(self) -> bool:
        """Whether the type carries `not-`, which inverts the verdict."""
        return self.type.startswith("not-")

    @property
    def limit(self) -> float | None:
        """The threshold, or the type's default one."""
        return self.threshold if self.threshold is not None else DEFAULT_THRESHOLDS.get(self.base)

    @property
    def needles(self) -> list[str]:
        """The strings of a contains-any/-all value, split on commas when given as one string."""
        items = self.value.split(",") if isinstance(self.value, str) else self.value or []
        return [item.strip() for item in items if isinstance(item, str) and item.strip()]

    @model_validator(mode="after")
    def _check(self) -> Assertion:
        if self.base not in BASE_TYPES:
            raise ValueError(
                f"unknown assertion type {self.type!r}; known types: {', '.join(BASE_TYPES)}"
                " (each also with a not- prefix)"
            )
        _check_value(self)
        _check_threshold(self)
        return self


def _check_value(a: Assertion) -> None:
    if a.base in (*TEXT_TYPES, *LIST_TYPES, "equals") and a.value is None:
        raise ValueError(f"{a.type} needs a value")
    if a.base in TEXT_TYPES and not isinstance(a.value, str):
        raise ValueError(f"{a.type} needs a string value (quote numbers), got {a.value!r}")
    if a.base in LIST_TYPES and not a.needles:
        raise ValueError(f"{a.type} needs a list of strings or a comma-separated string")
    if a.base in JSON_TYPES and a.value is not None and not isinstance(a.value, dict | bool):
        raise ValueError(f"{a.type} value must be a JSON Schema (a mapping), got {a.value!r}")
    if a.base in LIMIT_TYPES and a.value is not None:
        raise ValueError(f"{a.type} takes a threshold, not a value")
    if a.base == "regex":
        _compile(a.value, f"{a.type} pattern")
    if a.n is not None and a.base != "rouge-n":
        raise ValueError(f"{a.type} takes no `n` (only rouge-n does)")
    if a.base == "rouge-n" and len(WORD.findall(a.value)) < (a.n or 1):
        raise ValueError(f"{a.type} reference {a.value!r} has fewer than {a.n or 1} words")


def _check_threshold(a: Assertion) -> None:
    uses_threshold = (*LIMIT_TYPES, *DEFAULT_THRESHOLDS)
    if a.threshold is not None and a.base not in uses_threshold:
        raise ValueError(f"{a.type} takes no threshold")
    if a.base in LIMIT_TYPES and a.threshold is None:
        unit = "milliseconds" if a.base == "latency" else "US dollars"
        raise ValueError(f"{a.type} needs a threshold (the maximum, in {unit})")
    if a.threshold is not None and a.threshold < 0:
        raise ValueError(f"{a.type} threshold must be >= 0, got {a.threshold}")
    if a.base == "rouge-n" and a.threshold is not None and a.threshold > 1:
        raise ValueError(f"{a.type} threshold is a recall in 0..1, got {a.threshold}")


def _compile(pattern: object, what: str) -> re.Pattern[str]:
    try:
        return re.compile(str(pattern))
    except re.error as exc:
        raise ValueError(f"{what} {pattern!r} does not compile: {exc}") from None


class Case(BaseModel):
    """One test: the variables to render, an optional user message, and its assertions."""

    model_config = _FROZEN

    index: int = Field(ge=1)
    description: str | None = None
    vars: dict[str, VarValue] = Field(default_factory=dict)
    input: str | None = None
    threshold: float | None = Field(default=None, ge=0, le=1)
    assertions: tuple[Assertion, ...] = Field(default=(), alias="assert")

    @property
    def name(self) -> str:
        """How messages name the case: `case 3 (refund question)`."""
        return case_name(self.index, self.description)


def case_name(index: int, description: str | None) -> str:
    """`case N (description)`, or `case N` when there is no description."""
    return f"case {index} ({description})" if description else f"case {index}"


class SuiteDefaults(BaseModel):
    """What every case inherits (promptfoo's defaultTest): assertions run on every output."""

    model_config = _FROZEN

    assertions: tuple[Assertion, ...] = Field(default=(), alias="assert")


class Suite(BaseModel):
    """A prompt evaluation suite: cases, default assertions and the safety settings."""

    model_config = _FROZEN

    description: str | None = None
    forbidden: tuple[str, ...] = ()
    canary: str | None = Field(default=None, min_length=1)
    defaults: SuiteDefaults = SuiteDefaults()
    cases: tuple[Case, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _patterns_compile(self) -> Suite:
        for pattern in self.forbidden:
            _compile(pattern, "forbidden pattern")
        return self

    def assertions_for(self, case: Case) -> tuple[Assertion, ...]:
        """The suite's default assertions followed by the case's own."""
        return self.defaults.assertions + case.assertions


def parse_suite(data: Mapping[str, Any]) -> Suite:
    """Validate a parsed suite mapping; any problem is an InvalidSuite naming where it is."""
    raw = dict(data)
    if "tests" in raw:
        if "cases" in raw:
            raise InvalidSuite("a suite lists its cases under `cases` or `tests`, not both")
        raw["cases"] = raw.pop("tests")
    cases = raw.get("cases")
    if not cases:
        raise InvalidSuite("the suite has no cases (list them under `cases:` or `tests:`)")
    if not isinstance(cases, list):
        raise InvalidSuite(f"`cases` must be a list, got {type(cases).__name__}")
    raw["cases"] = [_numbered(case, i) for i, case in enumerate(cases, 1)]
    try:
        return Suite.model_validate(raw)
    except ValidationError as exc:
        raise InvalidSuite("; ".join(_describe(e, raw) for e in exc.errors())) from None


def _numbered(case: object, index: int) -> dict[str, Any]:
    if not isinstance(case, Mapping):
        raise InvalidSuite(f"case {index} must be a mapping, got {type(case).__name__}")
    if "index" in case:
        raise InvalidSuite(f"case {index}: unknown field 'index' (cases are numbered in order)")
    return {**case, "index": index}


def _describe(error: Any, raw: dict[str, Any]) -> str:
    if error["type"] == "value_error":
        message = str(error["ctx"]["error"])
    elif error["type"] == "extra_forbidden":
        message = "unknown field"
    else:
        message = error["msg"]
    return f"{_where(list(error['loc']), raw)}: {message}"


def _where(loc: list[Any], raw: dict[str, Any]) -> str:
    """`case 3 (refund): assertion 2 (regex): weight` from pydantic's error location."""
    parts, container = [], raw
    if loc[:1] == ["cases"] and len(loc) > 1:
        container = raw["cases"][loc[1]]
        parts.append(case_name(loc[1] + 1, container.get("description")))
        loc = loc[2:]
    elif loc[:1] == ["defaults"] and isinstance(raw.get("defaults"), Mapping):
        container, parts, loc = raw["defaults"], ["defaults"], loc[1:]
    if len(loc) > 1 and loc[0] in ("assert", "assertions") and isinstance(loc[1], int):
        item = container.get(loc[0])[loc[1]]
        kind = item.get("type") if isinstance(item, Mapping) else None
        parts.append(f"assertion {loc[1] + 1}" + (f" ({kind})" if kind else ""))
        loc = loc[2:]
    if loc:
        parts.append(".".join(str(part) for part in loc))
    return ": ".join(parts) or "suite"


class AssertionResult(BaseModel):
    """How one output fared against one assertion."""

    model_config = _FROZEN

    type: str
    passed: bool
    score: float = Field(ge=0, le=1)
    reason: str
    metric: str | None = None
    weight: float = Field(default=1.0, ge=0)


class SafetyFinding(BaseModel):
    """A built-in safety check that fired: `pii:email`, `forbidden`, `canary`, `system-echo`..."""

    model_config = _FROZEN

    check: str
    detail: str  # redacted: it is stored in audit records and artifacts


class CaseResult(BaseModel):
    """One case's output, usage, verdict, weighted score, assertion results and safety findings."""

    model_config = _FROZEN

    index: int = Field(ge=1)
    description: str | None = None
    vars: dict[str, VarValue] = Field(default_factory=dict)
    output: str
    latency_ms: float = Field(ge=0)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost: float | None = None
    passed: bool
    score: float = Field(ge=0, le=1)
    assertions: list[AssertionResult] = Field(default_factory=list)
    safety: list[SafetyFinding] = Field(default_factory=list)
    error: str | None = None

    @property
    def name(self) -> str:
        """How messages name the case: `case 3 (refund question)`."""
        return case_name(self.index, self.description)


class SuiteResult(BaseModel):
    """A suite's figures over all its cases; see governance.llm.grading.summarise.

    `hallucination_rate` is 1 - the pass rate of the assertions whose metric is
    `hallucination`, over cases that produced an output (None when no assertion carries that
    metric). A model card's `hallucination_rate` claim is compared against this figure: "in
    the card's terms" means exactly this number.
    """

    model_config = _FROZEN

    description: str | None = None
    cases: list[CaseResult]
    total: int = Field(ge=0)
    passed: int = Field(ge=0)
    pass_rate: float = Field(ge=0, le=1)
    per_assertion: dict[str, dict[str, int]] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)
    hallucination_rate: float | None = None
    safety_failures: int = Field(default=0, ge=0)
    errors: int = Field(default=0, ge=0)
    first_error: str | None = None
    latency_p95_ms: float | None = None
    latency_mean_ms: float | None = None
    cost_total: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None

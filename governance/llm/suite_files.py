"""Loading a prompt suite from YAML bytes, and the digest that pins which suite was run."""

from __future__ import annotations

import hashlib

import yaml

from governance.domain.errors import InvalidSuite
from governance.domain.prompt_suites import JSON_TYPES, Suite, parse_suite
from governance.llm.assertions import schema_problem


def load_suite(data: bytes) -> Suite:
    """Parse and validate suite YAML; every problem is an InvalidSuite saying where it is."""
    try:
        parsed = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        raise InvalidSuite(f"suite YAML does not parse: {_yaml_problem(exc)}") from None
    if not isinstance(parsed, dict):
        kind = "empty" if parsed is None else f"a {type(parsed).__name__}"
        raise InvalidSuite(f"a suite must be a YAML mapping, got {kind}")
    suite = parse_suite(parsed)
    _check_schemas(suite)
    return suite


def suite_digest(data: bytes) -> str:
    """The sha256 hex digest of the suite file's raw bytes."""
    return hashlib.sha256(data).hexdigest()


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark else problem


def _check_schemas(suite: Suite) -> None:
    """A JSON Schema that is itself invalid would fail every output: refuse it up front."""
    places = [("defaults", a) for a in suite.defaults.assertions]
    places += [(case.name, a) for case in suite.cases for a in case.assertions]
    for where, assertion in places:
        if assertion.base in JSON_TYPES and assertion.value is not None:
            problem = schema_problem(assertion.value)
            if problem:
                raise InvalidSuite(f"{where}: {assertion.type} has a bad JSON Schema: {problem}")

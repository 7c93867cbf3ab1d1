"""Semantic version precedence follows semver 2.0.0 §11."""

from __future__ import annotations

import itertools
import random

import pytest

from governance.domain.models import semver_key

# The precedence example from the semver 2.0.0 specification, plus numeric rc identifiers.
SPEC_ORDER = [
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
]


def test_the_spec_example_sorts_in_spec_order() -> None:
    shuffled = SPEC_ORDER[:]
    random.Random(6).shuffle(shuffled)
    assert sorted(shuffled, key=semver_key) == SPEC_ORDER


def test_each_adjacent_pair_is_strictly_ordered() -> None:
    for lower, higher in itertools.pairwise(SPEC_ORDER):
        assert semver_key(lower) < semver_key(higher), (lower, higher)


def test_numeric_identifiers_compare_numerically() -> None:
    assert sorted(["1.0.0", "1.0.0-rc.10", "1.0.0-rc.2"], key=semver_key) == [
        "1.0.0-rc.2",
        "1.0.0-rc.10",
        "1.0.0",
    ]


@pytest.mark.parametrize(
    ("lower", "higher"),
    [
        ("1.0.0-1", "1.0.0-a"),  # numeric below alphanumeric
        ("1.0.0-rc.9", "1.0.0-rc.a"),
        ("1.0.0-rc", "1.0.0-rc.0"),  # a shorter set of equal identifiers first
        ("1.0.0-99", "1.0.0"),  # any prerelease below the release
        ("1.0.0", "1.0.1-alpha"),
        ("1.9.0", "1.10.0"),
        ("1.0.0-Z", "1.0.0-a"),  # alphanumerics compare in ASCII order
    ],
)
def test_precedence_pairs(lower: str, higher: str) -> None:
    assert semver_key(lower) < semver_key(higher)


def test_build_metadata_is_ignored() -> None:
    assert semver_key("1.0.0+build.5") == semver_key("1.0.0+other")
    assert semver_key("1.0.0-rc.1+b1") == semver_key("1.0.0-rc.1")

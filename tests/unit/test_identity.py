"""Canonical names, verified actors, and the RFC 6238 step matching behind one-time codes."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from governance.domain.errors import InvalidInput
from governance.domain.identity import MAX_NAME, NOT_VERIFIED, VerifiedActor, canonical_name
from governance.services.monitoring import retirement_review
from governance.services.trust.identity import matching_steps

# RFC 6238 appendix B: the SHA-1 seed, and the 8-digit codes whose last 6 digits are ours.
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
RFC_VECTORS = {59: "287082", 1111111109: "081804", 1234567890: "005924", 2000000000: "279037"}


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("carol", "carol"),
        ("  Carol ", "carol"),
        ("CAROL\t", "carol"),
        (
            "\uff23\uff41\uff52\uff4f\uff4c",
            "carol",
        ),  # fullwidth "Carol" letters fold to the same person (NFKC)
        ("Straße", "strasse"),  # case folding, not just lower-casing
        ("Jean-Luc Picard", "jean-luc picard"),
    ],
)
def test_canonical_name_is_nfkc_trimmed_and_case_folded(typed: str, canonical: str) -> None:
    assert canonical_name(typed) == canonical


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "a person's name is empty"),
        ("   \t ", "a person's name is empty"),
        ("x" * (MAX_NAME + 1), "a person's name is longer than 128 characters"),
        ("car\x00ol", "a person's name holds control characters: 'car\\x00ol'"),
        ("car\nol", "a person's name holds control characters: 'car\\nol'"),
        ("car\u200bol", "a person's name holds control characters: 'car\\u200bol'"),
        ("caro\u202el", "a person's name holds control characters: 'caro\\u202el'"),
    ],
)
def test_canonical_name_refuses_empty_oversized_and_control_characters(
    typed: str, message: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        canonical_name(typed)
    assert type(caught.value) is InvalidInput
    assert str(caught.value) == message


def test_canonical_name_accepts_exactly_the_maximum_length() -> None:
    assert canonical_name("x" * MAX_NAME) == "x" * MAX_NAME


def test_canonical_name_refuses_non_text() -> None:
    with pytest.raises(InvalidInput) as caught:
        canonical_name(42)  # type: ignore[arg-type]
    assert str(caught.value) == "a person's name must be text, got int"


def test_verified_actor_says_whether_a_code_stood_behind_it() -> None:
    assert VerifiedActor(name="carol", method="totp").verified is True
    assert VerifiedActor(name="carol", method="none").verified is False
    # The scheduler is not a person: nothing verified it, and it says so.
    assert VerifiedActor(name="retirement-audit", method="system").verified is False
    assert NOT_VERIFIED == "identities not verified"


def test_verified_actor_has_no_default_that_says_verified() -> None:
    with pytest.raises(ValidationError) as caught:
        VerifiedActor(name="x")  # type: ignore[call-arg]
    assert [(e["loc"], e["type"]) for e in caught.value.errors()] == [(("method",), "missing")]


def test_verified_actor_refuses_a_field_it_does_not_have() -> None:
    # `verified=False` used to be dropped silently, leaving an actor verified by default.
    with pytest.raises(ValidationError) as caught:
        VerifiedActor(name="x", method="none", verified=False)  # type: ignore[call-arg]
    errors = [(e["loc"], e["type"]) for e in caught.value.errors()]
    assert errors == [(("verified",), "extra_forbidden")]


def test_verified_actor_refuses_an_unknown_method() -> None:
    with pytest.raises(ValidationError) as caught:
        VerifiedActor(name="x", method="password")
    assert [(e["loc"], e["type"]) for e in caught.value.errors()] == [
        (("method",), "literal_error")
    ]


def test_the_retirement_audit_requests_reviews_as_the_unverified_scheduler() -> None:
    assert VerifiedActor(name="retirement-audit", method="system") == retirement_review.REQUESTER
    assert retirement_review.REQUESTER.verified is False


@pytest.mark.parametrize(("unix", "code"), sorted(RFC_VECTORS.items()))
def test_codes_follow_the_rfc_6238_test_vectors(unix: int, code: str) -> None:
    now = datetime.fromtimestamp(unix, UTC)
    assert matching_steps(RFC_SECRET, code, now) == [unix // 30]


def test_a_code_matches_its_own_step_and_the_neighbouring_ones_only() -> None:
    code = RFC_VECTORS[1111111109]
    step = 1111111109 // 30
    for offset in (-1, 0, 1):
        later = datetime.fromtimestamp((step + offset) * 30, UTC)
        assert matching_steps(RFC_SECRET, code, later) == [step]
    for offset in (-2, 2):
        far = datetime.fromtimestamp((step + offset) * 30, UTC)
        assert matching_steps(RFC_SECRET, code, far) == []

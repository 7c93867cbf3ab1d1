"""Retirement rules: criteria precedence, each finding at its thresholds, and the verdict."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from governance.domain.audit import canonical_json
from governance.domain.cards import RetirementCriteria, card_hash, parse_card
from governance.domain.errors import ConfigError, MalformedCard
from governance.domain.models import LifecycleStage
from governance.domain.monitoring import (
    KNOWN_METRICS,
    Check,
    ColumnDrift,
    DailyScore,
    DatasetDrift,
    Finding,
    Status,
)
from governance.domain.policy import policy_from_mapping
from governance.domain.policy_sections import RetirementDefaults
from governance.domain.retirement import (
    Criteria,
    Verdict,
    VersionAudit,
    accuracy_finding,
    age_finding,
    break_glass_finding,
    decide,
    drift_finding,
    effective_criteria,
    error_finding,
    no_traffic_finding,
    review_period_days,
    stale_card_finding,
    trailing_run_below,
)

NOW = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)
TODAY = NOW.date()
DEFAULTS = RetirementDefaults()
CRITERIA = effective_criteria(RetirementCriteria(), DEFAULTS)
ROSTER = {
    "alice": ["ml_engineer"],
    "bob": ["ml_engineer"],
    "carol": ["ml_lead"],
    "dave": ["risk_officer"],
    "erin": ["legal"],
}


def criteria(**changes: Any) -> Criteria:
    return CRITERIA.model_copy(update=changes)


# --- criteria --------------------------------------------------------------------------------


def test_policy_defaults_fill_every_criterion_a_card_leaves_out() -> None:
    assert CRITERIA.model_dump() == {
        "max_age_days": 90,
        "accuracy_metric": "accuracy",
        "min_accuracy": 0.8,
        "min_accuracy_days": None,
        "accuracy_window_days": 30,
        "min_labels": 50,
        "max_drift_share": 0.3,
        "drift_window_days": 7,
        "min_drift_rows": 100,
        "no_traffic_days": 30,
        "review_days": 90,
    }
    assert DEFAULTS.reference_rows == 5000
    assert DEFAULTS.roles == ["ml_lead", "risk_officer"]


def test_a_card_value_wins_over_the_policy_default() -> None:
    card = RetirementCriteria(
        max_age_days=180,
        min_accuracy=0.88,
        min_accuracy_days=7,
        accuracy_metric="f1",
        max_drift_share=0.5,
        no_traffic_days=10,
    )
    defaults = RetirementDefaults(min_labels=20, drift_window_days=3, review_days=60)
    got = effective_criteria(card, defaults)
    assert (got.max_age_days, got.min_accuracy, got.min_accuracy_days) == (180, 0.88, 7)
    assert (got.accuracy_metric, got.max_drift_share, got.no_traffic_days) == ("f1", 0.5, 10)
    # only the policy can set these
    assert (got.min_labels, got.drift_window_days, got.review_days) == (20, 3, 60)
    assert got.accuracy_window_days == 30 and got.min_drift_rows == 100


@pytest.mark.parametrize(
    ("schedule", "days"),
    [
        ("daily", 1),
        ("Weekly", 7),
        ("  monthly ", 30),
        ("quarterly", 91),
        ("semi-annually", 182),
        ("semiannually", 182),
        ("Half-Yearly", 182),
        ("annually", 365),
        ("yearly", 365),
        ("every 2 weeks", 14),
        ("Every 10 Days", 10),
        ("every 1 day", 1),
        ("every 3 months", 90),
        ("every  6   months", 180),
        ("every 0 days", None),
        ("every week", None),
        ("fortnightly", None),
        ("when needed", None),
        ("", None),
    ],
)
def test_review_period_days(schedule: str, days: int | None) -> None:
    assert review_period_days(schedule) == days


# --- age -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trained_ago", "approved_ago", "status", "words"),
    [
        (90, 90, Status.ok, "within the 90-day limit"),
        (91, 90, Status.breached, ": training age over the 90-day limit"),
        (10, 91, Status.breached, ": approval age over the 90-day limit"),
        (91, 91, Status.breached, ": training and approval age over the 90-day limit"),
        (89, None, Status.ok, "trained 89 days ago on 2025-04-02 and never approved"),
    ],
)
def test_age_at_and_around_its_limit(
    trained_ago: int, approved_ago: int | None, status: Status, words: str
) -> None:
    found = age_finding(
        trained_on=TODAY - timedelta(days=trained_ago),
        created_at=NOW - timedelta(days=3),
        approved_at=None if approved_ago is None else NOW - timedelta(days=approved_ago),
        criteria=CRITERIA,
        now=NOW,
    )
    assert (found.check, found.status, found.hard) == (Check.age, status, True)
    assert words in found.message
    assert found.figures["days_since_training"] == trained_ago
    assert found.figures["days_since_approval"] == approved_ago
    assert found.figures["training_date_from"] == "card"


def test_age_falls_back_to_the_registration_date_and_says_so() -> None:
    found = age_finding(
        trained_on=None,
        created_at=NOW - timedelta(days=120),
        approved_at=NOW - timedelta(days=100),
        criteria=criteria(max_age_days=110),
        now=NOW,
    )
    assert found.status == Status.breached
    assert found.message == (
        "trained 120 days ago on 2025-03-02 (the card states no training date, so the "
        "registration date stands in) and approved 100 days ago: training age over the "
        "110-day limit"
    )
    assert found.figures["training_date_from"] == "registration"
    assert found.figures["over"] == ["training"]


# --- accuracy --------------------------------------------------------------------------------


def days(*values: float | None, labels: int = 60, end: date = TODAY) -> list[DailyScore]:
    """A daily series ending at `end`, one value per day, oldest first."""
    start = end - timedelta(days=len(values) - 1)
    return [
        DailyScore(day=start + timedelta(days=i), labels=labels if v is not None else 3, value=v)
        for i, v in enumerate(values)
    ]


@pytest.mark.parametrize(
    ("series", "run"),
    [
        (days(0.9, 0.7, 0.7, 0.7), 3),
        (days(0.7, 0.7, 0.9), 0),
        (days(0.7, None, 0.7, 0.7), 2),  # a day without a score breaks the run
        (days(0.7, 0.7, None), 0),
        (days(0.7, 0.8, 0.7), 1),  # equal to the threshold is not below it
        (days(), 0),
        (
            days(0.7, end=TODAY - timedelta(days=2)) + days(0.7),
            1,
        ),  # a missing calendar day breaks it
        (list(reversed(days(0.9, 0.7, 0.7))), 2),  # order of the input does not matter
    ],
)
def test_trailing_run_below(series: list[DailyScore], run: int) -> None:
    assert trailing_run_below(series, 0.8) == run


RUN = criteria(min_accuracy=0.88, min_accuracy_days=3)


@pytest.mark.parametrize(
    ("series", "status", "run", "words"),
    [
        (
            days(0.9, 0.85, 0.86, 0.84),
            Status.breached,
            3,
            "accuracy below 0.88 for the last 3 consecutive days (at or over the 3-day limit), "
            "latest 0.84 on 2025-06-30",
        ),
        (
            days(0.85, 0.86, 0.9, 0.84, 0.83),
            Status.ok,
            2,
            "accuracy below 0.88 for the last 2 consecutive days (under the 3-day limit), "
            "latest 0.83 on 2025-06-30",
        ),
        (
            days(0.85, 0.86, None, 0.84, 0.83),
            Status.ok,
            2,
            "for the last 2 consecutive days (under the 3-day limit)",
        ),
        (
            days(0.85, 0.86, 0.87, 0.88),
            Status.ok,
            0,
            "for the last 0 consecutive days",
        ),
        (
            days(0.8, None, 0.8, None),
            Status.insufficient,
            0,
            "insufficient labels: 2 of 3 days needed with at least 50 labels each for accuracy",
        ),
        (days(), Status.insufficient, 0, "insufficient labels: 0 of 3 days needed"),
    ],
)
def test_accuracy_run_length(
    series: list[DailyScore], status: Status, run: int, words: str
) -> None:
    found = accuracy_finding(series=series, window_value=0.99, window_labels=999, criteria=RUN)
    assert (found.check, found.status, found.hard) == (Check.accuracy, status, True)
    assert words in found.message
    assert found.figures["run_days"] == run
    assert found.figures["series"] == [
        {"day": s.day.isoformat(), "labels": s.labels, "value": s.value} for s in series
    ]
    if status == Status.insufficient:
        assert found.figures["value"] is None
    else:
        assert found.figures["value"] == series[-1].value


def test_the_run_length_ignores_the_window_figures() -> None:
    # a window value far below the minimum does not matter once a run length is set
    found = accuracy_finding(
        series=days(0.9, 0.9, 0.9), window_value=0.1, window_labels=999, criteria=RUN
    )
    assert found.status == Status.ok
    assert found.figures["min_accuracy_days"] == 3 and found.figures["scored_days"] == 3


@pytest.mark.parametrize(
    ("value", "labels", "status", "message"),
    [
        (
            0.8,
            50,
            Status.ok,
            "accuracy over the last 30 days is 0.8 on 50 labels, at or above the minimum 0.8",
        ),
        (
            0.7999,
            50,
            Status.breached,
            "accuracy over the last 30 days is 0.7999 on 50 labels, below the minimum 0.8",
        ),
        (
            0.5,
            49,
            Status.insufficient,
            "insufficient labels: 49 of 50 needed (accuracy over the last 30 days)",
        ),
        (None, 0, Status.insufficient, "insufficient labels: 0 of 50 needed"),
        (None, 80, Status.insufficient, "no accuracy over the last 30 days although 80 labels"),
    ],
)
def test_accuracy_over_the_window(
    value: float | None, labels: int, status: Status, message: str
) -> None:
    found = accuracy_finding(series=[], window_value=value, window_labels=labels, criteria=CRITERIA)
    assert (found.status, found.hard) == (status, True)
    assert message in found.message
    assert found.figures["labels"] == labels and found.figures["min_labels"] == 50
    # an unreliable number is never shown as the value
    assert found.figures["value"] == (value if status != Status.insufficient else None)


def test_accuracy_names_the_metric_the_criteria_choose() -> None:
    found = accuracy_finding(
        series=[], window_value=0.6, window_labels=70, criteria=criteria(accuracy_metric="f1")
    )
    assert found.message.startswith("f1 over the last 30 days is 0.6")
    assert found.figures["metric"] == "f1"


# --- drift -----------------------------------------------------------------------------------


def drift(*drifted: bool, max_share: float = 0.3) -> DatasetDrift:
    columns = [
        ColumnDrift(
            column=f"c{i}",
            kind="num",
            reference_kind="cat" if i == 0 else "num",
            method="ks",
            score=0.01 if d else 0.5,
            threshold=0.05,
            drifted=d,
        )
        for i, d in enumerate(drifted)
    ]
    return DatasetDrift(columns=columns, reference_rows=5000, current_rows=400, max_share=max_share)


def test_drift_at_the_limit_is_breached_and_names_the_columns() -> None:
    found = drift_finding(
        drift(True, False, True, *[False] * 7), current_rows=400, criteria=CRITERIA
    )
    assert found.status == Status.ok  # 2 of 10 is under 0.3
    found = drift_finding(
        drift(True, False, True, True, *[False] * 6), current_rows=400, criteria=CRITERIA
    )
    assert (found.check, found.status, found.hard) == (Check.drift, Status.breached, True)
    assert found.message == (
        "3 of 10 columns drifted over the last 7 days (share 0.30, at or over the limit 0.3): "
        "c0, c2, c3"
    )
    assert found.figures["share"] == pytest.approx(0.3)
    assert found.figures["drifted"] == ["c0", "c2", "c3"]
    assert found.figures["columns"][0] == {
        "column": "c0",
        "kind": "num",
        "reference_kind": "cat",
        "method": "ks",
        "score": 0.01,
        "threshold": 0.05,
        "drifted": True,
    }


def test_drift_under_the_limit_is_ok() -> None:
    found = drift_finding(drift(False, False, True, False), current_rows=100, criteria=CRITERIA)
    assert found.status == Status.ok
    assert "1 of 4 columns drifted" in found.message and "under the limit 0.3" in found.message


@pytest.mark.parametrize(
    ("result", "rows", "message"),
    [
        (drift(True, True), 99, "insufficient rows for drift: 99 of 100 needed over the last"),
        (None, 0, "insufficient rows for drift: 0 of 100 needed over the last 7 days"),
        (None, 100, "no drift test ran on the 100 rows over the last 7 days"),
    ],
)
def test_drift_without_enough_rows_is_insufficient(
    result: DatasetDrift | None, rows: int, message: str
) -> None:
    found = drift_finding(result, current_rows=rows, criteria=CRITERIA)
    assert (found.status, found.hard) == (Status.insufficient, True)
    assert found.message == message or found.message.startswith(message)
    assert "share" not in found.figures


# --- stale card, traffic, break-glass, errors ------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "reviewed_ago", "status", "words"),
    [
        ("weekly", timedelta(days=7), Status.ok, "by its 'weekly' schedule (7 days)"),
        ("weekly", timedelta(days=7, seconds=1), Status.breached, ": 0 days overdue"),
        ("every 2 weeks", timedelta(days=20), Status.breached, "due on 2025-06-24: 6 days overdue"),
        (
            "when it drifts",
            timedelta(days=90),
            Status.ok,
            "the policy's 90-day review period (schedule 'when it drifts' is unreadable)",
        ),
        ("", timedelta(days=91), Status.breached, "1 days overdue"),
    ],
)
def test_stale_card(schedule: str, reviewed_ago: timedelta, status: Status, words: str) -> None:
    found = stale_card_finding(
        schedule=schedule, last_reviewed=NOW - reviewed_ago, criteria=CRITERIA, now=NOW
    )
    assert (found.check, found.status, found.hard) == (Check.stale_card, status, False)
    assert words in found.message
    assert found.figures["schedule_readable"] is (review_period_days(schedule) is not None)


@pytest.mark.parametrize(
    ("last_ago", "since_ago", "status", "idle", "words"),
    [
        (timedelta(days=30), timedelta(days=200), Status.breached, 30, "at or over the 30-day"),
        (timedelta(days=29, hours=23), timedelta(days=200), Status.ok, 29, "under the 30-day"),
        # promoted yesterday: months-old traffic in an earlier stage does not make it idle
        (timedelta(days=90), timedelta(days=1), Status.ok, 1, "since entering its stage on"),
        (None, timedelta(days=31), Status.breached, 31, "no prediction or ingested batch since"),
        (None, timedelta(days=2), Status.ok, 2, "idle 2 days, under the 30-day limit"),
    ],
)
def test_no_traffic(
    last_ago: timedelta | None, since_ago: timedelta, status: Status, idle: int, words: str
) -> None:
    found = no_traffic_finding(
        last_activity=None if last_ago is None else NOW - last_ago,
        since=NOW - since_ago,
        criteria=CRITERIA,
        now=NOW,
    )
    assert (found.check, found.status, found.hard) == (Check.no_traffic, status, False)
    assert found.figures["idle_days"] == idle
    assert words in found.message


def test_break_glass_names_the_open_reviews() -> None:
    assert break_glass_finding([]).status == Status.ok
    found = break_glass_finding(["req-7", "req-9"])
    assert (found.check, found.status, found.hard) == (Check.break_glass, Status.breached, False)
    assert found.message == "2 break-glass retro-review(s) still open: req-7, req-9"
    assert found.figures == {"open_reviews": ["req-7", "req-9"]}


def test_a_check_that_raised_becomes_an_error_finding() -> None:
    found = error_finding(Check.drift, KeyError("feature 'age' missing"))
    assert (found.check, found.status) == (Check.drift, Status.error)
    assert found.message == "drift check failed: KeyError: \"feature 'age' missing\""
    assert found.figures["error"] == "KeyError"


# --- decide ----------------------------------------------------------------------------------


def f(check: Check, status: Status, *, hard: bool | None = None) -> Finding:
    is_hard = check in (Check.age, Check.accuracy, Check.drift) if hard is None else hard
    return Finding(check=check, status=status, message="", hard=is_hard)


OK = [f(Check.age, Status.ok), f(Check.accuracy, Status.ok), f(Check.drift, Status.ok)]
LATER, EARLIER = NOW + timedelta(days=1), NOW - timedelta(seconds=1)


@pytest.mark.parametrize(
    ("findings", "successor", "retained", "verdict", "reason"),
    [
        (OK, "2.0.0", None, Verdict.retain, "every check passed"),
        (
            [*OK, f(Check.accuracy, Status.breached), f(Check.age, Status.breached)],
            "2.0.0",
            None,
            Verdict.retire,
            "accuracy and age breached, and 2.0.0 can take over",
        ),
        (
            [*OK, f(Check.no_traffic, Status.breached)],
            None,
            None,
            Verdict.retire,
            "no_traffic breached, and it serves no traffic",
        ),
        (
            [f(Check.drift, Status.breached)],
            None,
            None,
            Verdict.revalidate,
            "drift breached with no successor to take over",
        ),
        (
            [*OK, f(Check.accuracy, Status.insufficient), f(Check.drift, Status.insufficient)],
            "2.0.0",
            None,
            Verdict.revalidate,
            "too little data for accuracy and drift",
        ),
        (
            [*OK, f(Check.age, Status.error)],
            "2.0.0",
            None,
            Verdict.revalidate,
            "age could not be checked",
        ),
        (
            [*OK, f(Check.stale_card, Status.breached), f(Check.break_glass, Status.breached)],
            "2.0.0",
            None,
            Verdict.revalidate,
            "stale_card and break_glass breached",
        ),
        (
            [f(Check.age, Status.breached), f(Check.drift, Status.error)],
            None,
            None,
            Verdict.revalidate,
            "age breached with no successor to take over; drift could not be checked",
        ),
        (
            [f(Check.age, Status.breached)],
            "2.0.0",
            LATER,
            Verdict.retain,
            "age breached, and 2.0.0 can take over, but a rejected retirement keeps it until "
            "2025-07-01",
        ),
        (
            [f(Check.no_traffic, Status.breached)],
            None,
            LATER,
            Verdict.retain,
            "until 2025-07-01",
        ),
        ([f(Check.age, Status.breached)], "2.0.0", EARLIER, Verdict.retire, "2.0.0 can take"),
        (
            [f(Check.age, Status.breached)],
            None,
            LATER,
            Verdict.revalidate,
            "age breached with no successor",
        ),
        ([f(Check.stale_card, Status.breached)], None, LATER, Verdict.revalidate, "stale_card"),
        ([], None, None, Verdict.retain, "every check passed"),
    ],
)
def test_decide(
    findings: list[Finding],
    successor: str | None,
    retained: datetime | None,
    verdict: Verdict,
    reason: str,
) -> None:
    got, why = decide(findings, successor=successor, retained_until=retained, now=NOW)
    assert got == verdict
    assert reason in why


def test_verdict_values_and_audit_rows() -> None:
    assert [v.value for v in Verdict] == ["retain", "re-validate", "retire"]
    findings = [break_glass_finding(["req-1"]), error_finding(Check.age, ValueError("x"))]
    audit = VersionAudit(
        model="churn",
        version="1.0.0",
        stage=LifecycleStage.production,
        verdict=Verdict.revalidate,
        reason="why",
        successor=None,
        findings=findings,
        checked_at=NOW,
    )
    base = {"model": "churn", "version": "1.0.0", "stage": "production", "verdict": "re-validate"}
    assert audit.rows() == [
        {**base, "check": "break_glass", "status": "breached", "message": findings[0].message},
        {**base, "check": "age", "status": "error", "message": "age check failed: ValueError: x"},
    ]
    empty = audit.model_copy(update={"findings": [], "verdict": Verdict.retain})
    assert empty.rows() == [
        {**base, "verdict": "retain", "check": "none", "status": "", "message": "why"}
    ]


# --- cards and policy ------------------------------------------------------------------------


def test_a_card_naming_an_unknown_metric_is_refused() -> None:
    with pytest.raises(MalformedCard) as caught:
        parse_card({"retirement_criteria": {"min_accuracy": 0.9, "accuracy_metric": "auc_pr"}})
    assert str(caught.value) == (
        "malformed model card: retirement_criteria.accuracy_metric: unknown metric 'auc_pr'; "
        "known metrics: accuracy, balanced_accuracy, f1, precision, recall, r2"
    )
    assert KNOWN_METRICS == ("accuracy", "balanced_accuracy", "f1", "precision", "recall", "r2")


@pytest.mark.parametrize("key", ["min_accuracy_days", "no_traffic_days"])
def test_a_card_run_length_must_be_positive(key: str) -> None:
    with pytest.raises(MalformedCard, match=rf"retirement_criteria\.{key}: .*greater than 0"):
        parse_card({"retirement_criteria": {key: 0}})


def test_a_card_describes_the_new_criteria() -> None:
    card = RetirementCriteria(min_accuracy=0.88, min_accuracy_days=7, no_traffic_days=14)
    assert card.describe() == (
        "retire when accuracy below 0.88 for 7 consecutive days, or no traffic for 14 days"
    )
    assert RetirementCriteria(accuracy_metric="f1", min_accuracy_days=3).describe() == (
        "retire when f1 below the policy minimum for 3 consecutive days"
    )
    assert RetirementCriteria(min_accuracy=0.9).describe() == "retire when accuracy below 0.9"
    assert RetirementCriteria(no_traffic_days=5).has_threshold()
    assert not RetirementCriteria(accuracy_metric="f1").has_threshold()


CARD = {
    "name": "churn",
    "version": "1.2.0",
    "retirement_criteria": {"max_age_days": 180, "min_accuracy": 0.88},
}


def test_card_hash_is_unchanged_for_cards_without_the_new_fields() -> None:
    card = parse_card(CARD)
    # the dump as it was before the new criteria keys and the LLM card's fields existed
    llm_fields = {"base_model", "data_volume", "pii_handling", "hallucination_rate"}
    old_dump = card.model_dump(mode="json", exclude=llm_fields | {"latency_p95_ms"})
    for key in ("accuracy_metric", "min_accuracy_days", "no_traffic_days"):
        del old_dump["retirement_criteria"][key]
    assert card_hash(card) == hashlib.sha256(canonical_json(old_dump).encode()).hexdigest()


def test_card_hash_moves_when_a_new_field_is_set() -> None:
    plain = card_hash(parse_card(CARD))
    with_run = {
        **CARD,
        "retirement_criteria": {**CARD["retirement_criteria"], "min_accuracy_days": 7},
    }
    with_metric = {
        **CARD,
        "retirement_criteria": {**CARD["retirement_criteria"], "accuracy_metric": "f1"},
    }
    hashes = {plain, card_hash(parse_card(with_run)), card_hash(parse_card(with_metric))}
    assert len(hashes) == 3


def test_policy_refuses_an_unknown_accuracy_metric() -> None:
    with pytest.raises(ConfigError) as caught:
        policy_from_mapping({"roster": ROSTER, "retirement": {"accuracy_metric": "auc_pr"}})
    assert str(caught.value) == (
        "policy file: retirement.accuracy_metric: unknown metric 'auc_pr'; "
        "known metrics: accuracy, balanced_accuracy, f1, precision, recall, r2"
    )


def test_policy_refuses_an_unknown_review_role_and_an_empty_role_list() -> None:
    with pytest.raises(ConfigError, match=r"retirement\.roles: unknown role 'boss'"):
        policy_from_mapping({"roster": ROSTER, "retirement": {"roles": ["boss"]}})
    with pytest.raises(ConfigError, match=r"retirement\.roles: .*at least 1 item"):
        policy_from_mapping({"roster": ROSTER, "retirement": {"roles": []}})


def test_policy_accepts_every_retirement_key() -> None:
    retirement = {
        "accuracy_metric": "r2",
        "min_accuracy_days": 5,
        "accuracy_window_days": 14,
        "min_labels": 10,
        "drift_window_days": 3,
        "min_drift_rows": 20,
        "no_traffic_days": 45,
        "review_days": 30,
        "reference_rows": 1000,
        "roles": ["risk_officer"],
    }
    policy = policy_from_mapping({"roster": ROSTER, "retirement": retirement})
    assert policy.retirement.model_dump(include=set(retirement)) == retirement

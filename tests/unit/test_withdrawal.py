"""Withdrawing a version from a routing spec, and the accuracy series the audit reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from governance.domain.monitoring import KNOWN_METRICS, DailyScore
from governance.domain.rollout import ABSplit, FlagRule, RoutingSpec
from governance.domain.withdrawal import mentions, serving_versions, withdraw
from governance.ml import accuracy

FLAG_OLD = FlagRule(name="old", version="1.0.0", org_ids=["acme"])
FLAG_NEW = FlagRule(name="new", version="1.2.0", user_ids=["u1"])


@pytest.mark.parametrize(
    ("spec", "successor", "expected"),
    [
        (  # a flag and an idle slot go; the active slot and the other flag stay
            RoutingSpec(
                stable="1.1.0",
                slots={"blue": "1.0.0", "green": "1.1.0"},
                active_slot="green",
                flags=[FLAG_OLD, FLAG_NEW],
            ),
            "1.1.0",
            RoutingSpec(
                stable="1.1.0",
                slots={"blue": None, "green": "1.1.0"},
                active_slot="green",
                flags=[FLAG_NEW],
            ),
        ),
        (  # a canary of it stops
            RoutingSpec(stable="1.1.0", canary="1.0.0", canary_weight=25),
            "1.1.0",
            RoutingSpec(stable="1.1.0"),
        ),
        (  # an A/B split naming it ends
            RoutingSpec(
                stable="1.1.0",
                ab=ABSplit(
                    experiment_id="e1",
                    variants={"A": "1.1.0", "B": "1.0.0"},
                    weights={"A": 50, "B": 50},
                ),
            ),
            "1.1.0",
            RoutingSpec(stable="1.1.0"),
        ),
        (  # where it was stable (in the active slot), the successor takes over
            RoutingSpec(stable="1.0.0", slots={"blue": "1.0.0", "green": None}, active_slot="blue"),
            "1.1.0",
            RoutingSpec(stable="1.1.0", slots={"blue": "1.1.0", "green": None}, active_slot="blue"),
        ),
        (  # with no successor, the endpoint is left with no stable version
            RoutingSpec(stable="1.0.0"),
            None,
            RoutingSpec(stable=None),
        ),
    ],
    ids=["flag-and-idle-slot", "canary", "ab", "stable-in-slot", "no-successor"],
)
def test_withdraw_takes_the_version_out_of_every_part(spec, successor, expected):
    assert mentions(spec, "1.0.0")
    after = withdraw(spec, "1.0.0", successor)
    assert after == expected
    assert not mentions(after, "1.0.0")


def test_idle_slots_do_not_serve_but_flags_do():
    spec = RoutingSpec(
        stable="1.1.0",
        slots={"blue": "1.0.0", "green": "1.1.0"},
        active_slot="green",
        flags=[FLAG_NEW],
    )
    assert serving_versions(spec) == {"1.1.0", "1.2.0"}


def test_the_scorers_are_the_metrics_a_card_may_name():
    assert set(accuracy.SCORERS) == set(KNOWN_METRICS)


def test_daily_scores_leave_thin_days_without_a_figure():
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    rows = [(now - timedelta(days=1), 1, 1)] * 3 + [(now - timedelta(days=1), 1, 0)]
    rows = pd.DataFrame([*rows, (now, 0, 0)], columns=["time", "label", "prediction"])
    series, window, labels = accuracy.scores(
        "accuracy", rows, min_labels=2, since=now - timedelta(days=2), until=now
    )
    assert series == [
        DailyScore(day=(now - timedelta(days=1)).date(), labels=4, value=0.75),
        DailyScore(day=now.date(), labels=1, value=None),
    ]
    assert (window, labels) == (pytest.approx(0.8), 5)
    _, window, labels = accuracy.scores(
        "accuracy", rows, min_labels=9, since=now - timedelta(days=2), until=now
    )
    assert (window, labels) == (None, 5)


def test_a_kept_stable_version_keeps_serving_and_its_active_slot():
    spec = RoutingSpec(
        stable="1.0.0",
        slots={"blue": "1.0.0", "green": None},
        active_slot="blue",
        flags=[FLAG_OLD, FLAG_NEW],
    )
    kept = withdraw(spec, "1.0.0", None, keep_stable=True)
    assert kept == RoutingSpec(
        stable="1.0.0",
        slots={"blue": "1.0.0", "green": None},
        active_slot="blue",
        flags=[FLAG_NEW],
    )
    # Without keep_stable (a lead accepted the outage) the endpoint has nothing stable.
    emptied = withdraw(spec, "1.0.0", None)
    assert (emptied.stable, emptied.active_slot, emptied.slots) == (
        None,
        None,
        {"blue": None, "green": None},
    )

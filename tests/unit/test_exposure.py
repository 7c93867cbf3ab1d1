"""The production gate for flags and experiments, as pure rules (governance/domain/exposure.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from governance.domain.exposure import (
    ArmsNotDistinct,
    ExperimentTooLong,
    NotApprovedForProduction,
    RejectedForProduction,
    Rejection,
    Standing,
    check_arm,
    check_distinct_arms,
    check_duration,
    check_flag,
)
from governance.domain.models import LifecycleStage as S
from governance.domain.rollout import FlagRule

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
REJECTED = Rejection("r-1", "dave", "risk_officer", NOW, "not calibrated")


def standing(stage: S, rejection: Rejection | None = None) -> Standing:
    return Standing(ref="churn@1.1.0", stage=stage, rejection=rejection)


@pytest.mark.parametrize("stage", [S.production, S.deprecated])
def test_a_version_that_is_or_was_production_may_be_flagged_to_anyone(stage):
    assert standing(stage).approved
    # The checks refuse by raising; an approved version passes both.
    everyone = FlagRule(name="all", version="1.1.0", percentage=100)
    assert check_flag(standing(stage), everyone, cap=5) is None
    assert check_arm("A", standing(stage)) is None


def test_a_standing_rejection_outranks_everything_else():
    for stage in (S.staging, S.production, S.deprecated):
        with pytest.raises(RejectedForProduction, match="rejected by dave \\(risk_officer\\)"):
            check_flag(standing(stage, REJECTED), FlagRule(name="u", version="1.1.0",
                                                           user_ids=["u1"]), cap=5)  # fmt: skip
        with pytest.raises(RejectedForProduction, match="variant B may not serve it"):
            check_arm("B", standing(stage, REJECTED))


@pytest.mark.parametrize(
    ("rule", "allowed"),
    [
        (FlagRule(name="f", version="1.1.0", user_ids=["u1", "u2"]), True),
        (FlagRule(name="f", version="1.1.0", user_ids=["u1"], percentage=5), True),
        (FlagRule(name="f", version="1.1.0", user_ids=["u1"], percentage=5.5), False),
        (FlagRule(name="f", version="1.1.0", org_ids=["acme"], percentage=5), True),
        (FlagRule(name="f", version="1.1.0", org_ids=["acme"]), False),
        (FlagRule(name="f", version="1.1.0", user_ids=["u1"], org_ids=["acme"]), True),
        (FlagRule(name="f", version="1.1.0", percentage=0.5), False),
        (FlagRule(name="f", version="1.1.0", attributes={"tier": "gold"}, percentage=1), False),
    ],
)
def test_a_staged_version_reaches_named_users_or_a_capped_share_of_named_orgs(rule, allowed):
    if allowed:
        check_flag(standing(S.staging), rule, cap=5)
    else:
        with pytest.raises(NotApprovedForProduction):
            check_flag(standing(S.staging), rule, cap=5)
    with pytest.raises(NotApprovedForProduction, match="an A/B arm serves a share of everyone"):
        check_arm("A", standing(S.staging))


def test_arms_are_distinct_and_duration_is_capped():
    check_distinct_arms({"A": "1.0.0", "B": "1.1.0"})
    with pytest.raises(ArmsNotDistinct, match=r"variants A and C both serve 1\.0\.0"):
        check_distinct_arms({"A": "1.0.0", "B": "1.1.0", "C": "1.0.0"})
    check_duration(None, NOW, 30)
    check_duration(NOW + timedelta(days=30), NOW, 30)
    with pytest.raises(ExperimentTooLong, match=r"would run 30\.5 days"):
        check_duration(NOW + timedelta(days=30, hours=12), NOW, 30)

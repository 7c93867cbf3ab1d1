"""The evaluation gate: a check per threshold, production regression, fairness, latency, report."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from governance.domain.errors import InvalidInput
from governance.domain.evaluation import (
    HIGHER_IS_BETTER,
    LOWER_IS_BETTER,
    EvaluationResult,
    GateDecision,
    GatePolicy,
    GateSubject,
    Threshold,
    ThresholdCheck,
    decide_gate,
    fmt_number,
)
from governance.domain.gate_report import gate_report_markdown


def make_result(**changes) -> EvaluationResult:
    fields = {
        "task": "classification",
        "dataset_name": "churn-holdout",
        "dataset_digest": "sha256:abc123",
        "n_rows": 1000,
        "metrics": {"accuracy": 0.91, "f1_weighted": 0.90, "auc_roc": 0.95},
        "per_group": {
            "region": {
                "north": {"accuracy": 0.93, "f1_weighted": 0.92},
                "south": {"accuracy": 0.88, "f1_weighted": 0.87},
            }
        },
        "fairness_gap": {"region": 0.05},
        "latency_p95_ms": 4.0,
    }
    fields.update(changes)
    return EvaluationResult(**fields)


# A medium-risk model whose card reports the two groups make_result evaluates.
SUBJECT = GateSubject(risk_level="medium", declared_groups=("north", "south"))
# A low-risk model whose card declares no groups.
UNGROUPED = GateSubject(risk_level="low")
NOT_APPLICABLE = (
    "fairness gap not applicable: the card declares no groups and the dataset has no group column"
)


def ungrouped_result() -> EvaluationResult:
    """A result on a dataset registered without a group column."""
    return make_result(per_group={}, fairness_gap={})


def at_least(metric: str, value: float) -> Threshold:
    return Threshold(metric=metric, direction="min", value=value)


def at_most(metric: str, value: float) -> Threshold:
    return Threshold(metric=metric, direction="max", value=value)


def check_named(decision: GateDecision, name: str) -> ThresholdCheck:
    (check,) = [c for c in decision.checks if c.name == name]
    return check


def test_all_thresholds_met_passes_with_a_reason_per_check():
    policy = GatePolicy(thresholds=(at_least("accuracy", 0.85), at_least("auc_roc", 0.9)))

    decision = decide_gate(make_result(), policy, SUBJECT)

    assert decision.passed
    assert decision.failures == []
    assert [c.reason for c in decision.checks] == ["accuracy 0.91 >= 0.85", "auc_roc 0.95 >= 0.9"]
    assert decision.summary() == "gate passed: all 2 checks passed"


def test_threshold_below_minimum_fails_and_is_named():
    policy = GatePolicy(thresholds=(at_least("accuracy", 0.95), at_least("auc_roc", 0.9)))

    decision = decide_gate(make_result(), policy, SUBJECT)

    assert not decision.passed
    failed = check_named(decision, "threshold:accuracy")
    assert (failed.passed, failed.observed, failed.limit) == (False, 0.91, 0.95)
    assert failed.reason == "accuracy 0.91 < 0.95"
    assert decision.failures == [failed]
    assert decision.summary() == "gate failed: 1 of 2 checks failed (threshold:accuracy)"


def test_max_threshold_on_lower_is_better_metric():
    result = make_result(task="regression", metrics={"rmse": 52.0, "mae": 40.0, "r2": 0.45})
    policy = GatePolicy(thresholds=(at_most("rmse", 60.0), at_most("mae", 35.0)))

    decision = decide_gate(result, policy, SUBJECT)

    assert check_named(decision, "threshold:rmse").reason == "rmse 52 <= 60"
    assert check_named(decision, "threshold:mae").reason == "mae 40 > 35"
    assert not decision.passed


def test_missing_metric_is_a_failed_check_not_an_exception():
    policy = GatePolicy(thresholds=(at_least("recall", 0.8),))

    decision = decide_gate(make_result(), policy, SUBJECT)

    check = check_named(decision, "threshold:recall")
    assert not check.passed
    assert check.observed is None
    assert check.reason == "metric recall not computed"


def test_drop_beyond_tolerance_fails_against_production():
    result = make_result(
        baseline={"accuracy": 0.91, "f1_weighted": 0.95, "auc_roc": 0.95},
        baseline_version="1.2.0",
    )

    decision = decide_gate(result, GatePolicy(regression_tolerance=0.02), SUBJECT)

    check = check_named(decision, "regression:f1_weighted")
    assert not check.passed
    assert check.reason == "f1_weighted dropped 0.05 below production 1.2.0 (tolerance 0.02)"
    assert check.limit == pytest.approx(0.93)
    assert check_named(decision, "regression:accuracy").passed
    assert decision.summary() == "gate failed: 1 of 3 checks failed (regression:f1_weighted)"


def test_drop_within_tolerance_passes_even_at_exactly_the_tolerance():
    # 0.92 - 0.90 is 0.020000000000000018 in floats: exactly the tolerance must still pass.
    result = make_result(baseline={"f1_weighted": 0.92}, baseline_version="1.2.0")

    decision = decide_gate(result, GatePolicy(regression_tolerance=0.02), SUBJECT)

    check = check_named(decision, "regression:f1_weighted")
    assert check.passed
    assert check.reason == "f1_weighted dropped 0.02 below production 1.2.0 (tolerance 0.02)"


def test_lower_is_better_metric_fails_when_it_rises():
    result = make_result(
        task="regression",
        metrics={"rmse": 55.0, "mae": 41.0},
        baseline={"rmse": 54.0, "mae": 45.0},
        baseline_version="2.0.1",
    )

    decision = decide_gate(result, GatePolicy(regression_tolerance=0.5), SUBJECT)

    rmse = check_named(decision, "regression:rmse")
    assert not rmse.passed
    assert rmse.reason == "rmse rose 1 above production 2.0.1 (tolerance 0.5)"
    assert rmse.limit == 54.5
    mae = check_named(decision, "regression:mae")
    assert mae.passed
    assert mae.reason == "mae 41 vs production 2.0.1 45: not worse"


def test_regression_compares_only_shared_metrics_with_a_known_direction():
    result = make_result(
        metrics={"accuracy": 0.91, "log_loss": 0.3},
        baseline={"accuracy": 0.90, "log_loss": 0.1, "auc_roc": 0.99},
    )

    decision = decide_gate(result, GatePolicy(), SUBJECT)

    assert [c.name for c in decision.checks] == ["regression:accuracy"]


def test_no_baseline_means_no_regression_checks():
    decision = decide_gate(make_result(), GatePolicy(regression_tolerance=0.0), SUBJECT)

    assert decision.checks == []
    assert decision.passed


def test_fairness_gap_over_limit_fails_and_names_the_group_column():
    result = make_result(fairness_gap={"region": 0.05, "age_band": 0.12})

    decision = decide_gate(result, GatePolicy(max_fairness_gap=0.1), SUBJECT)

    check = check_named(decision, "fairness_gap")
    assert not check.passed
    assert check.observed == 0.12
    assert check.reason == "accuracy gap across age_band groups 0.12 > 0.1"


def test_fairness_gap_within_limit_passes():
    decision = decide_gate(make_result(), GatePolicy(max_fairness_gap=0.1), SUBJECT)

    assert (
        check_named(decision, "fairness_gap").reason
        == "accuracy gap across region groups 0.05 <= 0.1"
    )
    assert decision.passed


@pytest.mark.parametrize(
    ("required", "reason"),
    [
        ((), NOT_APPLICABLE),
        (
            ("high", "critical"),
            NOT_APPLICABLE + " (risk level low is not in require_groups_at: high, critical)",
        ),
    ],
)
def test_no_groups_declared_and_none_evaluated_is_a_named_not_applicable(required, reason):
    policy = GatePolicy(max_fairness_gap=0.1, max_latency_p95_ms=10, require_groups_at=required)

    decision = decide_gate(ungrouped_result(), policy, UNGROUPED)

    check = check_named(decision, "fairness_gap")
    assert check == ThresholdCheck(
        name="fairness_gap", passed=True, applicable=False, observed=None, limit=0.1, reason=reason
    )
    assert check.status == "not applicable"
    assert decision.passed and decision.failures == [] and decision.not_applicable == [check]
    assert decision.summary() == (
        "gate passed: 1 of 2 checks passed, 1 not applicable (fairness_gap)"
    )


def test_groups_the_card_declares_but_the_dataset_lacks_fail_naming_them():
    subject = GateSubject(risk_level="low", declared_groups=("age_18_29", "age_65_plus"))

    decision = decide_gate(ungrouped_result(), GatePolicy(max_fairness_gap=0.1), subject)

    assert decision.checks == [
        ThresholdCheck(
            name="fairness_gap",
            passed=False,
            applicable=True,
            observed=None,
            limit=0.1,
            reason="fairness gap not computed: the dataset has no group column, "
            "but the card declares groups (age_18_29, age_65_plus)",
        )
    ]
    assert check_named(decision, "fairness_gap").status == "fail"
    assert not decision.passed and decision.not_applicable == []
    assert decision.summary() == "gate failed: 1 of 1 checks failed (fairness_gap)"


def test_groups_required_at_the_models_risk_level_fail_naming_level_and_setting():
    policy = GatePolicy(max_fairness_gap=0.1, require_groups_at=("critical", "high"))

    decision = decide_gate(ungrouped_result(), policy, GateSubject(risk_level="high"))

    check = check_named(decision, "fairness_gap")
    assert (check.passed, check.applicable, check.observed, check.limit) == (False, True, None, 0.1)
    assert check.reason == (
        "fairness gap not computed: the dataset has no group column, but the policy requires "
        "groups at risk level high (require_groups_at: high, critical)"
    )
    assert not decision.passed


def test_declared_and_required_groups_are_both_named():
    policy = GatePolicy(max_fairness_gap=0.1, require_groups_at=("critical",))
    subject = GateSubject(risk_level="critical", declared_groups=("site_a",))

    decision = decide_gate(ungrouped_result(), policy, subject)

    assert check_named(decision, "fairness_gap").reason == (
        "fairness gap not computed: the dataset has no group column, but the card declares "
        "groups (site_a) and the policy requires groups at risk level critical "
        "(require_groups_at: critical)"
    )


def test_a_version_without_a_card_never_makes_fairness_not_applicable():
    subject = GateSubject(risk_level="low", declared_groups=None)

    decision = decide_gate(ungrouped_result(), GatePolicy(max_fairness_gap=0.1), subject)

    check = check_named(decision, "fairness_gap")
    assert (check.passed, check.applicable) == (False, True)
    assert check.reason == (
        "fairness gap not computed: the dataset has no group column, "
        "but the version has no card to say it declares no groups"
    )


def test_group_columns_with_no_group_of_two_rows_fail_even_without_declared_groups():
    result = make_result(per_group={"site": {}}, fairness_gap={})

    decision = decide_gate(result, GatePolicy(max_fairness_gap=0.1), UNGROUPED)

    check = check_named(decision, "fairness_gap")
    assert (check.passed, check.applicable) == (False, True)
    assert check.reason == "fairness gap not computed: no group of site has two or more rows"


def test_evaluated_groups_are_checked_whatever_the_card_declares():
    decision = decide_gate(make_result(), GatePolicy(max_fairness_gap=0.01), UNGROUPED)

    check = check_named(decision, "fairness_gap")
    assert (check.passed, check.applicable, check.observed) == (False, True, 0.05)
    assert check.reason == "accuracy gap across region groups 0.05 > 0.01"


def test_a_not_applicable_check_cannot_fail_or_observe_a_number():
    with pytest.raises(InvalidInput, match="fairness_gap is not applicable: it passes"):
        ThresholdCheck(name="fairness_gap", passed=False, applicable=False, reason="x")
    with pytest.raises(InvalidInput, match="fairness_gap is not applicable: it passes"):
        ThresholdCheck(name="fairness_gap", passed=True, applicable=False, observed=0.0, reason="x")


def test_a_check_stored_before_the_not_applicable_state_reads_as_applicable():
    stored = {"passed": True, "checks": [{"name": "latency_p95_ms", "passed": True, "reason": "r"}]}

    (check,) = GateDecision.model_validate(stored).checks

    assert (check.applicable, check.status) == (True, "pass")


def test_regression_fairness_gap_is_measured_on_mae():
    result = make_result(task="regression", metrics={"mae": 40.0}, fairness_gap={"sex": 3.0})

    decision = decide_gate(result, GatePolicy(max_fairness_gap=5.0), SUBJECT)

    assert result.primary_metric == "mae"
    assert check_named(decision, "fairness_gap").reason == "mae gap across sex groups 3 <= 5"


def test_latency_over_limit_fails():
    decision = decide_gate(
        make_result(latency_p95_ms=12.5), GatePolicy(max_latency_p95_ms=10), SUBJECT
    )

    check = check_named(decision, "latency_p95_ms")
    assert (check.passed, check.observed, check.limit) == (False, 12.5, 10)
    assert check.reason == "p95 latency 12.5 ms > 10 ms"


def test_latency_within_limit_passes():
    decision = decide_gate(
        make_result(latency_p95_ms=4.0), GatePolicy(max_latency_p95_ms=10), SUBJECT
    )

    assert check_named(decision, "latency_p95_ms").reason == "p95 latency 4 ms <= 10 ms"
    assert decision.passed


def test_max_fairness_gap_is_the_widest_column():
    result = make_result(fairness_gap={"region": 0.05, "age_band": 0.12, "sex": 0.01})

    assert result.max_fairness_gap == 0.12


def test_metric_directions_do_not_overlap():
    assert HIGHER_IS_BETTER.isdisjoint(LOWER_IS_BETTER)
    assert {"accuracy", "f1_weighted", "auc_roc", "precision", "recall", "r2"} <= HIGHER_IS_BETTER
    assert {"rmse", "mae"} <= LOWER_IS_BETTER


def test_decision_cannot_claim_a_pass_over_a_failed_check():
    failed = ThresholdCheck(name="threshold:accuracy", passed=False, reason="accuracy 0.5 < 0.8")

    with pytest.raises(InvalidInput, match="passed=True"):
        GateDecision(passed=True, checks=[failed])


def test_result_rejects_an_unknown_task_and_zero_rows():
    with pytest.raises(ValidationError, match="task"):
        make_result(task="ranking")
    with pytest.raises(ValidationError, match="n_rows"):
        make_result(n_rows=0)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "-"),
        (0.85, "0.85"),
        (0.912345, "0.9123"),
        (53.0, "53"),
        (0.0, "0"),
        (2e-5, "2.00e-05"),
    ],
)
def test_numbers_are_rendered_for_people(value, text):
    assert fmt_number(value) == text


def report_for(result: EvaluationResult, policy: GatePolicy) -> str:
    return gate_report_markdown(decide_gate(result, policy, SUBJECT), result)


def test_report_has_a_row_per_check_with_verdict_and_reason():
    result = make_result(baseline={"accuracy": 0.90, "f1_weighted": 0.95}, baseline_version="1.2.0")
    policy = GatePolicy(thresholds=(at_least("accuracy", 0.85),), max_latency_p95_ms=10)

    report = report_for(result, policy)

    assert report.startswith("## Evaluation gate: FAILED\n")
    assert "gate failed: 1 of 4 checks failed (regression:f1_weighted)" in report
    assert "| check | observed | limit | result | reason |" in report
    assert "| threshold:accuracy | 0.91 | 0.85 | pass | accuracy 0.91 >= 0.85 |" in report
    assert (
        "| regression:f1_weighted | 0.9 | 0.93 | **FAIL** "
        "| f1_weighted dropped 0.05 below production 1.2.0 (tolerance 0.02) |"
    ) in report
    assert "| latency_p95_ms | 4 | 10 | pass | p95 latency 4 ms <= 10 ms |" in report
    assert "Dataset **churn-holdout** (digest `sha256:abc123`), 1000 rows" in report


def test_report_diffs_metrics_against_production():
    result = make_result(baseline={"accuracy": 0.90, "f1_weighted": 0.95}, baseline_version="1.2.0")

    report = report_for(result, GatePolicy())

    assert "### Metrics vs production 1.2.0" in report
    assert "| accuracy | 0.91 | 0.9 | +0.01 | higher |" in report
    assert "| f1_weighted | 0.9 | 0.95 | -0.05 | higher |" in report
    # A metric only the candidate has is shown, with nothing to compare against.
    assert "| auc_roc | 0.95 | - | - | higher |" in report


def test_report_without_production_says_so_and_lists_metrics():
    report = report_for(make_result(), GatePolicy())

    assert "## Evaluation gate: PASSED" in report
    assert "no production version to compare against" in report
    assert "| accuracy | 0.91 | higher |" in report
    assert "The policy defines no checks for this evaluation." in report


def test_report_names_a_not_applicable_check_in_words():
    result = ungrouped_result()
    policy = GatePolicy(
        max_fairness_gap=0.1, max_latency_p95_ms=10, require_groups_at=("high", "critical")
    )

    report = gate_report_markdown(decide_gate(result, policy, UNGROUPED), result)

    assert report.startswith("## Evaluation gate: PASSED\n")
    assert "\ngate passed: 1 of 2 checks passed, 1 not applicable (fairness_gap)\n" in report
    assert (
        "| fairness_gap | - | 0.1 | not applicable | fairness gap not applicable: the card "
        "declares no groups and the dataset has no group column (risk level low is not in "
        "require_groups_at: high, critical) |"
    ) in report
    assert "by group" not in report


def test_report_shows_lowest_and_highest_group():
    report = report_for(make_result(), GatePolicy(max_fairness_gap=0.1))

    assert "### accuracy by group" in report
    assert "| region | 0.05 | south (0.88) | north (0.93) |" in report


def test_report_escapes_pipes_so_rows_stay_intact():
    result = make_result(dataset_name="holdout|2024")

    report = report_for(result, GatePolicy())

    assert "holdout\\|2024" in report

"""evaluate_estimator against scikit-learn computed directly on bundled datasets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression, RidgeClassifier
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    mean_absolute_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
    root_mean_squared_error,
)
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from governance.domain.errors import DatasetNotFound, InvalidInput
from governance.domain.evaluation import decide_gate
from governance.domain.gate_policy import GatePolicy, GateSubject, Threshold
from governance.ml.metrics import evaluate_estimator, load_frame


@pytest.fixture(scope="module")
def cancer():
    """A scaled logistic regression fit on breast cancer; a labelled holdout with a site column."""
    features, target = load_breast_cancer(return_X_y=True, as_frame=True)
    x_train, x_test, y_train, y_test = train_test_split(
        features, target, test_size=0.3, random_state=0, stratify=target
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x_train, y_train)
    holdout = x_test.assign(label=y_test.to_numpy())
    holdout["site"] = np.where(np.arange(len(holdout)) % 3 == 0, "clinic", "hospital")
    return model, holdout


def evaluate(model, frame, **kwargs):
    kwargs.setdefault("dataset_name", "holdout")
    kwargs.setdefault("dataset_digest", "sha256:test")
    return evaluate_estimator(model, frame, **kwargs)


def test_classification_metrics_equal_sklearn_directly(cancer):
    model, holdout = cancer
    x = holdout.drop(columns=["label", "site"])
    y, predicted = holdout["label"], model.predict(x)

    result = evaluate(model, holdout, target="label", group_columns=["site"])

    assert result.task == "classification"
    assert result.n_rows == len(holdout)
    assert result.metrics == pytest.approx(
        {
            "accuracy": accuracy_score(y, predicted),
            "f1_weighted": f1_score(y, predicted, average="weighted"),
            "precision": precision_score(y, predicted, average="weighted"),
            "recall": recall_score(y, predicted, average="weighted"),
            "auc_roc": roc_auc_score(y, model.predict_proba(x)[:, 1]),
        }
    )
    assert result.metrics["accuracy"] > 0.9


def test_per_group_metrics_and_fairness_gap_match_each_subset(cancer):
    model, holdout = cancer

    result = evaluate(model, holdout, target="label", group_columns=["site"])

    accuracy = {}
    for site, subset in holdout.groupby("site"):
        x = subset.drop(columns=["label", "site"])
        predicted = model.predict(x)
        accuracy[site] = accuracy_score(subset["label"], predicted)
        group = result.per_group["site"][site]
        assert group["accuracy"] == pytest.approx(accuracy[site])
        assert group["f1_weighted"] == pytest.approx(
            f1_score(subset["label"], predicted, average="weighted")
        )
        assert group["auc_roc"] == pytest.approx(
            roc_auc_score(subset["label"], model.predict_proba(x)[:, 1])
        )
    assert set(result.per_group["site"]) == {"clinic", "hospital"}
    gap = abs(accuracy["clinic"] - accuracy["hospital"])
    assert result.fairness_gap == {"site": pytest.approx(gap)}
    assert result.max_fairness_gap == pytest.approx(gap)


def test_tiny_and_single_class_groups_are_skipped_where_undefined(cancer):
    model, holdout = cancer
    frame = holdout.drop(columns=["site"]).assign(cohort="main")
    frame.iloc[0, frame.columns.get_loc("cohort")] = "lone"
    benign = frame.index[frame["label"] == 1][1:4]
    frame.loc[benign, "cohort"] = "benign-only"

    groups = evaluate(model, frame, target="label", group_columns=["cohort"]).per_group["cohort"]

    assert "lone" not in groups
    assert "auc_roc" not in groups["benign-only"]
    subset = frame.loc[benign]
    predicted = model.predict(subset.drop(columns=["label", "cohort"]))
    assert groups["benign-only"]["accuracy"] == pytest.approx(
        accuracy_score(subset["label"], predicted)
    )
    assert "auc_roc" in groups["main"]


def test_multiclass_auc_is_one_vs_rest_and_numpy_fit_models_work():
    x, y = load_iris(return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y)
    frame = pd.DataFrame(x, columns=["a", "b", "c", "d"]).assign(species=y)

    result = evaluate(model, frame, target="species")

    assert result.metrics["auc_roc"] == pytest.approx(
        roc_auc_score(y, model.predict_proba(x), multi_class="ovr")
    )
    assert result.metrics["accuracy"] == pytest.approx(accuracy_score(y, model.predict(x)))


def test_estimator_without_probabilities_has_no_auc(cancer):
    _, holdout = cancer
    x = holdout.drop(columns=["label", "site"])
    model = make_pipeline(StandardScaler(), RidgeClassifier()).fit(x, holdout["label"])

    result = evaluate(model, holdout, target="label", group_columns=["site"])

    assert "auc_roc" not in result.metrics
    assert result.metrics["accuracy"] == pytest.approx(
        accuracy_score(holdout["label"], model.predict(x))
    )


def test_regression_metrics_on_diabetes_equal_sklearn_directly():
    features, target = load_diabetes(return_X_y=True, as_frame=True)
    x_train, x_test, y_train, y_test = train_test_split(
        features, target, test_size=0.3, random_state=0
    )
    model = LinearRegression().fit(x_train, y_train)
    holdout = x_test.assign(progression=y_test, sex_group=np.where(x_test["sex"] > 0, "m", "f"))
    predicted = model.predict(x_test)

    result = evaluate(model, holdout, target="progression", group_columns=["sex_group"])

    assert result.task == "regression"
    assert result.metrics == pytest.approx(
        {
            "rmse": root_mean_squared_error(y_test, predicted),
            "mae": mean_absolute_error(y_test, predicted),
            "r2": r2_score(y_test, predicted),
        }
    )
    mae = {
        sex: mean_absolute_error(y_test[mask], predicted[mask])
        for sex, mask in (("m", x_test["sex"] > 0), ("f", x_test["sex"] <= 0))
    }
    assert result.per_group["sex_group"]["m"]["mae"] == pytest.approx(mae["m"])
    assert result.fairness_gap["sex_group"] == pytest.approx(abs(mae["m"] - mae["f"]))


def test_ten_thousand_rows_evaluate_with_groups_and_latency():
    features, target = load_breast_cancer(return_X_y=True, as_frame=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(features, target)
    rows = np.resize(np.arange(len(features)), 10_000)
    frame = features.iloc[rows].assign(label=target.iloc[rows].to_numpy())
    frame["site"] = np.where(rows % 2 == 0, "a", "b")

    result = evaluate(model, frame, target="label", group_columns=["site"])

    assert result.n_rows == 10_000
    assert set(result.per_group["site"]) == {"a", "b"}
    assert result.latency_p95_ms > 0


def test_baseline_added_by_caller_feeds_the_gate(cancer):
    model, holdout = cancer
    result = evaluate(model, holdout, target="label", group_columns=["site"])
    better_production = {name: min(value + 0.05, 1.0) for name, value in result.metrics.items()}

    compared = result.model_copy(
        update={"baseline": better_production, "baseline_version": "1.0.0"}
    )
    policy = GatePolicy(
        thresholds=(Threshold(metric="accuracy", direction="min", value=0.85),),
        regression_tolerance=0.01,
    )
    decision = decide_gate(compared, policy, GateSubject(risk_level="high"))

    assert not decision.passed
    assert "regression:accuracy" in [c.name for c in decision.failures]
    assert decision.checks[0].passed


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns=["label"]), "target column 'label'"),
        (lambda f: f.drop(columns=["site"]), "group column.*site"),
        (lambda f: f.iloc[0:0], "empty"),
        (lambda f: f.drop(columns=["mean radius"]), r"missing \['mean radius'\]"),
        (lambda f: f.assign(postcode="X1"), r"unexpected \['postcode'\]"),
        (lambda f: f.assign(label=f["label"].where(f.index % 2 == 0)), "missing value"),
    ],
    ids=["no-target", "no-group", "empty", "missing-feature", "extra-feature", "unlabelled"],
)
def test_bad_frames_are_refused_naming_the_problem(cancer, change, message):
    model, holdout = cancer

    with pytest.raises(InvalidInput, match=message):
        evaluate(model, change(holdout), target="label", group_columns=["site"])


def test_feature_count_mismatch_for_a_model_fit_without_names():
    x, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=1000).fit(x, y)
    frame = pd.DataFrame(x[:, :3], columns=["a", "b", "c"]).assign(species=y)

    with pytest.raises(InvalidInput, match="expects 4 feature columns, frame has 3: a, b, c"):
        evaluate(model, frame, target="species")


def test_unfitted_estimator_and_unknown_task_are_refused(cancer):
    _, holdout = cancer

    with pytest.raises(InvalidInput, match="LogisticRegression is not fitted"):
        evaluate(LogisticRegression(), holdout, target="label", group_columns=["site"])
    with pytest.raises(InvalidInput, match="unknown task 'ranking'"):
        evaluate(cancer[0], holdout, target="label", group_columns=["site"], task="ranking")


def test_load_frame_reads_csv_and_parquet_from_paths_and_bytes(tmp_path):
    frame = pd.DataFrame({"x": [1.5, 2.5, 3.5], "label": [0, 1, 0], "site": ["a", "b", "a"]})
    frame.to_csv(tmp_path / "data.csv", index=False)
    frame.to_parquet(tmp_path / "data.parquet")

    pd.testing.assert_frame_equal(load_frame(tmp_path / "data.csv", "csv"), frame)
    pd.testing.assert_frame_equal(load_frame(str(tmp_path / "data.parquet"), "parquet"), frame)
    csv_bytes = (tmp_path / "data.csv").read_bytes()
    pd.testing.assert_frame_equal(load_frame(csv_bytes, "CSV"), frame)
    parquet_bytes = (tmp_path / "data.parquet").read_bytes()
    pd.testing.assert_frame_equal(load_frame(parquet_bytes, "parquet"), frame)


def test_load_frame_refuses_unknown_format_missing_file_and_garbage(tmp_path):
    with pytest.raises(InvalidInput, match="unknown dataset format 'xlsx'"):
        load_frame(b"a,b\n1,2\n", "xlsx")
    with pytest.raises(DatasetNotFound, match=r"nowhere\.csv"):
        load_frame(tmp_path / "nowhere.csv", "csv")
    with pytest.raises(InvalidInput, match="not readable as parquet"):
        load_frame(b"this is not parquet", "parquet")
    with pytest.raises(InvalidInput, match="not readable as csv"):
        load_frame(b"", "csv")

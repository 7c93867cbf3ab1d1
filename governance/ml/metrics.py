"""scikit-learn evaluation of a fitted estimator on a labelled frame: metrics, groups, latency."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import is_classifier
from sklearn.exceptions import NotFittedError
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
from sklearn.utils.validation import check_is_fitted

from governance.domain.errors import DatasetNotFound, InvalidInput
from governance.domain.evaluation import PRIMARY_METRIC, EvaluationResult

LATENCY_SAMPLE_ROWS = 200
FRAME_FORMATS = ("csv", "parquet")

# Weighted averages keep imbalanced classes honest; zero_division=0 scores a class the model
# never predicts as 0 instead of warning, which a small group easily triggers.
_CLASSIFICATION: dict[str, Callable[[Any, Any], float]] = {
    "accuracy": accuracy_score,
    "f1_weighted": lambda y, p: f1_score(y, p, average="weighted", zero_division=0),
    "precision": lambda y, p: precision_score(y, p, average="weighted", zero_division=0),
    "recall": lambda y, p: recall_score(y, p, average="weighted", zero_division=0),
}
_REGRESSION: dict[str, Callable[[Any, Any], float]] = {
    "rmse": root_mean_squared_error,
    "mae": mean_absolute_error,
    "r2": r2_score,
}


def load_frame(path_or_bytes: str | Path | bytes, fmt: str) -> pd.DataFrame:
    """Read an evaluation dataset stored as CSV or parquet, from a path or from its bytes."""
    kind = fmt.lower()
    if kind not in FRAME_FORMATS:
        raise InvalidInput(f"unknown dataset format {fmt!r}: expected one of {FRAME_FORMATS}")
    if isinstance(path_or_bytes, bytes):
        source: Any = io.BytesIO(path_or_bytes)
    else:
        source = Path(path_or_bytes)
        if not source.is_file():
            raise DatasetNotFound(f"dataset file {str(source)!r} does not exist")
    reader = pd.read_csv if kind == "csv" else pd.read_parquet
    try:
        return reader(source)
    except ValueError as exc:  # pandas' parser errors and pyarrow's ArrowInvalid are ValueErrors
        raise InvalidInput(f"dataset is not readable as {kind}: {exc}") from exc


def evaluate_estimator(
    estimator: Any,
    frame: pd.DataFrame,
    *,
    target: str,
    group_columns: Sequence[str] = (),
    dataset_name: str,
    dataset_digest: str,
    task: str | None = None,
) -> EvaluationResult:
    """Score a fitted estimator on a labelled frame; the caller adds the production baseline."""
    groups = list(dict.fromkeys(group_columns))
    check_frame(frame, target, groups)
    task = _resolve_task(estimator, task)
    features = model_input(estimator, frame.drop(columns=[target, *groups]))
    y_true = frame[target].to_numpy()
    y_pred = estimator.predict(features)
    scores = _class_probabilities(estimator, features, task)
    per_group = {col: _per_group(frame[col], y_true, y_pred, scores, task) for col in groups}
    return EvaluationResult(
        task=task,
        dataset_name=dataset_name,
        dataset_digest=dataset_digest,
        n_rows=len(frame),
        metrics=_metrics(y_true, y_pred, scores, task),
        per_group=per_group,
        fairness_gap=_fairness_gaps(per_group, PRIMARY_METRIC[task]),
        latency_p95_ms=_latency_p95_ms(estimator, features),
    )


def check_frame(frame: pd.DataFrame, target: str, groups: Sequence[str]) -> None:
    """Refuse an empty frame, missing or unlabelled target, or missing group columns."""
    if frame.empty:
        raise InvalidInput("dataset is empty: there are no rows to evaluate")
    if target not in frame.columns:
        raise InvalidInput(f"target column {target!r} is not in the dataset")
    missing = [col for col in groups if col not in frame.columns]
    if missing:
        raise InvalidInput(f"group column(s) not in the dataset: {', '.join(missing)}")
    if target in groups:
        raise InvalidInput(f"target column {target!r} cannot also be a group column")
    unlabelled = int(frame[target].isna().sum())
    if unlabelled:
        raise InvalidInput(f"target column {target!r} has {unlabelled} missing value(s)")


def _resolve_task(estimator: Any, task: str | None) -> str:
    if task is None:
        return "classification" if is_classifier(estimator) else "regression"
    if task not in PRIMARY_METRIC:
        raise InvalidInput(f"unknown task {task!r}: expected classification or regression")
    return task


def model_input(estimator: Any, features: pd.DataFrame) -> pd.DataFrame | np.ndarray:
    """The feature block in the shape the estimator was fit on, or InvalidInput naming the gap."""
    try:
        check_is_fitted(estimator)
    except NotFittedError as exc:
        raise InvalidInput(f"estimator {type(estimator).__name__} is not fitted") from exc
    expected = getattr(estimator, "feature_names_in_", None)
    if expected is not None:
        expected = [str(name) for name in expected]
        missing = [name for name in expected if name not in features.columns]
        extra = [str(col) for col in features.columns if col not in set(expected)]
        if missing or extra:
            raise InvalidInput(
                "feature columns do not match the estimator: "
                f"missing {missing or 'none'}, unexpected {extra or 'none'}"
            )
        return features[expected]
    n_expected = getattr(estimator, "n_features_in_", None)
    if n_expected is not None and n_expected != features.shape[1]:
        raise InvalidInput(
            f"estimator expects {n_expected} feature columns, frame has {features.shape[1]}: "
            f"{', '.join(map(str, features.columns))}"
        )
    # Fit on a bare array: passing names now would make sklearn warn about them.
    return features.to_numpy()


def _class_probabilities(estimator: Any, features: Any, task: str) -> np.ndarray | None:
    """Class probabilities for AUC, or None when the estimator cannot give them."""
    if task != "classification" or not hasattr(estimator, "predict_proba"):
        return None
    return np.asarray(estimator.predict_proba(features))


def _metrics(
    y_true: np.ndarray, y_pred: np.ndarray, scores: np.ndarray | None, task: str
) -> dict[str, float]:
    scorers = _CLASSIFICATION if task == "classification" else _REGRESSION
    metrics = {name: float(score(y_true, y_pred)) for name, score in scorers.items()}
    if scores is not None:
        auc = _auc_roc(y_true, scores)
        if auc is not None:
            metrics["auc_roc"] = auc
    return metrics


def _auc_roc(y_true: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC AUC, or None when some class has no rows here, where AUC is undefined."""
    if len(np.unique(y_true)) != scores.shape[1]:
        return None
    if scores.shape[1] == 2:
        return float(roc_auc_score(y_true, scores[:, 1]))
    return float(roc_auc_score(y_true, scores, multi_class="ovr"))


def _per_group(
    column: pd.Series,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    scores: np.ndarray | None,
    task: str,
) -> dict[str, dict[str, float]]:
    """Metrics per value of one group column; a group of one row says nothing and is skipped."""
    result: dict[str, dict[str, float]] = {}
    codes, values = pd.factorize(column, use_na_sentinel=False)
    for code, value in enumerate(values):
        rows = np.flatnonzero(codes == code)
        if len(rows) < 2:
            continue
        group_scores = None if scores is None else scores[rows]
        result[str(value)] = _metrics(y_true[rows], y_pred[rows], group_scores, task)
    return result


def _fairness_gaps(
    per_group: dict[str, dict[str, dict[str, float]]], metric: str
) -> dict[str, float]:
    """Per group column, the spread (max - min) of the primary metric across its groups."""
    gaps: dict[str, float] = {}
    for column, groups in per_group.items():
        values = [metrics[metric] for metrics in groups.values() if metric in metrics]
        if values:
            gaps[column] = max(values) - min(values)
    return gaps


def _latency_p95_ms(estimator: Any, features: pd.DataFrame | np.ndarray) -> float:
    """p95 of single-row predict time over an evenly spaced sample, as serving sees it."""
    n_rows = len(features)
    picks = np.unique(np.linspace(0, n_rows - 1, min(n_rows, LATENCY_SAMPLE_ROWS)).astype(int))
    if isinstance(features, pd.DataFrame):
        batches = [features.iloc[[i]] for i in picks]
    else:
        batches = [features[i : i + 1] for i in picks]
    timings = []
    for batch in batches:
        start = time.perf_counter()
        estimator.predict(batch)
        timings.append((time.perf_counter() - start) * 1000)
    return float(np.percentile(timings, 95))

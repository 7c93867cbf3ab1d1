"""Accuracy on labelled outcomes: one figure for a window and a daily series (scikit-learn)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sklearn import metrics as skm

from governance.domain.errors import InvalidInput
from governance.domain.monitoring import DailyScore

# Every name a card may use as its accuracy metric; all are "higher is better".
SCORERS = {
    "accuracy": skm.accuracy_score,
    "balanced_accuracy": skm.balanced_accuracy_score,
    "f1": lambda y, p: skm.f1_score(y, p, average="macro", zero_division=0),
    "precision": lambda y, p: skm.precision_score(y, p, average="macro", zero_division=0),
    "recall": lambda y, p: skm.recall_score(y, p, average="macro", zero_division=0),
    "r2": skm.r2_score,
}


def score(metric: str, y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
    """The metric over labelled pairs; InvalidInput for a metric scikit-learn is not asked for."""
    scorer = SCORERS.get(metric)
    if scorer is None:
        raise InvalidInput(f"unknown metric {metric!r}: known metrics are {', '.join(SCORERS)}")
    return float(scorer(list(y_true), list(y_pred)))


def scores(
    metric: str,
    labelled: pd.DataFrame,
    *,
    min_labels: int,
    since: datetime,
    until: datetime,
) -> tuple[list[DailyScore], float | None, int]:
    """(daily series, window figure, window label count) of labelled rows (time, label,
    prediction). Days and a window below `min_labels` labels carry no figure: None, never
    a number computed on too few labels."""
    times = labelled["time"]
    if not isinstance(times.dtype, pd.DatetimeTZDtype):
        times = pd.to_datetime(times, utc=True, cache=False)
    keep = (times >= pd.Timestamp(since)) & (times <= pd.Timestamp(until))
    rows, days = labelled[keep], times[keep].dt.tz_convert("UTC").dt.normalize()
    series = [
        DailyScore(
            day=day.date(),
            labels=len(group),
            value=score(metric, group["label"], group["prediction"])
            if len(group) >= min_labels
            else None,
        )
        for day, group in rows.groupby(days, sort=True)
    ]
    window = None
    if len(rows) and len(rows) >= min_labels:
        window = score(metric, rows["label"], rows["prediction"])
    return series, window, len(rows)

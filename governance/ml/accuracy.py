"""Accuracy on labelled outcomes: one figure for a window and a daily series (scikit-learn)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

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
CLASSIFICATION_METRICS = frozenset(SCORERS) - {"r2"}


def score(metric: str, y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
    """The metric over labelled pairs; InvalidInput for a metric scikit-learn is not asked for."""
    scorer = SCORERS.get(metric)
    if scorer is None:
        raise InvalidInput(f"unknown metric {metric!r}: known metrics are {', '.join(SCORERS)}")
    return float(scorer(list(y_true), list(y_pred)))


def scores(
    metric: str,
    labelled: Sequence[tuple[datetime, Any, Any]],
    *,
    min_labels: int,
    since: datetime,
    until: datetime,
) -> tuple[list[DailyScore], float | None, int]:
    """(daily series, window figure, window label count) for (time, label, prediction) rows.

    Days and the window below `min_labels` labels carry no figure: None, never a number
    computed on too few labels.
    """
    rows = [(t, y, p) for t, y, p in labelled if since <= t <= until]
    by_day: dict[date, list[tuple[Any, Any]]] = defaultdict(list)
    for t, y, p in rows:
        by_day[t.date()].append((y, p))
    series = []
    for day in sorted(by_day):
        pairs = by_day[day]
        value = score(metric, *zip(*pairs, strict=True)) if len(pairs) >= min_labels else None
        series.append(DailyScore(day=day, labels=len(pairs), value=value))
    window = None
    if rows and len(rows) >= min_labels:
        window = score(metric, [y for _, y, _ in rows], [p for _, _, p in rows])
    return series, window, len(rows)

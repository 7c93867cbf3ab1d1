"""Reference profiles: per-column statistics of a reference sample, computed once when it is
stored, typed the way Evidently types columns.

This module does not import Evidently (1.5-2 s to import): a promotion stores its reference
through here, and only the audit, which tests drift, pays for Evidently in `ml/drift.py`.
`column_kind` mirrors `evidently.core.datasets.infer_column_type`; tests/unit/test_drift.py
checks the two agree on every dtype the audit can meet.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from governance.domain.errors import InvalidInput

# Evidently's ColumnType values; only these two are drift-tested by default (text drift fits a
# classifier per column, far too slow for a nightly audit).
NUMERICAL, CATEGORICAL = "num", "cat"
# evidently.core.datasets.INTEGER_CARDINALITY_LIMIT: integers with this many values or fewer
# are categories.
INTEGER_CARDINALITY_LIMIT = 10
# The few-values cut-off of `_get_default_stattest` (evidently/legacy/calculations/stattests).
FEW_VALUES = 5


def column_kind(series: pd.Series) -> str:
    """The column type Evidently infers: num, cat, text, list, datetime or unknown."""
    dtype = series.dtype.name
    if dtype.startswith("float"):
        return NUMERICAL
    if dtype.startswith("int"):
        return CATEGORICAL if series.nunique() <= INTEGER_CARDINALITY_LIMIT else NUMERICAL
    if dtype in ("string", "str"):
        return "text" if series.nunique() > series.count() * 0.5 else CATEGORICAL
    if dtype == "object":
        present = series.dropna()
        if present.count() == 0:
            return "unknown"
        first, last = present.iloc[0], present.iloc[-1]
        if isinstance(first, str) and isinstance(last, str):
            return "text" if series.nunique() > series.count() * 0.5 else CATEGORICAL
        if isinstance(first, (list, tuple)) and isinstance(last, (list, tuple)):
            return "list"
        return "unknown"
    if dtype in ("bool", "category"):
        return CATEGORICAL
    if dtype.startswith("datetime"):
        return "datetime"
    return "unknown"


def profile_reference(frame: pd.DataFrame) -> dict:
    """Per-column statistics of a reference sample, JSON-ready, computed once when it is stored."""
    columns: dict[str, dict[str, Any]] = {}
    # Columns Evidently types as text, datetime or unknown are not drift-tested; they are listed
    # with their type so nobody mistakes them for monitored columns.
    skipped: dict[str, str] = {}
    for name in frame.columns:
        if not isinstance(name, str):
            raise InvalidInput(f"reference column names must be strings, got {name!r}")
        series = frame[name]
        # Evidently's inference (mirrored): which columns are monitored, and their statistics.
        # The drift test itself types each column from the current batch, as Evidently's
        # Report does (ml/drift.py), so a batch typed otherwise gets the Report's test.
        kind = column_kind(series)
        if kind not in (NUMERICAL, CATEGORICAL):
            skipped[name] = kind
            continue
        kept = clean(series)
        if kept.empty:
            raise InvalidInput(f"reference column {name!r} has no values")
        uniques = kept.unique()
        entry: dict[str, Any] = {
            "kind": kind,
            "count": len(kept),
            # What Evidently drops before testing: NaN, None and ±inf.
            "missing": len(series) - len(kept),
            "n_unique": len(uniques),
            # Stored only when few: the unique count over reference+current picks the test only
            # when it can be <= 5, and the union needs the reference's values for that.
            "values": _sorted_plain(uniques) if len(uniques) <= FEW_VALUES else None,
        }
        if kind == NUMERICAL:
            entry.update(_numeric_summary(kept.to_numpy(dtype=float)))
        else:
            top = kept.value_counts().head(10)
            entry["top"] = {str(plain(k)): int(v) for k, v in top.items()}
        columns[name] = entry
    return {"rows": len(frame), "columns": columns, "skipped": skipped}


def clean(series: pd.Series) -> pd.Series:
    """The series without NaN/None/±inf, as Evidently's column drift cleans it before testing."""
    values = series.to_numpy()
    if values.dtype.kind == "f":
        # Same rows as `replace([-inf, inf], nan).dropna()`, without two copies per column.
        keep = np.isfinite(values)
        return series if keep.all() else series[keep]
    if values.dtype.kind in "iub":
        return series
    return series.replace([-np.inf, np.inf], np.nan).dropna()


def _numeric_summary(values: np.ndarray) -> dict[str, float | None]:
    """Mean, sample std and five-number summary of finite numbers (None where undefined)."""
    p25, p50, p75 = np.percentile(values, [25, 50, 75])
    std = float(np.std(values, ddof=1)) if len(values) > 1 else None
    return {
        "mean": _finite(values.mean()),
        "std": _finite(std),
        "min": _finite(values.min()),
        "p25": _finite(p25),
        "p50": _finite(p50),
        "p75": _finite(p75),
        "max": _finite(values.max()),
    }


def _finite(x: float | None) -> float | None:
    """A plain float, or None for a value JSON cannot hold (NaN, ±inf) or that is undefined."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def plain(value: Any) -> Any:
    """A numpy scalar as the matching Python scalar, so it serialises to JSON."""
    return value.item() if isinstance(value, np.generic) else value


def _sorted_plain(values: Any) -> list:
    """Unique values as plain Python scalars, sorted (by text when types do not compare)."""
    scalars = [plain(v) for v in values]
    try:
        return sorted(scalars)
    except TypeError:
        return sorted(scalars, key=repr)

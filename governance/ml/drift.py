"""Data drift with Evidently's own statistical tests: the only module that imports Evidently.

A reference sample is profiled once when it is stored (`ml/profile.py`); the nightly audit
then tests each column (`column_drift`, `dataset_drift`) by typing it and choosing the stat
test exactly as Evidently's `DataDriftPreset` does (the type comes from the current batch, as
in its Report) and running Evidently's own StatTest objects, without the cost of a whole
Report. `evidently_verdicts` runs the real Report so tests and the benchmark
can prove parity, and `drift_report_html` renders a small Evidently report for a version
found drifting.

Evidently's telemetry (gated on DO_NOT_TRACK) is wired only into its UI service and collector;
importing it and running Reports opens no connection, so there is nothing to switch off here.
"""

from __future__ import annotations

import warnings
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from governance.domain.errors import InvalidInput
from governance.domain.monitoring import ColumnDrift, DatasetDrift
from governance.ml.profile import FEW_VALUES, clean, plain

with warnings.catch_warnings():
    # Importing Evidently 0.7 trips numpy's `numpy.core` DeprecationWarning (its legacy tests
    # module) and litestar's (its bundled UI): not ours to fix, and they would fail any caller
    # that runs with warnings as errors, as this project's tests do.
    warnings.simplefilter("ignore", DeprecationWarning)
    from evidently import Report
    from evidently.core.datasets import infer_column_type
    from evidently.legacy.calculations.stattests import (
        StatTest,
        chi_stat_test,
        jensenshannon_stat_test,
        ks_stat_test,
        wasserstein_stat_test,
        z_stat_test,
    )
    from evidently.legacy.core import ColumnType
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset

# Evidently's ColumnType values are already "num" and "cat"; only these two are drift-tested by
# default without training a model (text drift fits a classifier per column, far too slow).
_KINDS = {
    ColumnType.Numerical.value: ColumnType.Numerical,
    ColumnType.Categorical.value: ColumnType.Categorical,
}
# The cut-offs in evidently/legacy/calculations/stattests/registry.py `_get_default_stattest`.
_SMALL_REFERENCE = 1000
# A value new to current gives chi-square an expected count of 0, so scipy divides by zero
# and returns p = 0 (drifted): that is Evidently's verdict, and numpy's warning about it is
# noise (an error under warnings-as-errors). Scores that come out NaN still show as NaN.
_quiet_floats = partial(np.errstate, divide="ignore", invalid="ignore")
_BY_DISPLAY_NAME: dict[str, StatTest] = {
    t.display_name: t
    for t in (
        ks_stat_test,
        wasserstein_stat_test,
        jensenshannon_stat_test,
        chi_stat_test,
        z_stat_test,
    )
}


def column_drift(reference: pd.Series, current: pd.Series, stats: dict) -> ColumnDrift:
    """One column's drift, typed and tested as DataDriftPreset would, run by Evidently."""
    name = str(current.name if current.name is not None else reference.name)
    # get_one_column_drift drops NaN and ±inf on both sides before choosing and running a test.
    ref = clean(reference)
    cur = clean(current)
    if cur.empty:
        raise InvalidInput(f"current column {name!r} has no values (all missing)")
    if ref.empty:
        raise InvalidInput(f"reference column {name!r} has no values")
    # The Report types every column from the *current* data (its context's data definition),
    # so an integer column with gaps that arrives as float64 is numeric there, whatever the
    # reference was: follow it, so the test and verdict are the Report's.
    kind = infer_column_type(current).value
    if kind not in _KINDS:
        # The Report would skip it (datetime, unknown) or fit a text classifier (text): a
        # monitored column silently left out of the share is worse than a finding naming it.
        raise InvalidInput(
            f"current column {name!r} arrives as {current.dtype}, typed {kind} by Evidently "
            f"(the reference: {stats['kind']}); only num and cat columns are drift-tested"
        )
    feature_type = _KINDS[kind]
    if feature_type is ColumnType.Numerical:
        for side, values in (("reference", ref), ("current", cur)):
            if not pd.api.types.is_numeric_dtype(values):
                raise InvalidInput(
                    f"{side} column {name!r} should hold numbers (the current batch, "
                    f"{current.dtype}, types it num), got {values.dtype}"
                )
    test = _choose_stattest(feature_type, len(ref), _unique_count(stats, cur))
    # threshold None: the StatTest applies its own default, as the preset does.
    with _quiet_floats():
        result = test(ref, cur, feature_type, None)
    return ColumnDrift(
        column=name,
        kind=kind,
        reference_kind=stats["kind"],
        method=test.display_name,
        score=float(result.drift_score),
        threshold=float(result.actual_threshold),
        drifted=bool(result.drifted),
    )


def dataset_drift(
    reference: pd.DataFrame, current: pd.DataFrame, profile: dict, max_share: float
) -> DatasetDrift:
    """Every profiled column's drift, in profile order, and the share limit they are held to."""
    if not 0 < max_share <= 1:
        raise InvalidInput(f"max_share must be in (0, 1], got {max_share}")
    columns: dict[str, dict] = profile["columns"]
    for side, frame in (("current", current), ("reference", reference)):
        absent = [c for c in columns if c not in frame.columns]
        if absent:
            raise InvalidInput(f"{side} data lacks profiled column(s): {', '.join(absent)}")
    return DatasetDrift(
        columns=[column_drift(reference[c], current[c], s) for c, s in columns.items()],
        reference_rows=len(reference),
        current_rows=len(current),
        max_share=max_share,
    )


def evidently_verdicts(reference: pd.DataFrame, current: pd.DataFrame) -> list[ColumnDrift]:
    """Evidently's own DataDriftPreset verdict per column, in its column order (parity checks)."""
    with _quiet_floats():
        snapshot = Report([DataDriftPreset()], include_tests=True).run(current, reference)
    data = snapshot.dict()
    # Each ValueDrift's "drift" test FAILs exactly when Evidently's StatTest said drifted (note
    # K-S drifts at p <= threshold, chi-square and Z at p < threshold, distances at >=).
    status = {
        t["metric_config"]["metric_id"]: t["status"] for t in data["tests"] if t["id"] == "drift"
    }
    verdicts = []
    for metric in data["metrics"]:
        config = metric["config"]
        if not config["type"].endswith(":ValueDrift"):
            continue
        column = config["column"]
        verdicts.append(
            ColumnDrift(
                column=column,
                # What the Report's data definitions say (it tests by the current one).
                kind=infer_column_type(current[column]).value,
                reference_kind=infer_column_type(reference[column]).value,
                method=config["method"],
                score=float(metric["value"]),
                threshold=float(config["threshold"]),
                drifted=status[metric["id"]] == "FAIL",
            )
        )
    return verdicts


def drift_report_html(reference: pd.DataFrame, current: pd.DataFrame, drift: DatasetDrift) -> bytes:
    """A small Evidently HTML report: each drifted column's test and distributions."""
    drifted = [c for c in drift.columns if c.drifted]
    if not drifted:
        raise InvalidInput("a drift report needs at least one drifted column")
    try:
        tests = {c.column: _BY_DISPLAY_NAME[c.method] for c in drifted}
    except KeyError as exc:
        raise InvalidInput(f"no Evidently stat test is displayed as {exc.args[0]!r}") from exc
    # Only the drifted columns: the full preset plots every column (~1 s a version), and the
    # drifted-column count would test every column again; the count and share are in the
    # audit's finding. Methods and thresholds are pinned to what column_drift used, so the
    # page shows the verdict the audit recorded.
    metrics: list[Any] = []
    for c in drifted:
        test = tests[c.column]
        # ValueDrift takes only a registered name, and the registry refuses chi-square/Z by
        # name for a numeric column although the default rule picks them for one with <= 5
        # values; there, Evidently's automatic choice on the same data is that very test.
        typed = infer_column_type(current[c.column])
        method = test.name if typed in test.allowed_feature_types else None
        metrics.append(ValueDrift(column=c.column, method=method, threshold=c.threshold))
    names = [c.column for c in drifted]
    with _quiet_floats():
        snapshot = Report(metrics).run(current[names], reference[names])
    # Not byte-stable: Evidently embeds fresh uuid4/uuid7 widget and dashboard ids in every
    # render, so the same data hashes differently each time. Accepted; the HTML is not edited.
    return snapshot.get_html_str(as_iframe=False).encode()


def _choose_stattest(feature_type: ColumnType, reference_rows: int, n_values: int) -> StatTest:
    """Evidently's default choice: by reference size, column type and values over both sides."""
    numeric_spread = feature_type is ColumnType.Numerical and n_values > FEW_VALUES
    if reference_rows <= _SMALL_REFERENCE:
        if numeric_spread:
            return ks_stat_test
        return chi_stat_test if n_values > 2 else z_stat_test
    return wasserstein_stat_test if numeric_spread else jensenshannon_stat_test


def _unique_count(stats: dict, current: pd.Series) -> int:
    """Unique values over reference and current, exact whenever it can change the choice."""
    if stats["values"] is None:
        # More than 5 in the reference alone: above every cut-off (5 and 2), so current's
        # values cannot change the choice and are not counted.
        return int(stats["n_unique"])
    # A set union, not Evidently's concat+nunique: same count (1 == 1.0 == True hash alike).
    return len(set(stats["values"]).union(plain(v) for v in current.unique()))

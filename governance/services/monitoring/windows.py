"""The current window of a version: what it served through the gateway and in ingested batches."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from governance.bootstrap import Governance
from governance.domain.models import ModelVersion
from governance.services.monitoring.references import LABEL, PREDICTION, TIME, load_stored_frame
from governance.store.monitoring import ReferenceProfile

# The labelled rows' columns: when, the true label, what the version predicted.
LABELLED = ["time", "label", "prediction"]


@dataclass(frozen=True)
class Window:
    """Features seen in the drift window, and (time, label, prediction) in the accuracy window."""

    features: pd.DataFrame
    labelled: pd.DataFrame


def current_window(
    gov: Governance,
    found: ModelVersion,
    profile: ReferenceProfile | None,
    *,
    drift_days: int,
    accuracy_days: int,
    now: datetime,
) -> Window:
    """Gateway predictions and batch rows of the version, cut to each check's window."""
    since = now - timedelta(days=max(drift_days, accuracy_days))
    with gov.store.read() as tx:
        served = tx.monitoring.served_rows(found.model_name, found.version, since, now)
        batches = tx.monitoring.batches(found.id, since, now)
    columns = profile.columns if profile is not None else []
    parts = [_served(served, columns)]
    parts += [_batch(load_stored_frame(gov, b.digest), columns) for b in batches]
    drift_since = pd.Timestamp(now - timedelta(days=drift_days))
    accuracy_since = pd.Timestamp(now - timedelta(days=accuracy_days))
    features = [f.loc[(t >= drift_since) & (t <= pd.Timestamp(now)), columns] for t, f, _ in parts]
    labelled = [
        rows.loc[(rows["time"] >= accuracy_since) & (rows["time"] <= pd.Timestamp(now))]
        for _, _, rows in parts
    ]
    return Window(features=_joined(features, columns), labelled=_joined(labelled, LABELLED))


def _joined(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    """The non-empty frames one after another (pandas will not type a concat of empty ones)."""
    kept = [f for f in frames if len(f)]
    return pd.concat(kept, ignore_index=True) if kept else pd.DataFrame(columns=columns)


def utc_times(values: pd.Series) -> pd.Series:
    """Timestamps as UTC; a column stored as UTC already is used as it is (no per-row pass)."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC")
    return pd.to_datetime(values, utc=True, cache=False)


def _served(served: list, columns: list[str]) -> tuple[pd.Series, pd.DataFrame, pd.DataFrame]:
    """Gateway rows as (times, features, labelled rows)."""
    times = utc_times(pd.Series([row[0] for row in served], dtype=object))
    features = pd.DataFrame.from_records([row[1] for row in served], columns=columns)
    labelled = pd.DataFrame(
        {
            "time": times,
            "label": [row[3] for row in served],
            "prediction": [row[2] for row in served],
        }
    )
    return times, features, labelled[labelled["label"].notna()]


def _batch(frame: pd.DataFrame, columns: list[str]) -> tuple[pd.Series, pd.DataFrame, pd.DataFrame]:
    """A stored batch as (times, features, labelled rows)."""
    times = utc_times(frame[TIME])
    labelled = pd.DataFrame({"time": times, "label": frame[LABEL], "prediction": frame[PREDICTION]})
    return (
        times,
        frame[columns] if columns else frame.iloc[:, :0],
        labelled[labelled["label"].notna()],
    )

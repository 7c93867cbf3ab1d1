"""The current window of a version: what it served through the gateway and in ingested batches."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from governance.bootstrap import Governance
from governance.domain.models import ModelVersion
from governance.services.monitoring import LABEL, PREDICTION, TIME, load_stored_frame, utc
from governance.store.monitoring import ReferenceProfile


@dataclass(frozen=True)
class Window:
    """Features seen in the drift window, and (time, label, prediction) in the accuracy window."""

    features: pd.DataFrame
    labelled: list[tuple[datetime, Any, Any]]


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
    drift_since = now - timedelta(days=drift_days)
    accuracy_since = now - timedelta(days=accuracy_days)
    with gov.store.read() as tx:
        served = tx.monitoring.served_rows(found.model_name, found.version, since, now)
        batches = tx.monitoring.batches(found.id, since, now)
    columns = profile.columns if profile is not None else []
    frames: list[pd.DataFrame] = []
    labelled: list[tuple[datetime, Any, Any]] = []
    if served:
        rows = [(utc(t), features, output, label) for t, features, output, label in served]
        recent = [features for t, features, _, _ in rows if t >= drift_since]
        if recent and columns:
            frames.append(pd.DataFrame.from_records(recent, columns=columns))
        labelled += [(t, label, out) for t, _, out, label in rows if label is not None]
        labelled = [row for row in labelled if row[0] >= accuracy_since]
    for batch in batches:
        frame = load_stored_frame(gov, batch.digest)
        times = pd.to_datetime(frame[TIME], utc=True)
        if columns:
            frames.append(frame.loc[(times >= drift_since) & (times <= now), columns])
        if batch.n_labels:
            keep = frame[LABEL].notna() & (times >= accuracy_since) & (times <= now)
            labelled += list(
                zip(
                    (t.to_pydatetime() for t in times[keep]),
                    frame.loc[keep, LABEL],
                    frame.loc[keep, PREDICTION],
                    strict=True,
                )
            )
    features = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    return Window(features=features, labelled=labelled)

"""Current data for monitoring: batches scored outside the gateway, and outcomes by id.

A batch's columns must match the version's reference, its labels must be classes the model
has, and it is stored content-addressed and audited; outcomes for logged predictions are
recorded all or nothing.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from governance.bootstrap import Governance
from governance.domain.errors import Conflict, InvalidInput
from governance.domain.models import LifecycleStage, ModelVersion
from governance.ml.labels import label_problem
from governance.ml.profile import plain
from governance.services.monitoring.references import (
    LABEL,
    PREDICTION,
    TIME,
    estimator_of,
    frame_bytes,
    get_reference,
    read_table,
    require_columns,
)
from governance.store.monitoring import MonitoringBatch


def ingest(
    gov: Governance,
    *,
    model: str,
    version: str,
    path: Path,
    labels: str | None = None,
    predictions: str | None = None,
    time_column: str | None = None,
    actor: str,
    now: datetime,
) -> MonitoringBatch:
    """Store a batch scored outside the gateway (features, predictions, labels) and audit it."""
    path = Path(path)
    frame, data = read_table(path)
    if frame.empty:
        raise InvalidInput(f"batch {path.name} is empty: no rows to monitor")
    found, profile = get_reference(gov, model, version)
    if found.stage in (LifecycleStage.retired, LifecycleStage.development):
        raise InvalidInput(f"{found.ref} is {found.stage.value}: it serves nothing to monitor")
    extra = {c for c in (labels, predictions, time_column) if c}
    _check_batch_columns(frame, profile.columns, extra, path.name)
    estimator = estimator_of(gov, found)
    batch = frame[profile.columns].copy()
    batch[PREDICTION] = frame[predictions] if predictions else _predict(estimator, batch)
    batch[LABEL] = check_labels(found, estimator, frame[labels]) if labels else None
    batch[TIME] = _times(frame, time_column, now)
    return _store_batch(gov, found, batch, hashlib.sha256(data).hexdigest(), actor, now)


def _store_batch(
    gov: Governance,
    found: ModelVersion,
    batch: pd.DataFrame,
    source_digest: str,
    actor: str,
    now: datetime,
) -> MonitoringBatch:
    with gov.store.write() as tx:
        earlier = tx.monitoring.find_batch(found.id, source_digest)
        if earlier is not None:
            raise Conflict(
                f"this file was already ingested for {found.ref} as batch {earlier.id} "
                f"at {earlier.ingested_at.isoformat()}"
            )
        stored = gov.artifacts.put_bytes(frame_bytes(batch))
        record = MonitoringBatch(
            id=str(uuid.uuid4()),
            model_version_id=found.id,
            digest=stored.digest,
            uri=stored.uri,
            source_digest=source_digest,
            n_rows=len(batch),
            n_labels=int(batch[LABEL].notna().sum()),
            first_at=batch[TIME].min().to_pydatetime(),
            last_at=batch[TIME].max().to_pydatetime(),
            ingested_by=actor,
            ingested_at=now,
        )
        tx.monitoring.add_batch(record)
        tx.audit.append(
            "monitoring.ingested",
            actor=actor,
            now=now,
            model=found.model_name,
            version=found.version,
            details={
                "batch": record.id,
                "digest": record.digest,
                "source_digest": source_digest,
                "rows": record.n_rows,
                "labels": record.n_labels,
            },
        )
        return record


def check_labels(found: ModelVersion, estimator: Any, labels: pd.Series) -> pd.Series:
    """Labels the model can have, as numbers where its classes are; InvalidInput names the first
    one it cannot have."""
    classes = getattr(estimator, "classes_", None)
    numeric = classes is None or pd.api.types.is_numeric_dtype(pd.Series(classes))
    # A file's "1" is the class 1: files carry text, unlike the gateway's JSON.
    converted = pd.to_numeric(labels, errors="coerce") if numeric else labels
    for index, raw in labels.dropna().items():
        value = converted[index] if not pd.isna(converted[index]) else raw
        problem = label_problem(classes, plain(value))
        if problem:
            raise InvalidInput(f"{found.ref}: label {plain(raw)!r} at row {index} {problem}")
    return converted.astype(object)


def record_outcomes(
    gov: Governance, *, path: Path, id_column: str, label_column: str, actor: str, now: datetime
) -> int:
    """Record labels for logged predictions by id: all of them, or (on bad input) none."""
    frame, _ = read_table(Path(path))
    require_columns(frame, [id_column, label_column], f"outcomes file {Path(path).name}")
    if frame.empty:
        raise InvalidInput(f"outcomes file {Path(path).name} is empty")
    ids = [str(i) for i in frame[id_column]]
    with gov.store.write() as tx:
        known = tx.monitoring.known_predictions(ids)
        unknown = [i for i in dict.fromkeys(ids) if i not in known]
        if unknown:
            shown = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
            raise InvalidInput(f"{len(unknown)} labels name unknown prediction ids: {shown}")
        checked = _checked_by_version(gov, tx, frame, ids, known, label_column)
        clashes = []
        for prediction_id, label in zip(ids, checked, strict=True):
            earlier = tx.predictions.record_first_outcome(prediction_id, plain(label), {}, now)
            # The first outcome recorded stands (the gateway's rule): the same one is a no-op.
            if earlier is not None and _json(earlier.label) != _json(plain(label)):
                clashes.append(
                    f"{prediction_id} (recorded {_json(earlier.label)}, file {_json(plain(label))})"
                )
        if clashes:
            shown = ", ".join(clashes[:5]) + (" ..." if len(clashes) > 5 else "")
            raise Conflict(
                f"{len(clashes)} labels differ from the outcomes already recorded, and the"
                f" first outcome recorded stands; nothing was recorded: {shown}"
            )
        tx.audit.append(
            "monitoring.outcomes_recorded",
            actor=actor,
            now=now,
            details={"rows": len(ids), "file": Path(path).name},
        )
    return len(ids)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _checked_by_version(gov, tx, frame, ids, known, label_column) -> list[Any]:
    """The labels, each checked against the classes of the version that made its prediction."""
    labels = frame[label_column].copy().astype(object)
    for model, version in set(known.values()):
        found = tx.registry.get_version(model, version)
        rows = [n for n, i in enumerate(ids) if known[i] == (model, version)]
        part = frame[label_column].iloc[rows]
        labels.iloc[rows] = check_labels(found, estimator_of(gov, found), part).to_numpy()
    return list(labels)


def _predict(estimator: Any, features: pd.DataFrame) -> Any:
    """The model's outputs for a batch scored here (it came without a predictions column)."""
    from governance.ml.metrics import model_input

    try:
        return estimator.predict(model_input(estimator, features))
    except ValueError as exc:  # scikit-learn's complaint about the values (NaN, strings...)
        raise InvalidInput(f"the model cannot score this batch: {exc}") from None


def _check_batch_columns(frame: pd.DataFrame, reference: list[str], extra: set[str], name: str):
    missing = [c for c in [*reference, *sorted(extra)] if c not in frame.columns]
    unexpected = [c for c in frame.columns if c not in set(reference) | extra]
    if missing or unexpected:
        parts = [f"missing {', '.join(missing)}"] if missing else []
        parts += [f"unexpected {', '.join(map(str, unexpected))}"] if unexpected else []
        raise InvalidInput(f"batch {name} does not match the reference columns: {'; '.join(parts)}")


def _times(frame: pd.DataFrame, column: str | None, now: datetime) -> pd.Series:
    if not column:
        return pd.Series([now] * len(frame), index=frame.index, dtype="datetime64[us, UTC]")
    try:
        times = pd.to_datetime(frame[column], utc=True)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"time column {column!r} is not readable as timestamps: {exc}") from None
    if times.isna().any() or (times > pd.Timestamp(now)).any():
        raise InvalidInput(f"time column {column!r} has empty or future timestamps")
    return times

"""Monitoring data: reference samples per version, ingested batches, and outcomes by id.

Every write is content-addressed and audited in its transaction, and bad input is refused
before anything is stored.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from governance.bootstrap import Governance
from governance.domain.errors import Conflict, InvalidInput, NotFound
from governance.domain.models import ModelVersion
from governance.ml.profile import profile_reference
from governance.store.monitoring import ReferenceProfile
from governance.store.unit_of_work import Transaction

# Columns a stored batch adds to the model's features.
PREDICTION, LABEL, TIME = "__prediction", "__label", "__time"
_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def read_table(path: Path) -> tuple[pd.DataFrame, bytes]:
    """A CSV or parquet file as a frame, with its bytes; InvalidInput when it is not one."""
    from governance.ml.metrics import load_frame

    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InvalidInput(
            f"{path.name}: unknown extension {path.suffix!r}; expected .csv or .parquet"
        )
    if not path.is_file():
        raise NotFound(f"file {str(path)!r} does not exist")
    data = path.read_bytes()
    return load_frame(data, fmt), data


def frame_bytes(frame: pd.DataFrame) -> bytes:
    """A frame as parquet bytes, for the content-addressed store."""
    buffer = io.BytesIO()
    frame.reset_index(drop=True).to_parquet(buffer, index=False)
    return buffer.getvalue()


def load_stored_frame(gov: Governance, digest: str) -> pd.DataFrame:
    """A stored parquet frame, after its digest is checked."""
    return pd.read_parquet(io.BytesIO(gov.artifacts.read_verified(digest)))


def feature_columns(estimator: Any, frame: pd.DataFrame, exclude: set[str]) -> list[str]:
    """The model's input columns: its own feature names, else the frame's other columns."""
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None:
        return [str(n) for n in names]
    return [c for c in frame.columns if c not in exclude]


def store_reference_in(
    tx: Transaction,
    gov: Governance,
    found: ModelVersion,
    frame: pd.DataFrame,
    *,
    source: str,
    actor: str,
    now: datetime,
) -> ReferenceProfile:
    """Sample, profile, store and audit a version's reference, inside the caller's transaction."""
    if frame.empty:
        raise InvalidInput(f"reference sample for {found.ref} is empty")
    limit = gov.policy.retirement.reference_rows
    sample = frame.sample(n=limit, random_state=0) if len(frame) > limit else frame
    stats = profile_reference(sample)
    stored = gov.artifacts.put_bytes(frame_bytes(sample))
    profile = ReferenceProfile(
        model_version_id=found.id,
        digest=stored.digest,
        uri=stored.uri,
        n_rows=len(sample),
        stats=stats,
        source=source,
        created_by=actor,
        created_at=now,
    )
    tx.monitoring.add_reference(profile)
    tx.audit.append(
        "monitoring.reference_stored",
        actor=actor,
        now=now,
        model=found.model_name,
        version=found.version,
        details={"digest": stored.digest, "rows": len(sample), "source": source},
    )
    return profile


def set_reference(
    gov: Governance, *, model: str, version: str, path: Path, actor: str, now: datetime
) -> ReferenceProfile:
    """Store the reference sample given in a file; a version has one reference, set once."""
    frame, _ = read_table(Path(path))
    with gov.store.write() as tx:
        found = tx.registry.get_version(model, version)
        _refuse_second_reference(tx, found)
        estimator = estimator_of(gov, found)
        columns = feature_columns(estimator, frame, set())
        require_columns(frame, columns, f"reference file {Path(path).name}")
        return store_reference_in(
            tx, gov, found, frame[columns], source=f"file:{Path(path).name}", actor=actor, now=now
        )


def reference_from_dataset(
    gov: Governance, *, found: ModelVersion, dataset: str, actor: str, now: datetime
) -> ReferenceProfile | None:
    """Store the evaluation dataset's features as the reference, unless one is stored already."""
    if found.artifact_digest is None:
        return None  # an LLM version has no tabular features to drift
    with gov.store.write() as tx:
        if tx.monitoring.reference(found.id) is not None:
            return None
        stored = tx.evaluation.get_dataset(dataset)
        from governance.ml.metrics import load_frame

        frame = load_frame(gov.artifacts.read_verified(stored.digest), stored.format)
        exclude = {stored.target, *stored.group_columns}
        columns = feature_columns(estimator_of(gov, found), frame, exclude)
        return store_reference_in(
            tx, gov, found, frame[columns], source=f"dataset:{dataset}", actor=actor, now=now
        )


def get_reference(
    gov: Governance, model: str, version: str
) -> tuple[ModelVersion, ReferenceProfile]:
    """The version and its reference profile; NotFound names how to store one."""
    with gov.store.read() as tx:
        found = tx.registry.get_version(model, version)
        profile = tx.monitoring.reference(found.id)
    if profile is None:
        raise NotFound(
            f"{found.ref} has no reference sample: it is stored when the version is promoted, "
            "or with `governance monitoring reference --set FILE`"
        )
    return found, profile


def estimator_of(gov: Governance, found: ModelVersion) -> Any:
    """The version's fitted estimator, loaded safely; InvalidInput for an LLM version."""
    if found.artifact_digest is None:
        raise InvalidInput(f"{found.ref} is an LLM version: tabular monitoring does not apply")
    return gov.artifacts.load_estimator(found.artifact_digest)


def _refuse_second_reference(tx: Transaction, found: ModelVersion) -> None:
    existing = tx.monitoring.reference(found.id)
    if existing is not None:
        raise Conflict(
            f"{found.ref} already has a reference sample ({existing.source}, "
            f"{existing.created_at.isoformat()}): a reference is set once"
        )


def require_columns(frame: pd.DataFrame, columns: list[str], what: str) -> None:
    """InvalidInput naming the columns `frame` lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidInput(f"{what} lacks columns: {', '.join(missing)}")


def utc(value: datetime) -> datetime:
    """A naive datetime read back from storage, as UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)

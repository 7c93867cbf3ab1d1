"""Evaluation datasets: labelled files stored content-addressed and registered by name."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from governance.bootstrap import Governance
from governance.domain.errors import Conflict, DatasetNotFound, InvalidInput
from governance.services.registry.artifacts import staged_artifact
from governance.store.evaluation import EvaluationDataset

_DATASET_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$")


_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def _metrics():
    """The scikit-learn adapter, imported on first use: reading datasets does not need it."""
    from governance.ml import metrics

    return metrics


def register_dataset(
    gov: Governance,
    *,
    name: str,
    path: Path,
    target: str,
    group_columns: Sequence[str] = (),
    actor: str,
    now: datetime,
) -> EvaluationDataset:
    """Store a labelled CSV or parquet file content-addressed and register it under `name`."""
    _check_dataset_name(name)
    fmt = _format_of(Path(path))
    data = _read_dataset_file(Path(path))
    groups = tuple(dict.fromkeys(group_columns))
    frame = _metrics().load_frame(data, fmt)
    _metrics().check_frame(frame, target, groups)
    with gov.store.write() as tx:
        if tx.evaluation.find_dataset(name):
            raise Conflict(f"evaluation dataset {name!r} is already registered")
        with staged_artifact(gov.artifacts, data) as stored:
            dataset = tx.evaluation.add_dataset(
                EvaluationDataset(
                    name=name,
                    digest=stored.digest,
                    uri=stored.uri,
                    format=fmt,
                    target=target,
                    group_columns=groups,
                    n_rows=len(frame),
                    created_by=actor,
                    created_at=now,
                )
            )
            tx.audit.append(
                "dataset.registered",
                actor=actor,
                now=now,
                details={
                    "name": name,
                    "digest": dataset.digest,
                    "uri": dataset.uri,
                    "format": fmt,
                    "target": target,
                    "group_columns": list(groups),
                    "n_rows": dataset.n_rows,
                },
            )
        return dataset


def _check_dataset_name(name: str) -> None:
    if not _DATASET_NAME.match(name or ""):
        raise InvalidInput(
            f"invalid dataset name {name!r}: use lower-case letters, digits, '.', '_' or '-'"
        )


def _format_of(path: Path) -> str:
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InvalidInput(
            f"dataset file {path.name!r}: unknown extension {path.suffix or '(none)'!r}; "
            "expected .csv or .parquet"
        )
    return fmt


def _read_dataset_file(path: Path) -> bytes:
    if not path.is_file():
        raise DatasetNotFound(f"dataset file {str(path)!r} does not exist")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read dataset file {path}: {exc.strerror or exc}") from exc


def get_dataset(gov: Governance, name: str) -> EvaluationDataset:
    """The registered dataset, or DatasetNotFound."""
    with gov.store.read() as tx:
        return tx.evaluation.get_dataset(name)


def list_datasets(gov: Governance) -> list[EvaluationDataset]:
    """All registered datasets by name."""
    with gov.store.read() as tx:
        return tx.evaluation.list_datasets()

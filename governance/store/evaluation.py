"""Repository for evaluation datasets and evaluation runs: SQL in, value objects out."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlalchemy.engine import Connection

from governance.domain.errors import DatasetNotFound, NotFound
from governance.domain.evaluation import EvaluationResult, GateDecision
from governance.domain.evidence import evaluation_contents_digest
from governance.store.tables_promotion import evaluation_runs
from governance.store.tables_registry import evaluation_datasets

d, r = evaluation_datasets.c, evaluation_runs.c


class EvaluationDataset(BaseModel):
    """A registered, content-addressed labelled dataset that versions are evaluated on."""

    model_config = ConfigDict(frozen=True)

    id: int | None = None
    name: str
    digest: str
    uri: str
    format: str
    target: str
    group_columns: tuple[str, ...] = ()
    n_rows: int
    created_by: str
    created_at: datetime


class EvaluationRun(BaseModel):
    """One evaluation of a version on a dataset, with the gate decision made on it."""

    model_config = ConfigDict(frozen=True)

    id: str
    model: str
    version: str
    dataset: str
    dataset_digest: str
    result: EvaluationResult
    decision: GateDecision
    policy_version: str
    created_by: str
    created_at: datetime


def contents_digest(run: EvaluationRun) -> str:
    """The digest of a run's contents, from the JSON `add_run` stores for it."""
    return evaluation_contents_digest(
        model=run.model,
        version=run.version,
        dataset=run.dataset,
        dataset_digest=run.dataset_digest,
        result=run.result.model_dump(mode="json"),
        decision=run.decision.model_dump(mode="json"),
        policy_version=run.policy_version,
    )


def stored_contents_digest(row) -> str:
    """The digest of a stored run's contents, from the row's columns as they are now."""
    return evaluation_contents_digest(
        model=row.model_name,
        version=row.version,
        dataset=row.dataset,
        dataset_digest=row.dataset_digest,
        result=row.result,
        decision=row.decision,
        policy_version=row.policy_version,
    )


def _dataset(row) -> EvaluationDataset:
    return EvaluationDataset.model_validate(row._asdict())


def _run(row) -> EvaluationRun:
    return EvaluationRun(
        id=row.id,
        model=row.model_name,
        version=row.version,
        dataset=row.dataset,
        dataset_digest=row.dataset_digest,
        result=EvaluationResult.model_validate(row.result),
        decision=GateDecision.model_validate(row.decision),
        policy_version=row.policy_version,
        created_by=row.created_by,
        created_at=row.created_at,
    )


class EvaluationRepository:
    """Reads and writes datasets and runs on the caller's connection and transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def find_dataset(self, name: str) -> EvaluationDataset | None:
        """The dataset with this name, or None."""
        row = self.conn.execute(sa.select(evaluation_datasets).where(d.name == name)).first()
        return _dataset(row) if row else None

    def get_dataset(self, name: str) -> EvaluationDataset:
        """The dataset with this name, or DatasetNotFound."""
        found = self.find_dataset(name)
        if found is None:
            raise DatasetNotFound(f"unknown evaluation dataset {name!r}")
        return found

    def add_dataset(self, dataset: EvaluationDataset) -> EvaluationDataset:
        """Insert a dataset and return it with its id."""
        values = dataset.model_dump(exclude={"id"}, mode="python")
        values["group_columns"] = list(dataset.group_columns)
        new_id = self.conn.execute(
            evaluation_datasets.insert().values(**values)
        ).inserted_primary_key[0]
        return dataset.model_copy(update={"id": new_id})

    def list_datasets(self) -> list[EvaluationDataset]:
        """All datasets by name."""
        rows = self.conn.execute(sa.select(evaluation_datasets).order_by(d.name))
        return [_dataset(row) for row in rows]

    def add_run(self, run: EvaluationRun, *, version_id: int, dataset_id: int) -> EvaluationRun:
        """Insert a run; its result and decision are stored as JSON."""
        self.conn.execute(
            evaluation_runs.insert().values(
                id=run.id,
                version_id=version_id,
                dataset_id=dataset_id,
                model_name=run.model,
                version=run.version,
                dataset=run.dataset,
                dataset_digest=run.dataset_digest,
                result=run.result.model_dump(mode="json"),
                decision=run.decision.model_dump(mode="json"),
                passed=run.decision.passed,
                policy_version=run.policy_version,
                created_by=run.created_by,
                created_at=run.created_at,
            )
        )
        return run

    def find_run(self, run_id: str) -> EvaluationRun | None:
        """The run with this id, or None."""
        row = self.conn.execute(sa.select(evaluation_runs).where(r.id == run_id)).first()
        return _run(row) if row else None

    def find_contents_digest(self, run_id: str) -> str | None:
        """The digest of the stored contents of the run with this id, or None."""
        row = self.conn.execute(sa.select(evaluation_runs).where(r.id == run_id)).first()
        return stored_contents_digest(row) if row else None

    def get_run(self, run_id: str) -> EvaluationRun:
        """The run with this id, or NotFound."""
        found = self.find_run(run_id)
        if found is None:
            raise NotFound(f"unknown evaluation run {run_id!r}")
        return found

    def runs_of(self, model: str, version: str) -> list[EvaluationRun]:
        """Runs of one version, oldest first."""
        stmt = (
            sa.select(evaluation_runs)
            .where(r.model_name == model, r.version == version)
            .order_by(r.created_at, r.id)
        )
        return [_run(row) for row in self.conn.execute(stmt)]

"""Repository for A/B experiments: one row per experiment, at most one running per endpoint."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from governance.domain.experiments import RUNNING, Experiment
from governance.store.tables_rollout import endpoints, experiments

x, e = experiments.c, endpoints.c
_ROWS = sa.select(
    x.id,
    e.name.label("endpoint"),
    x.variants,
    x.weights,
    x.until_samples,
    x.until_at,
    x.status,
    x.started_by,
    x.started_at,
    x.ended_at,
    x.flow_run_id,
    x.result,
).select_from(experiments.join(endpoints, x.endpoint_id == e.id))


class ExperimentRepository:
    """Reads and writes experiment rows in the caller's transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def insert(self, experiment: Experiment) -> None:
        """Store a new experiment (the partial unique index allows one running per endpoint)."""
        endpoint_id = self.conn.execute(
            sa.select(e.id).where(e.name == experiment.endpoint)
        ).scalar_one()
        values = {k: v for k, v in experiment.__dict__.items() if k != "endpoint"}
        self.conn.execute(experiments.insert().values(endpoint_id=endpoint_id, **values))

    def get(self, experiment_id: str) -> Experiment | None:
        """One experiment by id, or None."""
        row = self.conn.execute(_ROWS.where(x.id == experiment_id)).first()
        return None if row is None else Experiment(**row._asdict())

    def running_on(self, endpoint: str) -> Experiment | None:
        """The endpoint's running experiment, or None."""
        row = self.conn.execute(_ROWS.where(e.name == endpoint, x.status == RUNNING)).first()
        return None if row is None else Experiment(**row._asdict())

    def all(self) -> list[Experiment]:
        """Every experiment, newest first."""
        rows = self.conn.execute(_ROWS.order_by(x.started_at.desc(), x.id))
        return [Experiment(**row._asdict()) for row in rows]

    def end(
        self, experiment_id: str, status: str, result: dict[str, Any], ended_at: datetime
    ) -> None:
        """Record how the experiment ended."""
        self.conn.execute(
            experiments.update()
            .where(x.id == experiment_id)
            .values(status=status, result=result, ended_at=ended_at)
        )

    def set_flow_run(self, experiment_id: str, flow_run_id: str) -> None:
        """Record the flow run that watches the experiment."""
        self.conn.execute(
            experiments.update().where(x.id == experiment_id).values(flow_run_id=flow_run_id)
        )

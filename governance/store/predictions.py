"""Repository for the prediction log and outcomes joined to it by prediction id."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from governance.domain.predictions import Observation
from governance.store.tables_rollout import outcomes, predictions

p, o = predictions.c, outcomes.c


class StoredOutcome(NamedTuple):
    """An outcome as recorded: label, metrics and when."""

    label: Any
    metrics: dict[str, float]
    recorded_at: datetime


_OBSERVED = sa.select(
    p.id, p.version, p.variant, p.status, p.latency_ms, p.output, o.label, o.metrics
).select_from(predictions.outerjoin(outcomes, o.prediction_id == p.id))


class PredictionRepository:
    """Appends to the prediction log, records outcomes, and reads windows for analysis."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def insert_many(self, records: Iterable[dict[str, Any]]) -> int:
        """Append prediction records (dicts with the table's columns); skip ids already logged.

        Skipping makes a drained spool idempotent: a batch written just before a crash and
        replayed from the spool file is not counted twice.
        """
        rows = list(records)
        if not rows:
            return 0
        ids = [row["id"] for row in rows]
        known = set(self.conn.execute(sa.select(p.id).where(p.id.in_(ids))).scalars())
        fresh = [row for row in rows if row["id"] not in known]
        if fresh:
            self.conn.execute(predictions.insert(), fresh)
        return len(fresh)

    def made_by(self, prediction_id: str) -> tuple[str, str] | None:
        """(model, version) that made a logged prediction, or None if it is not logged."""
        from governance.store.tables_rollout import endpoints

        found = self.conn.execute(
            sa.select(endpoints.c.model_name, p.version)
            .select_from(predictions.join(endpoints, endpoints.c.name == p.endpoint))
            .where(p.id == prediction_id)
        ).first()
        return None if found is None else (found[0], found[1])

    def endpoint_of(self, prediction_id: str) -> str | None:
        """The endpoint that made a logged prediction, or None if it is not logged."""
        found = self.conn.execute(sa.select(p.endpoint).where(p.id == prediction_id)).first()
        return None if found is None else found[0]

    def exists(self, prediction_id: str) -> bool:
        """Whether the prediction id is in the log."""
        found = self.conn.execute(sa.select(p.id).where(p.id == prediction_id)).first()
        return found is not None

    def outcome_of(self, prediction_id: str) -> StoredOutcome | None:
        """The outcome recorded for a prediction, or None."""
        found = self.conn.execute(
            sa.select(o.label, o.metrics, o.recorded_at).where(o.prediction_id == prediction_id)
        ).first()
        return None if found is None else StoredOutcome(*found)

    def record_first_outcome(
        self,
        prediction_id: str,
        label: Any,
        metrics: dict[str, float],
        now: datetime,
        client: str | None = None,
    ) -> StoredOutcome | None:
        """Record the outcome (posted by `client`) unless one is: None, or the earlier one.

        A concurrent twin that inserts first makes this insert fail on the primary key.
        """
        found = self.outcome_of(prediction_id)
        if found is not None:
            return found
        self.conn.execute(
            outcomes.insert().values(
                prediction_id=prediction_id,
                label=label,
                metrics=metrics,
                recorded_at=now,
                client=client,
            )
        )
        return None

    def record_outcome(
        self, prediction_id: str, label: Any, metrics: dict[str, float], now: datetime
    ) -> None:
        """Record (or replace) the outcome of one prediction: the audited batch path only."""
        self.conn.execute(sa.delete(outcomes).where(o.prediction_id == prediction_id))
        self.conn.execute(
            outcomes.insert().values(
                prediction_id=prediction_id, label=label, metrics=metrics, recorded_at=now
            )
        )

    def observations(
        self, endpoint: str, since: datetime, until: datetime, variants: Iterable[str] = ()
    ) -> list[Observation]:
        """Predictions of `endpoint` in [since, until), with outcomes (some variants, or all)."""
        query = _OBSERVED.where(p.endpoint == endpoint, p.created_at >= since, p.created_at < until)
        wanted = list(variants)
        if wanted:
            query = query.where(p.variant.in_(wanted))
        return [Observation(*row) for row in self.conn.execute(query)]

    def count(self, endpoint: str | None = None) -> int:
        """How many predictions are logged (for one endpoint, when given)."""
        query = sa.select(sa.func.count()).select_from(predictions)
        if endpoint is not None:
            query = query.where(p.endpoint == endpoint)
        return self.conn.execute(query).scalar_one()

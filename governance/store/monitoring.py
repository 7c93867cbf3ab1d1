"""Repository for reference profiles, ingested monitoring batches and retirement-audit rows."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlalchemy.engine import Connection

from governance.domain.monitoring import AuditRow
from governance.store.tables_monitoring import (
    monitoring_batches,
    reference_profiles,
    retirement_audits,
)
from governance.store.tables_registry import model_versions, registered_models
from governance.store.tables_rollout import endpoints, outcomes, predictions

rp, mb, ra = reference_profiles.c, monitoring_batches.c, retirement_audits.c
mv, p, o, e = model_versions.c, predictions.c, outcomes.c, endpoints.c
rm = registered_models.c


class ReferenceProfile(BaseModel):
    """A version's reference sample (content-addressed parquet) and its column statistics."""

    model_config = ConfigDict(frozen=True)

    model_version_id: int
    digest: str
    uri: str
    n_rows: int
    stats: dict[str, Any]
    source: str
    created_by: str
    created_at: datetime

    @property
    def columns(self) -> list[str]:
        """The feature columns of the sample, in order."""
        return list(self.stats["columns"])


class MonitoringBatch(BaseModel):
    """One ingested batch: features, predictions and labels of rows scored elsewhere."""

    model_config = ConfigDict(frozen=True)

    id: str
    model_version_id: int
    digest: str
    uri: str
    source_digest: str
    n_rows: int
    n_labels: int
    first_at: datetime
    last_at: datetime
    ingested_by: str
    ingested_at: datetime


_AUDITS = sa.select(
    ra.id,
    ra.audit_run,
    rm.name.label("model_name"),
    mv.version,
    ra.verdict,
    ra.reason,
    ra.successor,
    ra.findings,
    ra.report_digest,
    ra.checked_at,
).select_from(
    retirement_audits.join(model_versions, ra.model_version_id == mv.id).join(
        registered_models, mv.model_id == rm.id
    )
)


class MonitoringRepository:
    """Reads and writes monitoring rows in the caller's transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def reference(self, version_id: int) -> ReferenceProfile | None:
        """The version's reference profile, if one was stored."""
        row = self.conn.execute(
            sa.select(reference_profiles).where(rp.model_version_id == version_id)
        ).first()
        return None if row is None else ReferenceProfile.model_validate(row._asdict())

    def add_reference(self, profile: ReferenceProfile) -> None:
        """Store a version's reference profile (once: a version has one reference)."""
        self.conn.execute(reference_profiles.insert().values(**profile.model_dump()))

    def find_batch(self, version_id: int, source_digest: str) -> MonitoringBatch | None:
        """The batch of this version ingested from a file with these bytes, if any."""
        row = self.conn.execute(
            sa.select(monitoring_batches).where(
                mb.model_version_id == version_id, mb.source_digest == source_digest
            )
        ).first()
        return None if row is None else MonitoringBatch.model_validate(row._asdict())

    def add_batch(self, batch: MonitoringBatch) -> None:
        """Record an ingested batch."""
        self.conn.execute(monitoring_batches.insert().values(**batch.model_dump()))

    def batches(self, version_id: int, since: datetime, until: datetime) -> list[MonitoringBatch]:
        """Batches of the version with rows in [since, until], oldest first."""
        query = (
            sa.select(monitoring_batches)
            .where(mb.model_version_id == version_id, mb.last_at >= since, mb.first_at <= until)
            .order_by(mb.first_at, mb.id)
        )
        return [MonitoringBatch.model_validate(r._asdict()) for r in self.conn.execute(query)]

    def last_activity(self, model: str, version: str, version_id: int) -> datetime | None:
        """The version's newest prediction (through any endpoint) or ingested row."""
        served = self.conn.execute(
            sa.select(sa.func.max(p.created_at))
            .select_from(predictions.join(endpoints, e.name == p.endpoint))
            .where(e.model_name == model, p.version == version)
        ).scalar_one()
        batch = self.conn.execute(
            sa.select(sa.func.max(mb.last_at)).where(mb.model_version_id == version_id)
        ).scalar_one()
        found = [t for t in (served, batch) if t is not None]
        return max(found) if found else None

    def served_rows(
        self, model: str, version: str, since: datetime, until: datetime
    ) -> list[tuple[datetime, dict[str, Any], Any, Any]]:
        """(time, features, output, label) of the version's answered predictions in the window."""
        query = (
            sa.select(p.created_at, p.features, p.output, o.label)
            .select_from(
                predictions.join(endpoints, e.name == p.endpoint).outerjoin(
                    outcomes, o.prediction_id == p.id
                )
            )
            .where(
                e.model_name == model,
                p.version == version,
                p.status == "ok",
                p.created_at >= since,
                p.created_at <= until,
            )
            .order_by(p.created_at)
        )
        return [tuple(row) for row in self.conn.execute(query)]

    def known_predictions(self, ids: Iterable[str]) -> dict[str, tuple[str, str]]:
        """Prediction id -> (model, version) for the ids that are in the log."""
        wanted = list(ids)
        found: dict[str, tuple[str, str]] = {}
        # chunks keep the IN list under SQLite's variable limit
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            query = (
                sa.select(p.id, e.model_name, p.version)
                .select_from(predictions.join(endpoints, e.name == p.endpoint))
                .where(p.id.in_(chunk))
            )
            found.update(
                {row.id: (row.model_name, row.version) for row in self.conn.execute(query)}
            )
        return found

    def add_audit(self, row: dict[str, Any]) -> None:
        """Append one version's audit result."""
        self.conn.execute(retirement_audits.insert().values(**row))

    def audit_of(self, audit_run: str, version_id: int) -> AuditRow | None:
        """The version's result in one audit run, if it was recorded."""
        row = self.conn.execute(
            _AUDITS.where(ra.audit_run == audit_run, ra.model_version_id == version_id)
        ).first()
        return None if row is None else AuditRow.model_validate(row._asdict())

    def audit_by_id(self, audit_id: str) -> AuditRow | None:
        """One audit result by id."""
        row = self.conn.execute(_AUDITS.where(ra.id == audit_id)).first()
        return None if row is None else AuditRow.model_validate(row._asdict())

    def audits_of_run(self, audit_run: str) -> list[AuditRow]:
        """Every result of one audit run, by model and version."""
        query = _AUDITS.where(ra.audit_run == audit_run).order_by(rm.name, mv.id)
        return [AuditRow.model_validate(r._asdict()) for r in self.conn.execute(query)]

    def latest_audits(self, model: str | None = None) -> list[AuditRow]:
        """Each version's newest audit result (of one model, when given)."""
        newest = (
            sa.select(ra.model_version_id, sa.func.max(ra.checked_at).label("at"))
            .group_by(ra.model_version_id)
            .subquery()
        )
        query = _AUDITS.join(
            newest,
            sa.and_(newest.c.model_version_id == ra.model_version_id, newest.c.at == ra.checked_at),
        ).order_by(rm.name, mv.id)
        if model is not None:
            query = query.where(rm.name == model)
        rows = [AuditRow.model_validate(r._asdict()) for r in self.conn.execute(query)]
        # two rows at the same instant (two runs in one clock tick): keep one per version
        return list({(r.model_name, r.version): r for r in rows}.values())

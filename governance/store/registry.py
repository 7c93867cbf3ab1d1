"""Repository for models, versions and aliases: SQL in, domain objects out."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from governance.domain.errors import ModelNotFound, VersionNotFound
from governance.domain.models import LifecycleStage, ModelVersion, RegisteredModel, semver_key
from governance.store.tables_registry import model_aliases, model_versions, registered_models

m, v, a = registered_models.c, model_versions.c, model_aliases.c
_VERSION_COLUMNS = (
    v.id,
    m.name.label("model_name"),
    v.version,
    v.stage,
    v.artifact_uri,
    v.artifact_digest,
    v.llm_config,
    v.training_data_version,
    v.training_pipeline,
    v.hyperparameters,
    v.metrics,
    v.created_by,
    v.created_at,
    v.stage_changed_at,
    v.sunset_at,
)
_VERSIONS = sa.select(*_VERSION_COLUMNS).select_from(
    model_versions.join(registered_models, v.model_id == m.id)
)


# Built once: SQLAlchemy then reuses their compiled form instead of rebuilding per call.
_MODEL_BY_NAME = sa.select(registered_models).where(m.name == sa.bindparam("name"))
_VERSION_BY_NAME = _VERSIONS.where(
    m.name == sa.bindparam("name"), v.version == sa.bindparam("version")
)
_VERSIONS_IN_STAGE = _VERSIONS.where(
    m.name == sa.bindparam("name"), v.stage == sa.bindparam("stage")
)
_INSERT_MODEL = registered_models.insert()
_INSERT_VERSION = model_versions.insert()


def _version(row) -> ModelVersion:
    return ModelVersion.model_validate(row._asdict())


class RegistryRepository:
    """Reads and writes registry rows on the caller's connection and transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def find_model(self, name: str) -> RegisteredModel | None:
        """The model with this name, or None."""
        row = self.conn.execute(_MODEL_BY_NAME, {"name": name}).first()
        return RegisteredModel.model_validate(row._asdict()) if row else None

    def get_model(self, name: str) -> RegisteredModel:
        """The model with this name, or ModelNotFound."""
        model = self.find_model(name)
        if model is None:
            raise ModelNotFound(f"unknown model {name!r}")
        return model

    def add_model(self, model: RegisteredModel) -> RegisteredModel:
        """Insert a model and return it with its id."""
        values = model.model_dump(exclude={"id"}, mode="python")
        new_id = self.conn.execute(_INSERT_MODEL, values).inserted_primary_key[0]
        return model.model_copy(update={"id": new_id})

    def list_models(self) -> list[RegisteredModel]:
        """All models by name."""
        rows = self.conn.execute(sa.select(registered_models).order_by(m.name))
        return [RegisteredModel.model_validate(r._asdict()) for r in rows]

    def owners(self) -> list[str]:
        """Every model owner, sorted."""
        stmt = sa.select(m.owner).distinct().order_by(m.owner)
        return list(self.conn.execute(stmt).scalars())

    def browse(
        self,
        *,
        stage: LifecycleStage | None,
        risk_level: str | None,
        owner: str | None,
        offset: int,
        limit: int,
    ) -> tuple[list[tuple[RegisteredModel, list[ModelVersion]]], int]:
        """One page of the models with a version matching every filter (by name), each with
        its matching versions, and how many models match in all."""
        matching = sa.select(v.model_id).select_from(
            model_versions.join(registered_models, v.model_id == m.id)
        )
        for column, value in ((v.stage, stage), (m.risk_level, risk_level), (m.owner, owner)):
            if value is not None:
                matching = matching.where(column == str(value))
        ids = matching.distinct().subquery()
        total = self.conn.execute(sa.select(sa.func.count()).select_from(ids)).scalar_one()
        page = self.conn.execute(
            sa.select(registered_models)
            .where(m.id.in_(sa.select(ids.c.model_id)))
            .order_by(m.name)
            .offset(offset)
            .limit(limit)
        )
        models = [RegisteredModel.model_validate(r._asdict()) for r in page]
        stmt = _VERSIONS.where(v.model_id.in_([model.id for model in models]))
        if stage is not None:
            stmt = stmt.where(v.stage == str(stage))
        found: dict[str, list[ModelVersion]] = {model.name: [] for model in models}
        for row in self.conn.execute(stmt):
            found[row.model_name].append(_version(row))
        rows = [
            (model, sorted(found[model.name], key=lambda x: semver_key(x.version)))
            for model in models
        ]
        return rows, total

    def find_version(self, name: str, version: str) -> ModelVersion | None:
        """The version, or None."""
        row = self.conn.execute(_VERSION_BY_NAME, {"name": name, "version": version}).first()
        return _version(row) if row else None

    def get_version(self, name: str, version: str) -> ModelVersion:
        """The version, or ModelNotFound / VersionNotFound."""
        found = self.find_version(name, version)
        if found is None:
            self.get_model(name)
            raise VersionNotFound(f"model {name!r} has no version {version!r}")
        return found

    def add_version(self, model_id: int, version: ModelVersion) -> ModelVersion:
        """Insert a version and return it with its id."""
        values = version.model_dump(exclude={"id", "model_name"}, mode="python")
        values["model_id"] = model_id
        new_id = self.conn.execute(_INSERT_VERSION, values).inserted_primary_key[0]
        return version.model_copy(update={"id": new_id})

    def set_stage(
        self, version_id: int, stage: LifecycleStage, now: datetime, sunset_at: datetime | None
    ) -> None:
        """Move a version to a stage; `sunset_at` is kept only for deprecated versions."""
        self.conn.execute(
            model_versions.update()
            .where(v.id == version_id)
            .values(stage=stage.value, stage_changed_at=now, sunset_at=sunset_at)
        )

    def set_risk(self, model_id: int, level: str) -> None:
        """Record a model's new risk level."""
        self.conn.execute(
            registered_models.update().where(m.id == model_id).values(risk_level=str(level))
        )

    def versions_in_stage(self, name: str, stage: LifecycleStage) -> list[ModelVersion]:
        """Versions of the model in a stage, newest semver first."""
        rows = self.conn.execute(_VERSIONS_IN_STAGE, {"name": name, "stage": stage.value})
        return sorted(
            (_version(r) for r in rows), key=lambda x: semver_key(x.version), reverse=True
        )

    def version_by_alias(self, name: str, alias: str) -> ModelVersion | None:
        """The version an alias points at, or None."""
        stmt = _VERSIONS.join(model_aliases, a.version_id == v.id).where(
            m.name == name, a.alias == alias
        )
        row = self.conn.execute(stmt).first()
        return _version(row) if row else None

    def set_alias(self, model_id: int, alias: str, version_id: int) -> int | None:
        """Point an alias at a version; return the version id it pointed at before."""
        key = (a.model_id == model_id) & (a.alias == alias)
        before = self.conn.execute(sa.select(a.version_id).where(key)).scalar_one_or_none()
        if before is None:
            self.conn.execute(
                model_aliases.insert().values(model_id=model_id, alias=alias, version_id=version_id)
            )
        else:
            self.conn.execute(model_aliases.update().where(key).values(version_id=version_id))
        return before

    def aliases_of(self, version_id: int) -> list[str]:
        """Aliases that point at a version."""
        stmt = sa.select(a.alias).where(a.version_id == version_id).order_by(a.alias)
        return list(self.conn.execute(stmt).scalars())

    def search(
        self,
        *,
        name: str | None = None,
        stage: LifecycleStage | None = None,
        risk_level: str | None = None,
        owner: str | None = None,
        team: str | None = None,
    ) -> list[ModelVersion]:
        """Versions matching every given filter, by model name then semver."""
        stmt = _VERSIONS
        for column, value in (
            (m.name, name),
            (v.stage, stage),
            (m.risk_level, risk_level),
            (m.owner, owner),
            (m.team, team),
        ):
            if value is not None:
                stmt = stmt.where(column == str(value))
        rows = [_version(r) for r in self.conn.execute(stmt)]
        return sorted(rows, key=lambda x: (x.model_name, semver_key(x.version)))

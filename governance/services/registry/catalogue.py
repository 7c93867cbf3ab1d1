"""The registry as a reader browses it: models with their versions, filtered, and aliases."""

from __future__ import annotations

from dataclasses import dataclass

from governance.bootstrap import Governance
from governance.domain.errors import InvalidInput
from governance.domain.models import LifecycleStage, ModelVersion, RegisteredModel, RiskLevel


@dataclass(frozen=True)
class ModelRow:
    """A model and its versions matching the filters, oldest first."""

    model: RegisteredModel
    versions: list[ModelVersion]

    @property
    def production(self) -> list[str]:
        """The versions of the row in production."""
        return [v.version for v in self.versions if v.stage == LifecycleStage.production]


@dataclass(frozen=True)
class ModelDetail:
    """A model, every version of it (oldest first) and each version's aliases."""

    model: RegisteredModel
    versions: list[ModelVersion]
    aliases: dict[str, list[str]]


def _stage(value: str | None) -> LifecycleStage | None:
    if not value:
        return None
    try:
        return LifecycleStage(value)
    except ValueError:
        known = ", ".join(s.value for s in LifecycleStage)
        raise InvalidInput(f"unknown stage {value!r}: use one of {known}") from None


def _risk(value: str | None) -> str | None:
    if not value:
        return None
    if value not in {r.value for r in RiskLevel}:
        known = ", ".join(r.value for r in RiskLevel)
        raise InvalidInput(f"unknown risk level {value!r}: use one of {known}")
    return value


def models(
    gov: Governance,
    *,
    stage: str | None = None,
    risk: str | None = None,
    owner: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[ModelRow], int]:
    """One page of the models with a version matching every filter (by name), and the total.

    The page is cut in the database, so a registry of thousands of models costs one page's
    rows; InvalidInput names a bad filter.
    """
    filters = {"stage": _stage(stage), "risk_level": _risk(risk), "owner": owner or None}
    with gov.store.read() as tx:
        rows, total = tx.registry.browse(
            **filters, offset=(max(page, 1) - 1) * per_page, limit=per_page
        )
    return [ModelRow(model, versions) for model, versions in rows], total


def owners(gov: Governance) -> list[str]:
    """Every model owner, sorted, for the list's filter."""
    with gov.store.read() as tx:
        return tx.registry.owners()


def model_detail(gov: Governance, name: str) -> ModelDetail:
    """One model with all its versions and their aliases; ModelNotFound names it."""
    with gov.store.read() as tx:
        model = tx.registry.get_model(name)
        found = tx.registry.search(name=name)
        aliases = {v.version: tx.registry.aliases_of(v.id) for v in found}
    return ModelDetail(model, found, aliases)

"""`governance compliance status`: the Annex IV gap score of each model's version in service."""

from __future__ import annotations

from dataclasses import dataclass

from governance.bootstrap import Governance
from governance.domain.compliance_pack import PointScore, gap_count
from governance.domain.models import LifecycleStage, ModelVersion, RiskLevel, semver_key
from governance.services.compliance.packs import gap_score

# Annex III makes these risk levels' systems high-risk: the Annex IV documentation is owed.
HIGH_RISK = (RiskLevel.high, RiskLevel.critical)
_ORDER = {RiskLevel.critical: 0, RiskLevel.high: 1, RiskLevel.medium: 2, RiskLevel.low: 3}


@dataclass(frozen=True)
class ModelScore:
    """A model's scored version (the production one, else the newest) and its points."""

    model: str
    risk_level: RiskLevel
    version: str
    stage: str
    points: list[PointScore]

    @property
    def gaps(self) -> int:
        """Points not covered."""
        return gap_count(self.points)

    @property
    def high_risk(self) -> bool:
        """True when Annex III would make the system high-risk."""
        return self.risk_level in HIGH_RISK


def status(gov: Governance, name: str | None = None) -> list[ModelScore]:
    """Scores by risk level (critical first), then name; ModelNotFound for an unknown name."""
    with gov.store.read() as tx:
        models = [tx.registry.get_model(name)] if name else tx.registry.list_models()
        chosen = [(m, _scored_version(tx.registry.search(name=m.name))) for m in models]
    scores = [
        ModelScore(
            model=model.name,
            risk_level=model.risk_level,
            version=found.version,
            stage=found.stage.value,
            points=gap_score(gov, model.name, found.version),
        )
        for model, found in chosen
        if found is not None
    ]
    return sorted(scores, key=lambda s: (_ORDER[s.risk_level], s.model))


def _scored_version(versions: list[ModelVersion]) -> ModelVersion | None:
    live = [v for v in versions if v.stage == LifecycleStage.production]
    pool = live or versions
    return max(pool, key=lambda v: semver_key(v.version), default=None)

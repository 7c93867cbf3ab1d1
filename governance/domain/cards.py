"""Model cards: the schema, completeness rules per stage and risk, and the card hash.

A card is flat: one field per fact, so a YAML card reads top to bottom and a missing
field is named by its own key. Every field has an empty default; whether it must be
filled depends on where the version is going and how risky the model is.

Required fields by target stage (each row adds to the rows above it):

    =====================  ==========================================================
    target stage           required fields
    =====================  ==========================================================
    development            name, version, owner, team, intended_use
    staging                + out_of_scope_uses, primary_users,
                             training_data_description, training_data_version,
                             training_date, training_pipeline,
                             evaluation_metrics, known_limitations, risk_level
    production             + review_schedule, retirement_criteria (>= 1 threshold)
    deprecated             same as production (it can be rolled back to production)
    retired                nothing: a card gap must never block taking a model out
    =====================  ==========================================================

Additions by risk level:

    =====================  ==========================================================
    risk level             extra fields
    =====================  ==========================================================
    medium and above       performance_by_group, from production
    high and critical      ethical_considerations, fairness_assessment, from production
    critical               performance_by_group already from staging
    =====================  ==========================================================

LLM models (kind `llm`) add, from staging (and for deprecated) on, the facts of an LLM
card: base_model, data_volume, pii_handling, hallucination_rate (a fraction, in the prompt
gate's terms) and latency_p95_ms. The prompt gate holds an LLM version to the last two.

`model_id` is filled from the registry and `approved_by` / `approval_date` by the
approval process, so none of them is ever required for a promotion. Hyperparameters
are not required either: a model trained on library defaults has none to state.
"""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, field_validator

from governance.domain.audit import canonical_json
from governance.domain.errors import IncompleteCard, InvalidVersion, MalformedCard
from governance.domain.models import LifecycleStage, ModelKind, RiskLevel, parse_semver
from governance.domain.monitoring import Metric

_STRICT = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, str_strip_whitespace=True)


class RetirementCriteria(BaseModel):
    """Thresholds past which a production version should be reviewed for retirement."""

    model_config = _STRICT

    max_age_days: int | None = Field(default=None, gt=0)
    min_accuracy: float | None = Field(default=None, ge=0.0, le=1.0)
    max_drift_share: float | None = Field(default=None, ge=0.0, le=1.0)
    notes: str = ""
    # Which metric min_accuracy bounds (policy default when None), and for how many
    # consecutive most-recent days it must stay below before that counts as a breach.
    accuracy_metric: Metric | None = None
    min_accuracy_days: int | None = Field(default=None, gt=0)
    no_traffic_days: int | None = Field(default=None, gt=0)

    def has_threshold(self) -> bool:
        """True when at least one measurable threshold is set (notes alone do not count)."""
        thresholds = (
            self.max_age_days,
            self.min_accuracy,
            self.max_drift_share,
            self.min_accuracy_days,
            self.no_traffic_days,
        )
        return any(v is not None for v in thresholds)

    def describe(self) -> str:
        """One line naming each threshold, or 'none stated'."""
        parts = []
        if self.max_age_days is not None:
            parts.append(f"older than {self.max_age_days} days")
        metric = self.accuracy_metric or "accuracy"
        if self.min_accuracy is not None or self.min_accuracy_days is not None:
            floor = "the policy minimum" if self.min_accuracy is None else f"{self.min_accuracy:g}"
            days = self.min_accuracy_days
            parts.append(
                f"{metric} below {floor}" + (f" for {days} consecutive days" if days else "")
            )
        if self.max_drift_share is not None:
            parts.append(f"drift share above {self.max_drift_share:g}")
        if self.no_traffic_days is not None:
            parts.append(f"no traffic for {self.no_traffic_days} days")
        text = "retire when " + ", or ".join(parts) if parts else "none stated"
        return f"{text} ({self.notes})" if self.notes else text


# Criteria keys added after cards were first stored: left out of the hash while unset, so
# every stored card (and each approval bound to its hash) keeps the hash it had before.
_LATER_CRITERIA = ("accuracy_metric", "min_accuracy_days", "no_traffic_days")
# The LLM card's facts, added later too: likewise left out of the hash while unset.
LLM_FIELDS = ("base_model", "data_volume", "pii_handling", "hallucination_rate", "latency_p95_ms")


class ModelCard(BaseModel):
    """Everything a reader must know about one model version, in flat named fields."""

    model_config = _STRICT

    # identity
    name: str = ""
    version: str = ""
    model_id: str | None = None
    owner: str = ""
    team: str = ""
    base_model: str = ""  # LLM: the foundation model the version configures
    # purpose
    intended_use: str = ""
    out_of_scope_uses: list[str] = Field(default_factory=list)
    primary_users: list[str] = Field(default_factory=list)
    # training
    training_data_description: str = ""
    training_data_version: str = ""
    training_date: date | None = None
    training_pipeline: str = ""
    data_volume: str = ""  # e.g. "500K examples"
    pii_handling: str = ""
    # JSON values only, so the card hashes and round-trips through JSON without loss
    hyperparameters: dict[str, JsonValue] = Field(default_factory=dict)
    # performance
    evaluation_metrics: dict[str, float] = Field(default_factory=dict)
    performance_by_group: dict[str, dict[str, float]] = Field(default_factory=dict)
    known_limitations: list[str] = Field(default_factory=list)
    # LLM: the claims the prompt gate holds a version to (a fraction; milliseconds)
    hallucination_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    latency_p95_ms: float | None = Field(default=None, gt=0.0)
    # risk and ethics
    risk_level: RiskLevel | None = None
    ethical_considerations: str = ""
    fairness_assessment: str = ""
    # governance
    approved_by: list[str] = Field(default_factory=list)
    approval_date: date | None = None
    review_schedule: str = ""
    retirement_criteria: RetirementCriteria = Field(default_factory=RetirementCriteria)

    @field_validator("version")
    @classmethod
    def _semantic_version(cls, value: str) -> str:
        # empty is allowed so a draft card can be written before the version is registered
        if value:
            try:
                parse_semver(value)
            except InvalidVersion as exc:
                raise ValueError(str(exc)) from None
        return value


def _format_error(error: Any) -> str:
    """One pydantic error as 'field.path: reason'."""
    path = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        return f"unknown field {path!r}"
    if error["type"] == "missing":
        return f"{path}: required"
    if error["type"] == "value_error":
        # our own validators' messages already read as sentences; drop pydantic's prefix
        return f"{path}: {error['ctx']['error']}"
    return f"{path}: {error['msg']}"


def parse_card(data: dict[str, Any]) -> ModelCard:
    """Validate a mapping into a ModelCard, or raise MalformedCard naming each bad field."""
    if not isinstance(data, dict):
        raise MalformedCard(
            f"malformed model card: expected a mapping of fields, got {type(data).__name__}"
        )
    try:
        return ModelCard.model_validate(data)
    except ValidationError as exc:
        reasons = "; ".join(_format_error(err) for err in exc.errors())
        raise MalformedCard(f"malformed model card: {reasons}") from None


_IDENTITY = ("name", "version", "owner", "team")
_DEVELOPMENT = (*_IDENTITY, "intended_use")
_STAGING = (
    "out_of_scope_uses",
    "primary_users",
    "training_data_description",
    "training_data_version",
    "training_date",
    "training_pipeline",
    "evaluation_metrics",
    "known_limitations",
    "risk_level",
)
_PRODUCTION = ("review_schedule", "retirement_criteria")
_ETHICS = ("ethical_considerations", "fairness_assessment")
_RISK_ORDER = list(RiskLevel)


def _at_least(risk: RiskLevel, floor: RiskLevel) -> bool:
    return _RISK_ORDER.index(risk) >= _RISK_ORDER.index(floor)


def required_fields(
    stage: LifecycleStage, risk: RiskLevel, kind: ModelKind = ModelKind.sklearn
) -> list[str]:
    """The card fields a version of `kind` must fill to enter `stage` at `risk`, in card order."""
    stage, risk, kind = LifecycleStage(stage), RiskLevel(risk), ModelKind(kind)
    if stage == LifecycleStage.retired:
        return []
    wanted = set(_DEVELOPMENT)
    if stage != LifecycleStage.development:
        wanted.update(_STAGING)
        if kind == ModelKind.llm:
            wanted.update(LLM_FIELDS)
        if risk == RiskLevel.critical:
            wanted.add("performance_by_group")
    if stage in (LifecycleStage.production, LifecycleStage.deprecated):
        wanted.update(_PRODUCTION)
        if _at_least(risk, RiskLevel.medium):
            wanted.add("performance_by_group")
        if _at_least(risk, RiskLevel.high):
            wanted.update(_ETHICS)
    return [name for name in ModelCard.model_fields if name in wanted]


def _is_empty(value: Any) -> bool:
    if isinstance(value, RetirementCriteria):
        return not value.has_threshold()
    if isinstance(value, str):
        return not value.strip()
    return value is None or (isinstance(value, (list, dict)) and not value)


def missing_fields(
    card: ModelCard, stage: LifecycleStage, risk: RiskLevel, kind: ModelKind = ModelKind.sklearn
) -> list[str]:
    """The required fields that the card leaves empty, in card order."""
    wanted = required_fields(stage, risk, kind)
    return [name for name in wanted if _is_empty(getattr(card, name))]


def require_complete(
    card: ModelCard, stage: LifecycleStage, risk: RiskLevel, kind: ModelKind = ModelKind.sklearn
) -> ModelCard:
    """Return the card if it is complete for `stage` at `risk`, else raise IncompleteCard."""
    missing = missing_fields(card, stage, risk, kind)
    if missing:
        raise IncompleteCard(missing, LifecycleStage(stage).value, RiskLevel(risk).value)
    return card


def card_hash(card: ModelCard) -> str:
    """sha256 hex of the card's canonical JSON: stable across processes, moved by any edit."""
    data = card.model_dump(mode="json")
    criteria = data["retirement_criteria"]
    for key in _LATER_CRITERIA:
        if criteria[key] is None:
            del criteria[key]
    for key in LLM_FIELDS:
        if data[key] in ("", None):
            del data[key]
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()


def with_identity(
    card: ModelCard,
    *,
    name: str,
    version: str,
    model_id: str | None,
    owner: str,
    team: str,
    risk_level: RiskLevel | None = None,
) -> ModelCard:
    """A copy of the card whose identity (and, if given, risk level) comes from the registry."""
    update: dict[str, Any] = {
        "name": name,
        "version": version,
        "model_id": model_id,
        "owner": owner,
        "team": team,
    }
    if risk_level is not None:
        update["risk_level"] = risk_level
    # revalidate rather than model_copy(update=...) so registry values pass the same checks
    return parse_card({**card.model_dump(), **update})


def declared_groups(card: ModelCard) -> tuple[str, ...]:
    """The groups the card reports performance for (its own declaration), sorted.

    `performance_by_group` is the card's one structured statement of groups;
    `fairness_assessment` is prose, and the model card document also names its groups at
    risk from `performance_by_group`.
    """
    return tuple(sorted(card.performance_by_group))


def _listed(items: list[str]) -> str:
    # items often contain ';' themselves, so a middle dot keeps them apart on one line
    return " · ".join(items) if items else "none stated"


def card_highlights(card: ModelCard) -> dict[str, str]:
    """The few lines an approver must read before deciding, keyed by a short label."""
    return {
        "intended use": card.intended_use or "none stated",
        "out of scope": _listed(card.out_of_scope_uses),
        "risk level": card.risk_level.value if card.risk_level else "none stated",
        "known limitations": _listed(card.known_limitations),
        "fairness": card.fairness_assessment or "none stated",
        "retirement criteria": card.retirement_criteria.describe(),
    }

"""The policy file's sections: roles, approval rules, gates, rollout, retirement and prompts."""

from __future__ import annotations

from collections.abc import Mapping
from itertools import pairwise
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from governance.domain.gate_policy import GatePolicy
from governance.domain.monitoring import Metric
from governance.domain.prompt_gate import PromptGatePolicy

# The roles that approve (and act on models): the only ones approval rules may name.
ApprovalRole = Literal["ml_engineer", "ml_lead", "risk_officer", "legal"]
APPROVAL_ROLES: tuple[str, ...] = get_args(ApprovalRole)
# admin enrols people and changes roles; auditor reads the whole trail. Neither approves:
# whoever changes who holds a role must not also be one of the roles that decide.
Role = Literal["ml_engineer", "ml_lead", "risk_officer", "legal", "admin", "auditor"]
ROLES: tuple[str, ...] = get_args(Role)

Person = Annotated[str, Field(min_length=1)]
Share = Annotated[float, Field(ge=0, le=1)]

# Every section is immutable and refuses keys it does not know.
STRICT = ConfigDict(frozen=True, extra="forbid")


class ApprovalRules(BaseModel):
    """Which roles must approve a move to each stage, and how many people per role."""

    model_config = STRICT

    staging: list[ApprovalRole] = Field(default_factory=lambda: ["ml_engineer"], min_length=1)
    production: list[ApprovalRole] = Field(
        default_factory=lambda: ["ml_lead", "risk_officer"], min_length=1
    )
    production_high_risk_extra: list[ApprovalRole] = Field(default_factory=lambda: ["legal"])
    quorum: dict[ApprovalRole, Annotated[int, Field(ge=1)]] = Field(default_factory=dict)

    def needed(self, role: str) -> int:
        """How many distinct people of `role` must approve (k of k-of-n; 1 unless set)."""
        return self.quorum.get(role, 1)  # type: ignore[call-overload]


class GatesPolicy(BaseModel):
    """The default evaluation gate and per-model overrides that inherit what they leave out."""

    model_config = STRICT

    default: GatePolicy = Field(default_factory=GatePolicy)
    per_model: dict[Person, GatePolicy] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _inherit_default(cls, data: Any) -> Any:
        # A partial override (say only max_latency_p95_ms) must not silently drop the default
        # thresholds, so each per-model mapping is laid over the default mapping key by key.
        if not isinstance(data, Mapping):
            return data
        default, per_model = data.get("default"), data.get("per_model")
        if not isinstance(per_model, Mapping):
            return data
        base = dict(default) if isinstance(default, Mapping) else {}
        merged = {
            name: {**base, **entry} if isinstance(entry, Mapping) else entry
            for name, entry in per_model.items()
        }
        return {**data, "per_model": merged}


class CanaryDefaults(BaseModel):
    """Default canary plan: traffic weight steps, bake time per step, tolerated error increase."""

    model_config = STRICT

    steps: list[int] = Field(default_factory=lambda: [5, 25, 50, 100], min_length=1)
    bake_minutes: float = Field(default=30, gt=0)
    max_error_rate_increase: Share = 0.02
    # Split over the planned steps (Bonferroni), so repeated looks keep the overall level.
    alpha: float = Field(default=0.05, gt=0, lt=1)
    # Below these counts per variant a metric's verdict is "insufficient data", never a pass.
    min_samples: int = Field(default=50, ge=1)
    min_labels: int = Field(default=30, ge=1)
    # Kayenta-style: a latency difference must also be this large (relative p95) to fail.
    latency_min_effect: float = Field(default=0.2, ge=0)
    max_accuracy_drop: Share = 0.05
    # How many extra bakes insufficient data may buy before a human is asked.
    max_extensions: int = Field(default=3, ge=0)
    # The watchdog rolls back a canary whose run has been silent for bake time plus this.
    watchdog_grace_minutes: float = Field(default=10, gt=0)

    @field_validator("steps")
    @classmethod
    def _steps_climb_to_full(cls, steps: list[int]) -> list[int]:
        if any(not 0 < step <= 100 for step in steps):
            raise ValueError(f"canary weights must be between 1 and 100, got {steps}")
        if any(b <= a for a, b in pairwise(steps)):
            raise ValueError(f"canary weights must strictly increase, got {steps}")
        if steps[-1] != 100:
            raise ValueError(f"the last canary step must be 100 (full traffic), got {steps[-1]}")
        return steps


class RetirementDefaults(BaseModel):
    """Defaults for the retirement audit when a card names no criteria of its own."""

    model_config = STRICT

    max_age_days: int = Field(default=90, gt=0)
    min_accuracy: Share = 0.8
    max_drift_share: Share = 0.3
    sunset_days: int = Field(default=30, gt=0)
    accuracy_metric: Metric = "accuracy"
    # None: the metric over the whole window decides; N: N consecutive days below it do.
    min_accuracy_days: int | None = Field(default=None, gt=0)
    accuracy_window_days: int = Field(default=30, gt=0)
    # Labels per day when a run length is used, per window otherwise.
    min_labels: int = Field(default=50, ge=1)
    drift_window_days: int = Field(default=7, gt=0)
    min_drift_rows: int = Field(default=100, ge=1)
    no_traffic_days: int = Field(default=30, gt=0)
    # How long a rejected retirement keeps a version, and the period for unreadable schedules.
    review_days: int = Field(default=90, gt=0)
    reference_rows: int = Field(default=5000, ge=1)
    roles: list[ApprovalRole] = Field(
        default_factory=lambda: ["ml_lead", "risk_officer"], min_length=1
    )


class BlueGreenDefaults(BaseModel):
    """Blue/green: smoke-test rows and how long the old slot stays warm after a switch."""

    model_config = STRICT

    smoke_rows: int = Field(default=20, ge=1)
    scale_down_delay_minutes: float = Field(default=60, ge=0)


class ExperimentDefaults(BaseModel):
    """A/B test analysis: significance, the sample-ratio-mismatch level, minimum samples."""

    model_config = STRICT

    alpha: float = Field(default=0.05, gt=0, lt=1)
    srm_alpha: float = Field(default=0.001, gt=0, lt=1)
    min_samples_per_variant: int = Field(default=100, ge=1)
    # The longest an experiment may split traffic: its end time, or with a sample target the
    # time after which it ends whatever the samples (an arm serves a share of everyone).
    max_duration_days: float = Field(default=30, gt=0)


class FlagDefaults(BaseModel):
    """Flags to a version not approved for production: how much of the named orgs they reach."""

    model_config = STRICT

    # Named users may be flagged whole; named orgs only this share of their keys, and a
    # percentage of everyone never, until the version is approved for production.
    max_unapproved_percentage: float = Field(default=5, gt=0, le=100)


class PromptCanaryDefaults(BaseModel):
    """A prompt canary: the candidate's share of targeting keys per step and the bake."""

    model_config = STRICT

    steps: list[int] = Field(default_factory=lambda: [10, 50, 100], min_length=1)
    bake_minutes: float = Field(default=30, gt=0)
    # Renders with a reported outcome each variant needs before a step can pass.
    min_samples: int = Field(default=50, ge=1)
    # The candidate's failure rate may exceed stable's by this much.
    max_error_rate_increase: Share = 0.02
    latency_min_effect: float = Field(default=0.2, ge=0)
    alpha: float = Field(default=0.05, gt=0, lt=1)
    # How many extra bakes insufficient data may buy before the canary is rolled back.
    max_extensions: int = Field(default=3, ge=0)

    _steps = field_validator("steps")(CanaryDefaults._steps_climb_to_full.__func__)


class PromptDefaults(BaseModel):
    """Prompt promotion: the gate, the roles that approve a pointer move, the canary."""

    model_config = STRICT

    gate: PromptGatePolicy = Field(default_factory=PromptGatePolicy)
    roles: list[ApprovalRole] = Field(
        default_factory=lambda: ["ml_lead", "risk_officer"], min_length=1
    )
    canary: PromptCanaryDefaults = Field(default_factory=PromptCanaryDefaults)


# The EU AI Act's minimum retention periods, with the articles that set them.
LOG_MONTHS_MINIMUM = 6
LOG_ARTICLES = "Art. 19(1) and 26(6)"
DOCUMENTATION_YEARS_MINIMUM = 10
DOCUMENTATION_ARTICLE = "Art. 18(1)"


class RetentionPolicy(BaseModel):
    """How long the audit trail and the technical documentation are kept."""

    model_config = STRICT

    logs_months: int = LOG_MONTHS_MINIMUM
    documentation_years: int = DOCUMENTATION_YEARS_MINIMUM

    @field_validator("logs_months")
    @classmethod
    def _logs_long_enough(cls, months: int) -> int:
        if months < LOG_MONTHS_MINIMUM:
            raise ValueError(
                f"{months} months is shorter than the {LOG_MONTHS_MINIMUM} months that the "
                f"EU AI Act's {LOG_ARTICLES} require for automatically generated logs"
            )
        return months

    @field_validator("documentation_years")
    @classmethod
    def _documentation_long_enough(cls, years: int) -> int:
        if years < DOCUMENTATION_YEARS_MINIMUM:
            raise ValueError(
                f"{years} years is shorter than the {DOCUMENTATION_YEARS_MINIMUM} years that "
                f"the EU AI Act's {DOCUMENTATION_ARTICLE} requires for technical documentation"
            )
        return years

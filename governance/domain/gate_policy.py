"""The gate policy: metric thresholds, regression tolerance, fairness and latency bounds."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from governance.domain.models import RiskLevel

Direction = Literal["min", "max"]


class Threshold(BaseModel):
    """One bound on a metric: `min` means the metric must be at least `value`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    metric: str
    direction: Direction
    value: float


class GatePolicy(BaseModel):
    """The thresholds an evaluation must meet, and how far a metric may fall below production."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    thresholds: tuple[Threshold, ...] = ()
    regression_tolerance: float = Field(default=0.02, ge=0, le=1)
    max_fairness_gap: float | None = Field(default=None, ge=0)
    max_latency_p95_ms: float | None = Field(default=None, gt=0)
    # Risk levels whose models must be evaluated by group: without a group column the fairness
    # check then fails, where for a card that declares no groups it would not apply.
    require_groups_at: tuple[RiskLevel, ...] = ()

    @field_validator("require_groups_at", mode="before")
    @classmethod
    def _known_risk_levels(cls, levels: Any) -> Any:
        if isinstance(levels, str):
            raise ValueError(
                f"expected a list of risk levels such as [high, critical], got {levels!r}"
            )
        if not isinstance(levels, (list, tuple)):
            return levels  # pydantic names the wrong type
        known = [level.value for level in RiskLevel]
        for level in levels:
            if level not in known:
                raise ValueError(
                    f"unknown risk level {level!r} (expected one of {', '.join(known)})"
                )
        # One order and no repeats, so [critical, high] and [high, critical] hash the same.
        return tuple(level for level in known if level in levels)

    @model_validator(mode="after")
    def _groups_need_a_gap_bound(self) -> GatePolicy:
        # Groups are required for the fairness check; with no bound there is no such check, and
        # a requirement that silently checks nothing would mislead whoever reads the policy.
        if self.require_groups_at and self.max_fairness_gap is None:
            raise ValueError(
                f"require_groups_at ({levels_text(self.require_groups_at)}) needs "
                "max_fairness_gap: without a bound on the gap there is no fairness check; "
                "set max_fairness_gap or require_groups_at: []"
            )
        return self


def levels_text(levels: tuple[RiskLevel, ...]) -> str:
    """Risk levels as the policy file lists them: 'high, critical'."""
    return ", ".join(level.value for level in levels)


class GateSubject(BaseModel):
    """What the gate must know of the model itself: its risk level and the card's groups."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    risk_level: RiskLevel
    # The groups the version's card reports performance for; None when it has no card at all,
    # which declares nothing, so it can never make the fairness check not applicable.
    declared_groups: tuple[str, ...] | None = ()

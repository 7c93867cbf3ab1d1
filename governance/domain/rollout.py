"""Endpoints and their routing: the spec, sticky assignment, flags, canary and blue/green.

A RoutingSpec is immutable; every change makes the next spec version. `route` is the one
routing decision the gateway, the OpenFeature provider and the tests all share:
flags first (TARGETING_MATCH), then an A/B split, then a canary (both SPLIT), else the
stable version (STATIC).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from itertools import pairwise
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from governance.domain.errors import InvalidInput

BUCKETS = 10_000
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_STRICT = ConfigDict(frozen=True, extra="forbid")
Slot = Literal["blue", "green"]
Percent = Annotated[int, Field(ge=0, le=100)]


class RoutingRefused(InvalidInput):
    """A routing change that the rules forbid (bad weights, unknown slot, flag target...)."""


def check_endpoint_name(name: str) -> str:
    """Endpoint names are URL path segments: lower-case letters, digits, '.', '_' and '-'."""
    if not _NAME.match(name or ""):
        raise InvalidInput(
            f"invalid endpoint name {name!r}: use 1-64 lower-case letters, digits, '.', '_', '-'"
        )
    return name


# --- assignment -------------------------------------------------------------------------


def fnv1a32(text: str) -> int:
    """32-bit FNV-1a over the code points of `text`, as GrowthBook's SDKs compute it."""
    value = 0x811C9DC5
    for char in text:
        value = ((value ^ ord(char)) * 0x01000193) & 0xFFFFFFFF
    return value


def bucket(seed: str, key: str) -> int:
    """GrowthBook's v2 hash of (seed, key) as one of 10,000 buckets (0..9999).

    The second pass over the decimal digits of the first decorrelates seeds that share a
    prefix, so two experiments on one endpoint do not put the same users together.
    """
    return fnv1a32(str(fnv1a32(seed + key))) % BUCKETS


def in_percent(seed: str, key: str, percent: float) -> tuple[bool, int]:
    """Whether `key` falls in the first `percent`% of buckets for `seed`, and its bucket."""
    b = bucket(seed, key)
    return b < round(percent * BUCKETS / 100), b


# --- the spec ----------------------------------------------------------------------------


class FlagRule(BaseModel):
    """Send requests matching every given criterion to `version` (criteria are ANDed)."""

    model_config = _STRICT

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    version: str
    user_ids: list[str] = Field(default_factory=list)
    org_ids: list[str] = Field(default_factory=list)
    attributes: dict[str, str] = Field(default_factory=dict)
    percentage: float | None = Field(default=None, gt=0, le=100)

    @model_validator(mode="after")
    def _has_a_criterion(self) -> FlagRule:
        if not (self.user_ids or self.org_ids or self.attributes or self.percentage):
            raise ValueError(
                f"flag {self.name!r} needs a criterion: user ids, org ids, attributes or a "
                "percentage"
            )
        return self

    def matches(self, seed: str, key: str, attrs: dict[str, str]) -> bool:
        """Whether a request with targeting key `key` and attributes `attrs` matches."""
        if self.user_ids and key not in self.user_ids:
            return False
        if self.org_ids and str(attrs.get("org_id", "")) not in self.org_ids:
            return False
        if any(str(attrs.get(k)) != v for k, v in self.attributes.items()):
            return False
        if self.percentage is not None:
            return in_percent(f"{seed}:flag:{self.name}", key, self.percentage)[0]
        return True


class ABSplit(BaseModel):
    """A running experiment: variant name -> version, and each variant's share of traffic."""

    model_config = _STRICT

    experiment_id: str
    variants: dict[str, str] = Field(min_length=2)
    weights: dict[str, Percent]

    @model_validator(mode="after")
    def _weights_cover_variants(self) -> ABSplit:
        if set(self.weights) != set(self.variants):
            raise ValueError(f"split names {sorted(self.weights)} differ from the variants")
        if sum(self.weights.values()) != 100:
            raise ValueError(f"split weights must add up to 100, got {self.weights}")
        return self


class RoutingSpec(BaseModel):
    """Where an endpoint's traffic goes: stable, canary, blue/green slots, flags, A/B split."""

    model_config = _STRICT

    stable: str | None = None
    canary: str | None = None
    canary_weight: Percent = 0
    slots: dict[Slot, str | None] = Field(default_factory=lambda: {"blue": None, "green": None})
    active_slot: Slot | None = None
    flags: list[FlagRule] = Field(default_factory=list)
    ab: ABSplit | None = None

    @model_validator(mode="after")
    def _consistent(self) -> RoutingSpec:
        if (self.canary is None) != (self.canary_weight == 0):
            raise ValueError("a canary needs a weight above 0, and a weight needs a canary")
        if self.canary is not None and self.canary == self.stable:
            raise ValueError(f"the canary {self.canary} is already the stable version")
        if self.active_slot is not None and self.slots.get(self.active_slot) != self.stable:
            raise ValueError("the active blue/green slot must hold the stable version")
        if len({f.name for f in self.flags}) != len(self.flags):
            raise ValueError("flag names must be unique")
        return self

    def versions(self) -> dict[str, int]:
        """Every version that can serve, with its share of unflagged traffic in percent."""
        shares: dict[str, int] = {}
        if self.ab is not None:
            for variant, version in self.ab.variants.items():
                shares[version] = shares.get(version, 0) + self.ab.weights[variant]
        elif self.stable is not None:
            shares[self.stable] = 100 - self.canary_weight
            if self.canary is not None:
                shares[self.canary] = self.canary_weight
        for rule in self.flags:
            shares.setdefault(rule.version, 0)
        for held in self.slots.values():
            if held is not None:
                shares.setdefault(held, 0)
        return shares

    def idle_slot(self) -> Slot:
        """The blue/green slot not taking traffic (blue when none is active yet)."""
        return "green" if self.active_slot == "blue" else "blue"

    def digest(self) -> str:
        """SHA-256 of the canonical JSON of the spec, as recorded in its audit event."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


class Reason(StrEnum):
    """Why a request went where it went, in OpenFeature's vocabulary."""

    targeting_match = "TARGETING_MATCH"
    split = "SPLIT"
    static = "STATIC"


@dataclass(frozen=True, slots=True)
class Decision:
    """One routing decision: the version, the variant that names it, the bucket and why."""

    version: str
    variant: str
    bucket: int
    reason: Reason


class NoRoute(InvalidInput):
    """The endpoint has no version to serve yet."""


def route(
    endpoint: str, seed: str, spec: RoutingSpec, key: str, attrs: dict[str, str] | None = None
) -> Decision:
    """The version that serves targeting key `key` with attributes `attrs` under `spec`."""
    attrs = attrs or {}
    base = bucket(seed, key)
    for rule in spec.flags:
        if rule.matches(seed, key, attrs):
            return Decision(rule.version, f"flag:{rule.name}", base, Reason.targeting_match)
    if spec.ab is not None:
        b = bucket(f"{seed}:ab:{spec.ab.experiment_id}", key)
        edge = 0
        for variant in sorted(spec.ab.variants):
            edge += spec.ab.weights[variant] * BUCKETS // 100
            if b < edge:
                return Decision(spec.ab.variants[variant], variant, b, Reason.split)
    if spec.canary is not None:
        hit, b = in_percent(f"{seed}:canary:{spec.canary}", key, spec.canary_weight)
        if hit:
            return Decision(spec.canary, "canary", b, Reason.split)
    if spec.stable is None:
        raise NoRoute(f"endpoint {endpoint!r} has no production version to serve yet")
    return Decision(spec.stable, spec.active_slot or "stable", base, Reason.static)


# --- stored specs and rollouts ------------------------------------------------------------


class Endpoint(BaseModel):
    """A named endpoint bound to one model, with the seed its assignments hash with."""

    model_config = _STRICT

    name: str
    model_name: str
    seed: str
    created_at: datetime
    created_by: str


class SpecVersion(BaseModel):
    """One stored version of an endpoint's routing, who made it, when and why."""

    model_config = _STRICT

    id: int
    endpoint: str
    number: int
    spec: RoutingSpec
    actor: str
    reason: str
    created_at: datetime
    # The MAC written with the spec (None on specs written before migration 0007).
    mac: str | None = None


class RolloutStatus(StrEnum):
    """Where a rollout is: moving, waiting for a human, or ended one way or another."""

    running = "running"
    holding = "holding"
    completed = "completed"
    rolled_back = "rolled_back"
    abandoned = "abandoned"


ACTIVE_ROLLOUT = (RolloutStatus.running, RolloutStatus.holding)


class Rollout(BaseModel):
    """One promotion's progress through its strategy; a re-run resumes from here."""

    model_config = ConfigDict(extra="forbid")

    id: str
    endpoint: str
    model_name: str
    version: str
    strategy: Literal["canary", "blue_green"]
    request_id: str
    flow_run_id: str
    steps: list[int]
    bake_seconds: float
    step_index: int = 0
    step_started_at: datetime
    extensions: int = 0
    status: RolloutStatus = RolloutStatus.running
    heartbeat_at: datetime
    verdicts: list[dict] = Field(default_factory=list)
    # The stable version when the rollout began: blue/green scales down only its slot.
    replaced: str | None = None
    # Blue/green: set once the old slot has been emptied after the scale-down delay.
    scaled_down: bool = False

    @property
    def weight(self) -> int:
        """The canary weight of the current step."""
        return self.steps[self.step_index]


def check_steps(steps: list[int]) -> list[int]:
    """Canary weights climb strictly, each in 1..100, and end at 100."""
    if not steps:
        raise RoutingRefused("a canary plan needs at least one weight step")
    if any(not 0 < s <= 100 for s in steps) or any(b <= a for a, b in pairwise(steps)):
        raise RoutingRefused(f"canary weights must climb strictly within 1..100, got {steps}")
    if steps[-1] != 100:
        raise RoutingRefused(f"canary weights must end at 100 (full traffic), got {steps}")
    return steps

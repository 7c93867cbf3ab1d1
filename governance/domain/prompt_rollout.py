"""A prompt canary: which variant a targeting key gets while the candidate bakes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from governance.domain.rollout import bucket

CANDIDATE, STABLE = "candidate", "stable"


class PromptRolloutStatus(StrEnum):
    """Where a prompt canary is."""

    running = "running"
    completed = "completed"
    rolled_back = "rolled_back"


class PromptRollout(BaseModel):
    """One prompt promotion's canary: the weight steps, where it is, and each verdict."""

    model_config = ConfigDict(extra="forbid")

    id: str
    prompt_id: str
    candidate_version: str
    stable_version: str
    request_id: str
    steps: list[int]
    step_index: int = 0
    seed: str
    status: PromptRolloutStatus = PromptRolloutStatus.running
    verdicts: list[dict] = Field(default_factory=list)
    started_at: datetime
    updated_at: datetime

    @property
    def weight(self) -> int:
        """The candidate's share of targeting keys, in percent, at the current step."""
        return self.steps[self.step_index]


def variant_for(rollout: PromptRollout | None, targeting_key: str) -> str:
    """`candidate` for keys whose bucket falls in the canary's weight, else `stable` (sticky)."""
    if rollout is None or rollout.status != PromptRolloutStatus.running:
        return STABLE
    # Buckets 0..9999: a key stays in the candidate's share as the weight only grows.
    return CANDIDATE if bucket(rollout.seed, targeting_key) < rollout.weight * 100 else STABLE

"""A/B experiments as recorded: the split, the stopping rule, who started one and how it ended."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

RUNNING = "running"


@dataclass(frozen=True)
class Experiment:
    """One A/B experiment: its split, its stopping rule, who started it and how it ended."""

    id: str
    endpoint: str
    variants: dict[str, str]
    weights: dict[str, int]
    until_samples: int | None
    until_at: datetime | None
    status: str
    started_by: str
    started_at: datetime
    ended_at: datetime | None
    flow_run_id: str | None
    result: dict[str, Any] | None

    @property
    def running(self) -> bool:
        """Whether the experiment still splits traffic."""
        return self.status == RUNNING

"""Logged predictions as the canary and A/B analyses read them: each with its outcome, if any."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Observation:
    """One logged prediction with its outcome, if one was recorded."""

    id: str
    version: str
    variant: str
    status: str
    latency_ms: float
    output: Any
    label: Any
    metrics: dict[str, float] | None

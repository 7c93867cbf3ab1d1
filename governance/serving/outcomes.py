"""Outcomes are recorded once: a retry of the same outcome is harmless, a different one is refused.

The first outcome recorded for a prediction is what accuracy, canary analysis and A/B
reports count; letting a later post replace it would let anyone who can reach the gateway
rewrite the evidence those decisions rest on.
"""

from __future__ import annotations

import json
from typing import Any

from governance.domain.errors import Conflict
from governance.serving.oip import OutcomeRequest
from governance.store.predictions import StoredOutcome


class OutcomeConflict(Conflict):
    """A prediction already has an outcome, and this one differs from it."""


def _same(a: Any, b: Any) -> bool:
    # JSON text, not ==: in Python True == 1 == 1.0, but a label true is not a label 1.
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def check_same_outcome(pid: str, earlier: StoredOutcome, outcome: OutcomeRequest) -> None:
    """Nothing if `outcome` repeats the recorded one; OutcomeConflict naming both otherwise."""
    if _same(earlier.label, outcome.label) and _same(earlier.metrics, outcome.metrics):
        return
    raise OutcomeConflict(
        f"prediction {pid} already has an outcome (label {json.dumps(earlier.label)},"
        f" metrics {json.dumps(earlier.metrics, sort_keys=True)}, recorded at"
        f" {earlier.recorded_at.isoformat()}); the first outcome recorded stands,"
        f" so this different one (label {json.dumps(outcome.label)}, metrics"
        f" {json.dumps(outcome.metrics, sort_keys=True)}) is refused"
    )

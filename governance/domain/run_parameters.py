"""A flow run's parameters as submitted: their digest, and what changed since.

Anyone with Prefect API access can PATCH a suspended run's parameters, and the run executes
again from the top with them after the next resume. What was submitted is therefore bound
to the request token and to the approval request, and every execution compares.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from governance.domain.errors import ParametersChanged


def parameters_digest(parameters: Mapping[str, Any]) -> str:
    """sha256 hex of the canonical JSON (sorted keys, compact) of the parameters."""
    text = json.dumps(dict(parameters), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def changed_parameters(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """The names whose values differ between the two (present in either), sorted."""
    return sorted(k for k in {*recorded, *current} if recorded.get(k) != current.get(k))


def check_unchanged(recorded: Mapping[str, Any], current: Mapping[str, Any], what: str) -> None:
    """ParametersChanged naming each parameter (was, now) unless the two are equal."""
    changed = changed_parameters(recorded, current)
    if not changed:
        return
    detail = "; ".join(f"{k} was {recorded.get(k)!r}, now {current.get(k)!r}" for k in changed)
    raise ParametersChanged(
        f"approvals void: the run's parameter {', '.join(changed)} changed since {what} ({detail})"
    )

"""A flow run's parameters as the Prefect API holds them now, in the form a request binds.

Anyone with API access can change a suspended run's parameters; the run then executes
again from the top with them. The flow reads them back from the API (not from its own
arguments) and compares them with what was submitted.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

from prefect import Flow
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext

# The request token vouches for the other parameters; it cannot be bound into itself.
UNBOUND = frozenset({"request_token"})


def governed(flow: Flow, parameters: dict[str, Any]) -> dict[str, Any]:
    """Every parameter of `flow` (defaults filled in) except the token, as JSON values."""
    signature = inspect.signature(flow.fn)
    values = {
        name: p.default
        for name, p in signature.parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    values.update(parameters)
    bound = {k: v for k, v in values.items() if k not in UNBOUND}
    # The API stores JSON: compare in the form it hands back.
    return json.loads(json.dumps(bound, default=str))


def current(flow: Flow) -> dict[str, Any]:
    """The running flow run's parameters as the API holds them now."""
    run_id = FlowRunContext.get().flow_run.id
    with get_client(sync_client=True) as client:
        stored = client.read_flow_run(run_id).parameters
    return governed(flow, stored)

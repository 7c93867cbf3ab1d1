"""The request-approval building block: one pause per missing role until the request closes.

Reused by every flow that needs humans to sign off (models now; prompts and retirement
reviews later). Refused input is recorded by the service and the run pauses again.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.states import Running
from pydantic import Field

from governance.bootstrap import Governance
from governance.domain.approvals import ApprovalRequest, RequestStatus, missing_roles
from governance.domain.errors import ApprovalError
from governance.services import approvals

PAUSE_KEY_PREFIX = "approval"


class ApprovalInput(RunInput):
    """The resume form: who decides, in which role, and what."""

    approver: str = Field(description="Your name exactly as it appears in the roster.")
    role: Literal["ml_engineer", "ml_lead", "risk_officer", "legal"] = Field(
        description="The role you are deciding in (you must hold it in the roster)."
    )
    decision: Literal["approve", "reject"] = Field(description="Approve, or reject the request.")
    notes: str = Field(default="", description="Why (recorded in the audit trail).")


def pause_key(request_id: str, role: str, round_no: int) -> str:
    """A key unique per request, role and round: Prefect silently skips a reused key."""
    # Prefect accepts only lower-case letters, digits and dashes in input keys.
    return f"{PAUSE_KEY_PREFIX}-{request_id}-{role.replace('_', '-')}-{round_no}"


def request_id_from_key(key: str | None) -> str | None:
    """The approval request id encoded in a pause key, or None for other pauses."""
    if not key or not key.startswith(PAUSE_KEY_PREFIX + "-"):
        return None
    return key[len(PAUSE_KEY_PREFIX) + 1 : len(PAUSE_KEY_PREFIX) + 37]


@task(name="record-decision", cache_policy=NO_CACHE)
def record_decision(
    gov: Governance, request_id: str, answer: ApprovalInput
) -> tuple[ApprovalRequest, str]:
    """Record one decision; a refused one comes back as its reason (already recorded)."""
    try:
        decided = approvals.decide(
            gov,
            request_id=request_id,
            approver=answer.approver.strip(),
            role=answer.role,
            decision=answer.decision,
            notes=answer.notes,
            now=datetime.now(UTC),
        )
    except ApprovalError as exc:
        get_run_logger().warning("refused: %s", exc)
        return approvals.get_request(gov, request_id), str(exc)
    return decided, ""


def _back_to_running() -> None:
    # After a pause times out the server refuses any state but its own generic Failed;
    # moving the run back to Running first lets the flow end in the named state Expired.
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(FlowRunContext.get().flow_run.id, Running(), force=True)


def request_approval(
    gov: Governance,
    request: ApprovalRequest,
    form: Callable[[ApprovalRequest, str], str],
    *,
    poll_seconds: float,
    timeout_seconds: float | None = None,
) -> ApprovalRequest:
    """Pause once per missing role until the request is approved, rejected or expired."""
    deadline = request.expires_at.timestamp()
    if timeout_seconds is not None:
        deadline = min(deadline, datetime.now(UTC).timestamp() + timeout_seconds)
    refusal, round_no = "", 0
    while request.status == RequestStatus.open:
        remaining = deadline - datetime.now(UTC).timestamp()
        if remaining <= 0:
            return approvals.expire_request(gov, request.id, datetime.now(UTC))
        role = next(iter(missing_roles(request)))
        round_no += 1
        wanted = ApprovalInput.with_initial_data(description=form(request, refusal), role=role)
        try:
            answer = pause_flow_run(
                wait_for_input=wanted,
                timeout=math.ceil(remaining),
                poll_interval=poll_seconds,
                key=pause_key(request.id, role, round_no),
            )
        except FlowPauseTimeout:
            _back_to_running()
            return approvals.expire_request(gov, request.id, datetime.now(UTC))
        request, refusal = record_decision(gov, request.id, answer)
    return request

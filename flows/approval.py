"""The request-approval building block: one suspend per missing role until the request closes.

Waits use `suspend_flow_run`: no process is held while people decide, and the flow runs
again from the top after each resume. Keys are derived from what is recorded (the request
id and how many answers it has had), so a re-executed run meets the same suspend, gets
the answer it was resumed with, and records it exactly once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

import httpx
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext
from prefect.flow_runs import suspend_flow_run
from prefect.input import RunInput, keyset_from_paused_state
from prefect.states import Suspended
from pydantic import Field

from governance.bootstrap import Governance
from governance.domain.approvals import ApprovalRequest, RequestStatus, missing_roles
from governance.domain.errors import ApprovalError, IdentityError, InvalidInput
from governance.domain.identity import CODE_PATTERN, MAX_NAME, NAME_PATTERN
from governance.services.promotion import approval_queue, approval_requests, decisions
from governance.services.trust import spent_codes

PAUSE_KEY_PREFIX = "approval"


class UnverifiedApprovalInput(RunInput):
    """The resume form under `identity: none`: who decides, in which role, and what."""

    approver: str = Field(
        title="Approver",
        min_length=1,
        max_length=MAX_NAME,
        pattern=NAME_PATTERN,
        description="Your name as it appears in the roster.",
    )
    role: Literal["ml_engineer", "ml_lead", "risk_officer", "legal"] = Field(
        title="Role", description="The role you are deciding in (you must hold it in the roster)."
    )
    decision: Literal["approve", "reject"] = Field(
        title="Decision", description="Approve, or reject the request."
    )
    notes: str = Field(
        default="", title="Notes", max_length=4000, description="Why (recorded in the audit trail)."
    )


class ApprovalInput(UnverifiedApprovalInput):
    """The resume form: the decision plus the approver's one-time code (required)."""

    code: str = Field(
        title="One-time code",
        pattern=CODE_PATTERN,
        description="The 6-digit code your authenticator app shows now (each is accepted once).",
    )


def input_for(request: ApprovalRequest) -> type[UnverifiedApprovalInput]:
    """The form a request's approvers fill: with a one-time code unless identities are off."""
    return UnverifiedApprovalInput if request.identity == "none" else ApprovalInput


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
    gov: Governance, request_id: str, answer: UnverifiedApprovalInput
) -> tuple[ApprovalRequest, str]:
    """Record one decision; a refused one comes back as its reason (already recorded)."""
    asked = answer.model_dump(include={"approver", "role", "decision", "notes"})
    before = approval_queue.answers(gov, request_id)
    try:
        decided = decisions.decide(
            gov,
            request_id=request_id,
            **asked,
            code=getattr(answer, "code", ""),
            now=_now(),
        )
    except (ApprovalError, IdentityError, InvalidInput) as exc:
        get_run_logger().warning("refused: %s", exc)
        # The code sat in the run input, readable through the API: spend it even so.
        spent_codes.spend_code(gov, answer.approver, getattr(answer, "code", ""), now=_now())
        if approval_queue.answers(gov, request_id) == before:
            # Malformed input is refused without a record; this run records it so that
            # its next round has a new key instead of meeting this answer again.
            decisions.refuse_malformed(gov, request_id, asked, exc, datetime.now(UTC))
        return approval_requests.get_request(gov, request_id), str(exc)
    return decided, ""


def request_approval(
    gov: Governance,
    request: ApprovalRequest,
    form: Callable[[ApprovalRequest, str], str],
) -> ApprovalRequest:
    """Suspend once per missing role until the request is approved, rejected or expired."""
    refusal = approval_queue.last_refusal(gov, request.id)
    while request.status == RequestStatus.open:
        if datetime.now(UTC) >= request.expires_at:
            return approval_queue.expire_request(gov, request.id, datetime.now(UTC))
        role = next(iter(missing_roles(request)))
        round_no = approval_queue.answers(gov, request.id)
        wanted = input_for(request).with_initial_data(description=form(request, refusal), role=role)
        key = pause_key(request.id, role, round_no)
        answer = suspend_flow_run(wait_for_input=wanted, key=key)
        request, refusal = record_decision(gov, request.id, answer)
        forget_answer(key)
    return request


def _now() -> datetime:
    return datetime.now(UTC)


def answer_key(key: str) -> str:
    """The run-input key under which Prefect keeps the answer to the suspend with `key`."""
    return keyset_from_paused_state(Suspended(pause_key=key))["response"]


def forget_answer(key: str) -> None:
    """Delete a recorded answer (and the code in it) from the run's input in the Prefect API.

    Only after it is recorded: a run killed before recording meets the same suspend again
    and needs the answer once more. Its round is then past, so it is never read again.
    """
    run_id = FlowRunContext.get().flow_run.id
    with get_client(sync_client=True) as client:
        try:
            client.delete_flow_run_input(run_id, answer_key(key))
        except httpx.HTTPStatusError as exc:
            # Already gone if an earlier execution died just after deleting it.
            if exc.response.status_code != 404:
                raise


def spend_unread_answers(gov: Governance) -> int:
    """Spend the code in every answer this run will never read, and delete the answers.

    A run that ends early (voided, failed a precondition) may have been resumed with an
    answer it never recorded; left in the run input, its code would stay readable and good.
    """
    run_id = FlowRunContext.get().flow_run.id
    with get_client(sync_client=True) as client:
        answers = [
            item
            for item in client.filter_flow_run_input(run_id, "suspended-", 1000, set())
            if item.key.endswith("-response")
        ]
        for item in answers:
            value = item.decoded_value if isinstance(item.decoded_value, dict) else {}
            code = value.get("code")
            if isinstance(code, str) and code:
                spent_codes.spend_code(gov, str(value.get("approver", "")), code, now=_now())
            client.delete_flow_run_input(run_id, item.key)
    return len(answers)

"""Submitting, finding and resuming promote-model runs through Prefect's API (CLI backend)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound
from prefect.flow_runs import resume_flow_run
from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL
from prefect.states import Failed
from pydantic import ValidationError

from flows import run_parameters
from flows.approval import UnverifiedApprovalInput, input_for, request_id_from_key
from flows.promote_model import promote_model
from flows.promote_prompt import promote_prompt
from governance.bootstrap import Governance
from governance.domain import errors
from governance.domain.approvals import ApprovalRequest, missing_roles
from governance.domain.errors import ApprovalError, InvalidInput, NotFound, NotPaused
from governance.domain.identity import VerifiedActor
from governance.services.promotion import (
    approval_queue,
    approval_requests,
    preconditions,
    request_tokens,
)
from governance.services.promotion.evidence import PROMPT_TARGET
from governance.services.prompts import prompt_evaluation, prompt_promotion

DEPLOYMENT = "promote-model/promote-model"
PROMPT_DEPLOYMENT = "promote-prompt/promote-prompt"
# How long `governance approve` waits for the flow to record the decision it was sent.
RECORD_WAIT_SECONDS = 180.0


@dataclass(frozen=True)
class PausedApproval:
    """A suspended promotion run and the approval request it waits on."""

    flow_run: FlowRun
    request: ApprovalRequest
    link: str


@dataclass(frozen=True)
class Recorded:
    """What the flow recorded for one answer: accepted, or refused and why."""

    accepted: bool
    request: ApprovalRequest
    reason: str = ""


def require_server() -> None:
    """Refuse to fall back to a throwaway in-process server: approvals live on a real one."""
    if not PREFECT_API_URL.value():
        raise NotFound(
            "PREFECT_API_URL is not set: start the stack with `make up` and export what it prints"
        )


def ui_link(flow_run_id: UUID | str) -> str:
    """The Prefect UI page of a flow run."""
    base = (PREFECT_UI_URL.value() or "").rstrip("/")
    return f"{base}/runs/flow-run/{flow_run_id}" if base else str(flow_run_id)


def submit_promotion(
    gov: Governance, actor: VerifiedActor, parameters: dict, *, now: datetime
) -> FlowRun:
    """Check what can be checked here, mint the requester's token, create the run at once.

    The token binds the run's parameters: a run whose parameters differ is not vouched for.
    """
    require_server()
    # A canary or blue/green that cannot start is refused before anyone is asked to approve.
    _, endpoint = preconditions.check_submission(
        gov,
        model=parameters["model"],
        version=parameters["version"],
        target=parameters["target"],
        strategy=parameters.get("strategy", "direct"),
        endpoint=parameters.get("endpoint"),
        now=now,
    )
    parameters = {**parameters, "endpoint": endpoint, "requested_by": actor.name}
    token = request_tokens.mint_request_token(
        gov,
        actor,
        model=parameters["model"],
        version=parameters["version"],
        target=parameters["target"],
        now=now,
        parameters=run_parameters.governed(promote_model, parameters),
    )
    try:
        return run_deployment(
            DEPLOYMENT,
            parameters={**parameters, "request_token": token},
            timeout=0,
        )
    except ObjectNotFound:
        raise NotFound(
            f"deployment {DEPLOYMENT} not found on the Prefect server: start it with `make up`"
        ) from None


def submit_prompt_promotion(
    gov: Governance, actor: VerifiedActor, parameters: dict, *, now: datetime
) -> FlowRun:
    """Check the prompt, suite and target here, mint the requester's token, create the run."""
    require_server()
    prompt_id, version = parameters["prompt_id"], parameters["version"]
    prompt_promotion.check_preconditions(
        gov, prompt_id=prompt_id, version=version, suite=parameters["suite"]
    )
    prompt_evaluation.resolve_target(gov, parameters.get("target"), parameters.get("llm_model"))
    parameters = {**parameters, "requested_by": actor.name}
    token = request_tokens.mint_request_token(
        gov,
        actor,
        model=prompt_promotion.token_subject(prompt_id),
        version=version,
        target=PROMPT_TARGET,
        now=now,
        parameters=run_parameters.governed(promote_prompt, parameters),
    )
    try:
        return run_deployment(
            PROMPT_DEPLOYMENT,
            parameters={**parameters, "request_token": token},
            timeout=0,
        )
    except ObjectNotFound:
        raise NotFound(
            f"deployment {PROMPT_DEPLOYMENT} not found on the Prefect server: start it with "
            "`make up`"
        ) from None


def wait_for_end(flow_run_id: UUID, poll_seconds: float = 1.0) -> FlowRun:
    """Block until the run reaches a final state."""
    with get_client(sync_client=True) as client:
        while True:
            run = client.read_flow_run(flow_run_id)
            if run.state and run.state.is_final():
                return run
            time.sleep(poll_seconds)


def expire_overdue(gov: Governance, now: datetime) -> list[ApprovalRequest]:
    """Expire model, prompt and retirement requests past their deadline; end their
    suspended runs as Expired."""
    expired = approval_queue.expire_overdue(gov, now)
    with get_client(sync_client=True) as client:
        for request in expired:
            end_expired_run(client, request)
    return expired


def end_expired_run(client, request: ApprovalRequest) -> None:
    """Set the suspended run that waited on an expired request to Expired (if it still waits)."""
    try:
        run_id = UUID(request.flow_run_id or "")
        state = client.read_flow_run(run_id).state
    except (ValueError, ObjectNotFound):
        return  # opened outside a flow run, or its run is gone: nothing waits on it
    if state and state.is_paused():
        message = f"{request.model_name}@{request.version}: approvals not given in time"
        client.set_flow_run_state(run_id, Failed(name="Expired", message=message), force=True)


def paused_approvals(gov: Governance) -> list[PausedApproval]:
    """Every suspended run that waits on an open approval request, oldest first."""
    require_server()
    expire_overdue(gov, datetime.now(UTC))
    state = FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(state=state))
    found = []
    for run in sorted(runs, key=lambda r: r.created or datetime.now(UTC)):
        request_id = request_id_from_key(run.state.state_details.pause_key)
        if request_id:
            found.append(
                PausedApproval(run, approval_requests.get_request(gov, request_id), ui_link(run.id))
            )
    return found


def _paused_request(gov: Governance, flow_run_id: str) -> tuple[UUID, ApprovalRequest]:
    require_server()
    try:
        run_id = UUID(flow_run_id)
    except ValueError:
        raise InvalidInput(f"{flow_run_id!r} is not a flow run id") from None
    with get_client(sync_client=True) as client:
        try:
            run = client.read_flow_run(run_id)
        except ObjectNotFound:
            raise NotFound(f"no flow run {flow_run_id}") from None
    if not (run.state and run.state.is_paused()):
        state = run.state.name if run.state else "unknown"
        raise NotPaused(f"flow run {flow_run_id} is {state}, not waiting for an approval")
    request_id = request_id_from_key(run.state.state_details.pause_key)
    if request_id is None:
        raise NotPaused(f"flow run {flow_run_id} is paused, but not for an approval")
    return run_id, approval_requests.get_request(gov, request_id)


def _answer(request: ApprovalRequest, **fields: str) -> UnverifiedApprovalInput:
    """The form input as the server would validate it; InvalidInput naming the bad field."""
    form = input_for(request)
    if form is UnverifiedApprovalInput:
        fields.pop("code", None)
    try:
        return form(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["loc"][0] == "code":
            raise InvalidInput(
                "a one-time code is required: --code with the 6 digits your authenticator shows"
            ) from None
        raise InvalidInput(f"{first['loc'][0]}: {first['msg']}") from None


def resume_with_decision(
    gov: Governance,
    flow_run_id: str,
    *,
    approver: str,
    role: str,
    decision: str,
    notes: str,
    code: str,
    wait_seconds: float = RECORD_WAIT_SECONDS,
) -> Recorded:
    """Resume the run with the decision, then wait until the flow has recorded it.

    The flow alone records answers (accepted or refused), so the run's rounds stay in step
    with what is recorded; this returns what it recorded.
    """
    run_id, request = _paused_request(gov, flow_run_id)
    answer = _answer(
        request, approver=approver, role=role, decision=decision, notes=notes, code=code
    )
    before = approval_queue.answers(gov, request.id)
    try:
        resume_flow_run(run_id, run_input=answer.model_dump())
    except RuntimeError as exc:
        raise InvalidInput(f"the Prefect server refused the input: {exc}") from None
    return _recorded(gov, request.id, before, wait_seconds)


def _recorded(gov: Governance, request_id: str, before: int, wait_seconds: float) -> Recorded:
    deadline = time.monotonic() + wait_seconds
    while approval_queue.answers(gov, request_id) <= before:
        if time.monotonic() > deadline:
            raise ApprovalError(
                f"the decision was sent but not recorded within {wait_seconds:.0f} s: "
                "is the process serving promote-model running (`make up`)?"
            )
        time.sleep(0.2)
    reason = approval_queue.last_refusal(gov, request_id)
    return Recorded(not reason, approval_requests.get_request(gov, request_id), reason)


def raise_refusal(recorded: Recorded, gov: Governance) -> None:
    """Raise the recorded refusal as its own error type, so the CLI exits non-zero."""
    attempt = approval_requests.refused_attempts(gov, recorded.request.id)[-1]
    kind = getattr(errors, attempt.error, ApprovalError)
    if not (isinstance(kind, type) and issubclass(kind, errors.GovernanceError)):
        kind = ApprovalError
    try:
        refusal = kind(f"refused: {attempt.reason}")
    except TypeError:  # an error type whose constructor takes structured arguments
        refusal = ApprovalError(f"refused: {attempt.reason}")
    raise refusal


def waiting_roles(request: ApprovalRequest) -> str:
    """Roles a request still needs, as text."""
    return ", ".join(
        f"{role}" + (f" x{n}" if n > 1 else "") for role, n in missing_roles(request).items()
    )

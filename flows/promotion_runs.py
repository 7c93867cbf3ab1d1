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

from flows.approval import ApprovalInput, request_id_from_key
from governance.bootstrap import Governance
from governance.domain.approvals import ApprovalRequest, missing_roles
from governance.domain.errors import ApprovalError, InvalidInput, NotFound, NotPaused
from governance.services import approvals

DEPLOYMENT = "promote-model/promote-model"


@dataclass(frozen=True)
class PausedApproval:
    """A paused promotion run and the approval request it waits on."""

    flow_run: FlowRun
    request: ApprovalRequest
    link: str


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


def submit_promotion(parameters: dict) -> FlowRun:
    """Create a promote-model run on the deployment and return at once."""
    require_server()
    try:
        return run_deployment(DEPLOYMENT, parameters=parameters, timeout=0)
    except ObjectNotFound:
        raise NotFound(
            f"deployment {DEPLOYMENT} not found on the Prefect server: start it with `make up`"
        ) from None


def wait_for_end(flow_run_id: UUID, poll_seconds: float = 1.0) -> FlowRun:
    """Block until the run reaches a final state."""
    with get_client(sync_client=True) as client:
        while True:
            run = client.read_flow_run(flow_run_id)
            if run.state and run.state.is_final():
                return run
            time.sleep(poll_seconds)


def paused_approvals(gov: Governance) -> list[PausedApproval]:
    """Every paused run that waits on an open approval request, oldest first."""
    require_server()
    state = FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(state=state))
    found = []
    for run in sorted(runs, key=lambda r: r.created or datetime.now(UTC)):
        request_id = request_id_from_key(run.state.state_details.pause_key)
        if request_id:
            found.append(
                PausedApproval(run, approvals.get_request(gov, request_id), ui_link(run.id))
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
        raise NotPaused(f"flow run {flow_run_id} is {state}, not paused for an approval")
    request_id = request_id_from_key(run.state.state_details.pause_key)
    if request_id is None:
        raise NotPaused(f"flow run {flow_run_id} is paused, but not for an approval")
    return run_id, approvals.get_request(gov, request_id)


def resume_with_decision(
    gov: Governance, flow_run_id: str, *, approver: str, role: str, decision: str, notes: str
) -> ApprovalRequest:
    """Validate like the flow would, then resume the run with the decision as its input."""
    run_id, request = _paused_request(gov, flow_run_id)
    answer = ApprovalInput(approver=approver, role=role, decision=decision, notes=notes)
    now = datetime.now(UTC)
    try:
        approvals.check_decision_only(
            gov, request_id=request.id, approver=approver, role=role, decision=decision, now=now
        )
    except ApprovalError:
        # Recorded and audited exactly as a refused form would be; the run keeps waiting.
        approvals.decide(
            gov,
            request_id=request.id,
            approver=approver,
            role=role,
            decision=decision,
            notes=notes,
            now=now,
        )
        raise
    resume_flow_run(run_id, run_input=answer.model_dump())
    return request


def waiting_roles(request: ApprovalRequest) -> str:
    """Roles a request still needs, as text."""
    return ", ".join(
        f"{role}" + (f" x{n}" if n > 1 else "") for role, n in missing_roles(request).items()
    )

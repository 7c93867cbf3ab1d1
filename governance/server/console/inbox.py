"""The approvals inbox: `GET /inbox`, and answering a request from it.

An answer goes exactly where `governance approve` sends it: a run's answer resumes the
Prefect run through `flows.promotion_runs.resume_with_decision` (the flow checks the code
and the rules, and records the answer or the refusal), a retro-review's goes to
`decisions.decide`. The viewer is always the approver.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from flows import promotion_runs
from governance.bootstrap import Governance
from governance.domain.approvals import ApprovalRequest, RequestStatus, missing_roles
from governance.domain.errors import GovernanceError, InvalidInput, NotFound
from governance.domain.identity import VerifiedActor
from governance.server.console import inbox_view, web_session
from governance.server.console.csrf import require_csrf
from governance.server.console.forms import form_fields
from governance.server.console.render import render
from governance.server.console.web_session import gov_of, roles_of, viewer
from governance.server.errors import Forbidden, status_for
from governance.services.promotion import approval_requests, decisions

router = APIRouter(include_in_schema=False)

DECISIONS = ("approve", "reject")


@router.get("/inbox")
async def inbox(
    request: Request, answered: str = "", actor: VerifiedActor = Depends(viewer)
) -> HTMLResponse:
    """What waits for the viewer's roles, with its evidence, and what the viewer asked for."""
    return await run_in_threadpool(_page, request, actor, answered=answered)


def _page(
    request: Request,
    actor: VerifiedActor,
    *,
    answered: str = "",
    error_for: str = "",
    error: str = "",
    status: int = 200,
    typed: dict[str, str] | None = None,
) -> HTMLResponse:
    gov = gov_of(request)
    roles = roles_of(request, actor)
    box = inbox_view.inbox_of(gov, actor, roles, web_session.now())
    refused_ref = ""
    for view in box.waiting:
        if view.request.id == error_for:
            view.error = error
            refused_ref = view.ref
    return render(
        request,
        "inbox.html.j2",
        status=status,
        inbox=box,
        notice=_notice(gov, answered, actor) if answered else "",
        error_for=error_for,
        error=error,
        refused_ref=refused_ref,
        typed=typed or {},
    )


def _notice(gov: Governance, request_id: str, actor: VerifiedActor) -> str:
    """What the viewer's last answer on a request recorded (read back from the store)."""
    try:
        found = approval_requests.get_request(gov, request_id)
    except NotFound:
        return ""
    mine = [a for a in found.approvals if a.approver == actor.name]
    if not mine:
        return ""
    last = mine[-1]
    ref = f"{found.model_name}@{found.version}"
    state = found.status.value
    if found.status == RequestStatus.open:
        state += f" and still needs {inbox_view.still_needs(found)}"
    return (
        f"Recorded: {last.decision} by {last.approver} as {last.role} on {ref} "
        f"-> {found.target_stage.value}; the request is {state}."
    )


@router.post("/inbox/{request_id}/decision", dependencies=[Depends(require_csrf)])
async def decide(
    request_id: str, request: Request, actor: VerifiedActor = Depends(viewer)
) -> Response:
    """Approve or reject with a one-time code; refusals re-render the inbox naming them."""
    fields = await form_fields(request)
    gov = gov_of(request)
    found = await run_in_threadpool(approval_requests.get_request, gov, request_id)
    role = fields.get("role", "")
    _require_role(found, actor, roles_of(request, actor), role)
    typed = {"notes": fields.get("notes", ""), "role": role}
    try:
        await run_in_threadpool(
            _answer,
            gov,
            found,
            approver=actor.name,
            role=role,
            decision=fields.get("decision", ""),
            notes=fields.get("notes", ""),
            code=fields.get("code", "").strip(),
        )
    except GovernanceError as exc:
        return await run_in_threadpool(
            _page,
            request,
            actor,
            error_for=request_id,
            # The flow's refusal reads "refused: why"; the page says "refused" itself.
            error=str(exc).removeprefix("refused: "),
            status=status_for(exc),
            typed=typed,
        )
    return RedirectResponse(f"/inbox?answered={request_id}", status_code=303)


def _require_role(
    found: ApprovalRequest, actor: VerifiedActor, roles: list[str], role: str
) -> None:
    """Forbidden unless the viewer holds `role` and the request still needs it."""
    needed = missing_roles(found)
    if not set(needed) & set(roles):
        raise Forbidden(
            f"{actor.name} holds none of the roles {found.model_name}@{found.version} still "
            f"needs ({inbox_view.still_needs(found)}): the decision was refused"
        )
    if role not in roles:
        raise Forbidden(f"{actor.name} does not hold the role {role or '(none given)'}")
    if role not in needed:
        still = inbox_view.still_needs(found)
        raise InvalidInput(f"the request no longer needs {role}: it needs {still}")


def _answer(
    gov: Governance,
    found: ApprovalRequest,
    *,
    approver: str,
    role: str,
    decision: str,
    notes: str,
    code: str,
) -> ApprovalRequest:
    """The answer, sent where `governance approve` sends it; a refusal raised as its type."""
    if decision not in DECISIONS:
        raise InvalidInput(f"decision must be approve or reject, not {decision!r}")
    if found.kind == "retro_review":
        return decisions.decide(
            gov,
            request_id=found.id,
            approver=approver,
            role=role,
            decision=decision,
            notes=notes,
            code=code,
            now=web_session.now(),
        )
    if not found.flow_run_id:
        raise InvalidInput(f"no run waits on request {found.id}: it cannot be answered here")
    recorded = promotion_runs.resume_with_decision(
        gov,
        found.flow_run_id,
        approver=approver,
        role=role,
        decision=decision,
        notes=notes,
        code=code,
    )
    if not recorded.accepted:
        promotion_runs.raise_refusal(recorded, gov)
    return recorded.request

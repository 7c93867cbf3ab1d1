"""retirement-review: the approval a `retire` verdict asks for, through the same building
block as promotions (one suspend per missing role, verified one-time codes, separation of
duties). Started by retirement-audit; ends Deprecated, Rejected, Expired, Voided or
PreconditionFailed."""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow, get_run_logger
from prefect.context import FlowRunContext
from prefect.states import Completed, Failed, State

from flows import run_parameters
from flows.approval import request_approval, spend_unread_answers
from governance.bootstrap import open_governance
from governance.domain.approvals import ApprovalRequest, RequestStatus
from governance.domain.errors import EvidenceChanged, GovernanceError, ParametersChanged
from governance.domain.run_parameters import check_unchanged
from governance.reports.retirement_form import retirement_form_markdown
from governance.services.monitoring import retirement_audit, retirement_review
from governance.services.promotion import approval_queue

_ENDED = {
    RequestStatus.rejected: "Rejected",
    RequestStatus.expired: "Expired",
    RequestStatus.void: "Voided",
    RequestStatus.cancelled: "PreconditionFailed",
}


@flow(name="retirement-review", persist_result=True)
def retirement_review_flow(model: str, version: str, audit_id: str) -> State:
    """Ask the retirement roles; on approval deprecate the version and take it out of routing."""
    gov = open_governance()
    run_id = str(FlowRunContext.get().flow_run.id)
    # Read back from the API: someone may have changed them while the run was suspended.
    submitted = run_parameters.current(retirement_review_flow)
    try:
        request = retirement_review.open_review(
            gov, model=model, version=version, audit_id=audit_id, flow_run_id=run_id,
            now=_now(), run_parameters=submitted,
        )  # fmt: skip
        if request.run_parameters is not None:
            check_unchanged(request.run_parameters, submitted, "the review was opened")
        stored = approval_queue.request_for_run(gov, run_id)
        if stored is not None and stored.completed_at is not None:
            return Completed(name="Deprecated", message=f"{model}@{version} retirement carried out")
        audit = retirement_review.audit_for(gov, request)
        policy = gov.policy.retirement
        retention = retirement_review.retention_days(gov, model, version)

        def form(current: ApprovalRequest, refusal: str) -> str:
            report = (
                retirement_audit.report_path(gov, audit.report_digest)
                if audit.report_digest
                else None
            )
            return retirement_form_markdown(
                current,
                audit,
                sunset_days=policy.sunset_days,
                review_days=retention,
                report=report,
                refusal=refusal,
            )

        request = request_approval(gov, request, form)
        if request.status != RequestStatus.approved:
            return _ended(request, approval_queue.closed_reason(gov, request.id))
        done = retirement_review.carry_out(gov, request_id=request.id, now=_now())
    except ParametersChanged as exc:
        # Closed with the reason; the next audit opens a new review if the verdict stands.
        spend_unread_answers(gov)
        approval_queue.cancel_request(gov, request.id, f"Voided: {exc}", _now())
        return Failed(name="Voided", message=str(exc))
    except EvidenceChanged as exc:
        return Failed(name="Voided", message=str(exc))
    except GovernanceError as exc:
        return Failed(name="PreconditionFailed", message=str(exc))
    finally:
        gov.close()
    get_run_logger().info("%s deprecated, sunset %s", done.ref, done.sunset_at)
    return Completed(
        name="Deprecated",
        message=f"{done.ref} is {done.stage.value}"
        + (f", sunset {done.sunset_at:%Y-%m-%d}" if done.sunset_at else ""),
    )


def _ended(request: ApprovalRequest, reason: str | None) -> State:
    if request.status == RequestStatus.rejected:
        no = [a for a in request.approvals if a.decision == "reject"]
        who = "; ".join(f"{a.approver} as {a.role}: {a.notes or 'no notes'}" for a in no)
        return Failed(
            name="Rejected", message=f"{request.model_name}@{request.version} retained: {who}"
        )
    message = reason or f"{request.model_name}@{request.version}: review {request.status.value}"
    return Failed(name=_ENDED[request.status], message=message)


def _now() -> datetime:
    return datetime.now(UTC)

"""The inbox's contents: open requests as the viewer sees them, with their evidence."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL

from governance.bootstrap import Governance
from governance.domain.approvals import ApprovalRequest, missing_roles
from governance.domain.identity import VerifiedActor
from governance.server.console import evidence
from governance.services.promotion.approval_queue import EXPIRING_KINDS
from governance.services.promotion.approval_requests import pending_requests

KIND_LABELS = {
    "promotion": "promotion run",
    "prompt": "prompt promotion run",
    "retirement": "retirement review run",
    "retro_review": "retro-review (break-glass)",
}


@dataclass
class RequestView:
    """One open request as the inbox shows it; `answer_roles` empty means no form."""

    request: ApprovalRequest
    kind_label: str
    still_needs: str
    prefect_link: str
    answer_roles: list[str]
    blocked: str = ""
    gate: dict[str, Any] | None = None
    gate_error: str = ""
    drift: list[dict[str, Any]] = field(default_factory=list)
    drift_error: str = ""
    diff: dict[str, Any] | None = None
    diff_error: str = ""
    error: str = ""

    @property
    def ref(self) -> str:
        """model@version (or prompt@version)."""
        return f"{self.request.model_name}@{self.request.version}"


@dataclass
class Inbox:
    """What waits for the viewer's roles, and what the viewer asked for."""

    waiting: list[RequestView]
    mine: list[RequestView]


def prefect_ui_base() -> str:
    """The Prefect UI's address: PREFECT_UI_URL, else the API URL without its /api."""
    ui = (PREFECT_UI_URL.value() or "").rstrip("/")
    if ui:
        return ui
    api = (PREFECT_API_URL.value() or "").rstrip("/")
    return api.removesuffix("/api") if api.endswith("/api") else ""


def prefect_link(request: ApprovalRequest) -> str:
    """The Prefect UI page of the request's flow run (its approval form), or ''."""
    base = prefect_ui_base()
    if not request.flow_run_id or not base:
        return ""
    return f"{base}/runs/flow-run/{request.flow_run_id}"


def still_needs(request: ApprovalRequest) -> str:
    """The roles a request still needs, as text ('nothing more' when none)."""
    missing = missing_roles(request)
    text = ", ".join(f"{role}" + (f" x{n}" if n > 1 else "") for role, n in missing.items())
    return text or "nothing more"


def answerable(request: ApprovalRequest) -> bool:
    """Whether the console can take an answer: a run waits on it, or it is a retro-review."""
    return request.kind == "retro_review" or bool(request.flow_run_id)


def blocked_reason(request: ApprovalRequest, name: str) -> str:
    """Why `name` may not answer a request they could otherwise fill, or ''."""
    if request.requested_by == name:
        return "you opened this request: someone else must decide it (separation of duties)"
    if request.version_created_by == name and request.kind != "retirement":
        return "you registered this version: someone else must decide it (separation of duties)"
    if any(a.approver == name for a in request.approvals):
        return "you have already answered this request (one person fills one role)"
    if not answerable(request):
        return "no run waits on this request, so it cannot be answered here"
    return ""


def open_requests(now: datetime, gov: Governance) -> list[ApprovalRequest]:
    """Open requests, oldest first, without those whose wait ran out (they are expiring)."""
    return [
        r for r in pending_requests(gov) if not (r.kind in EXPIRING_KINDS and now >= r.expires_at)
    ]


def view_of(
    gov: Governance,
    request: ApprovalRequest,
    actor: VerifiedActor,
    roles: list[str],
    *,
    with_evidence: bool,
) -> RequestView:
    """The request as `actor` sees it: which roles they may answer in, and the evidence."""
    fill = [role for role in missing_roles(request) if role in roles]
    blocked = blocked_reason(request, actor.name) if fill else ""
    view = RequestView(
        request=request,
        kind_label=KIND_LABELS.get(request.kind, request.kind),
        still_needs=still_needs(request),
        prefect_link=prefect_link(request),
        answer_roles=[] if blocked else fill,
        blocked=blocked,
    )
    if with_evidence:
        view.gate, view.gate_error = evidence.attempt(lambda: evidence.gate_of(gov, request))
        drift, view.drift_error = evidence.attempt(lambda: evidence.drift_of(gov, request))
        view.drift = drift or []
        view.diff, view.diff_error = evidence.attempt(lambda: evidence.diff_of(gov, request))
    return view


def inbox_of(gov: Governance, actor: VerifiedActor, roles: list[str], now: datetime) -> Inbox:
    """The viewer's inbox: requests needing one of their roles, and the ones they opened."""
    waiting, mine = [], []
    for request in open_requests(now, gov):
        if request.requested_by == actor.name:
            mine.append(view_of(gov, request, actor, roles, with_evidence=False))
        elif set(missing_roles(request)) & set(roles):
            waiting.append(view_of(gov, request, actor, roles, with_evidence=True))
    return Inbox(waiting=waiting, mine=mine)

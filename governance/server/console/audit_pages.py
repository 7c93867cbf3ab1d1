"""The auditor's audit browser: filtered keyset pages, the JSONL export, verification on demand.

Only auditors see any of it (the services refuse everyone else with RoleNotHeld, a 403
page naming the role). Pages move by seq (`?before=` older, `?after=` newer), never by
offset, so every page of a million-event trail costs what the first one does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from governance.domain.errors import InvalidInput
from governance.domain.identity import VerifiedActor
from governance.server.console.csrf import require_csrf
from governance.server.console.render import render
from governance.server.console.web_session import gov_of, now, viewer
from governance.services.trust import audit_browse
from governance.services.trust.roles import AUDITOR_ROLE, require_role
from governance.store.audit_pages import TrailFilter

router = APIRouter(include_in_schema=False)

FILTER_FIELDS = ("model", "actor", "type", "since", "until")


def _cursor(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit() or len(value) > 18:
        raise InvalidInput(f"{name}: {value!r} is not an event number")
    return int(value)


def _when(value: str, name: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{name}: {value!r} is not an ISO-8601 date or time") from None
    # A time without a zone is read as UTC, the zone the trail is written in.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def filter_of(request: Request) -> tuple[TrailFilter, dict[str, str]]:
    """The filter the query string asks for, and its fields as given (for the form and links)."""
    given = {name: request.query_params.get(name, "").strip() for name in FILTER_FIELDS}
    flt = TrailFilter(
        model=given["model"] or None,
        actor=given["actor"] or None,
        event_type=given["type"] or None,
        since=_when(given["since"], "since"),
        until=_when(given["until"], "until"),
    )
    if flt.since and flt.until and flt.since >= flt.until:
        raise InvalidInput("since must be before until")
    return flt, given


def _link(path: str, given: dict[str, str], **cursor: int) -> str:
    query = {k: v for k, v in given.items() if v} | {k: str(v) for k, v in cursor.items()}
    return path + (f"?{urlencode(query)}" if query else "")


def _panel(gov, actor: VerifiedActor) -> dict:
    """The verification and checkpoint panel every audit page carries."""
    return {
        "verification": audit_browse.last_verification(gov, actor=actor),
        "checkpoints": audit_browse.checkpoints(gov, actor=actor),
    }


def _audit_context(request: Request, actor: VerifiedActor) -> dict:
    gov = gov_of(request)
    require_role(gov, actor, AUDITOR_ROLE, "the audit browser")
    given = {name: request.query_params.get(name, "").strip() for name in FILTER_FIELDS}
    context = {"given": given, "page": None, "problem": None, "newest_link": "/audit"}
    try:
        flt, given = filter_of(request)
        before = _cursor(request.query_params.get("before"), "before")
        after = _cursor(request.query_params.get("after"), "after")
        if before is not None and after is not None:
            raise InvalidInput("give before or after, not both")
        page = audit_browse.page(gov, flt, actor=actor, before=before, after=after)
    except InvalidInput as exc:
        context["problem"] = str(exc)
        return context | _panel(gov, actor)
    context |= {
        "page": page,
        "newest_link": _link("/audit", given),
        "older_link": _link("/audit", given, before=page.older_cursor)
        if page.older_cursor is not None
        else None,
        "newer_link": _link("/audit", given, after=page.newer_cursor)
        if page.newer_cursor is not None
        else None,
        "export_link": _link("/audit/export.jsonl", given),
    }
    return context | _panel(gov, actor)


@router.get("/audit")
def audit_page(request: Request, actor: VerifiedActor = Depends(viewer)) -> Response:
    """One page of the filtered trail, newest first, with the last verification and anchors."""
    context = _audit_context(request, actor)
    status = 422 if context["problem"] else 200
    return render(request, "audit.html.j2", status=status, **context)


@router.get("/audit/export.jsonl")
def audit_export(request: Request, actor: VerifiedActor = Depends(viewer)) -> Response:
    """The filtered events as `audit export` lines (the whole trail when unfiltered)."""
    gov = gov_of(request)
    require_role(gov, actor, AUDITOR_ROLE, "exporting the audit trail")
    flt, _ = filter_of(request)
    lines = audit_browse.export_lines(gov, flt, actor=actor)
    stamp = now().strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        (line + "\n" for line in lines),
        media_type="application/jsonl",
        headers={
            "Content-Disposition": f'attachment; filename="audit-{stamp}.jsonl"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/audit/verify")
async def audit_verify(
    request: Request,
    actor: VerifiedActor = Depends(viewer),
    _csrf: None = Depends(require_csrf),  # after the login check: a stale page logs in first
) -> Response:
    """Run `audit verify` now (recorded as audit.verified); back to the browser showing it."""
    gov = gov_of(request)
    await run_in_threadpool(audit_browse.verify_now, gov, actor=actor, now=now())
    return RedirectResponse("/audit#verification", status_code=303)

"""The admin's page: the roster and enrolments, code locks, live sessions, client keys.

Every action calls the service the CLI command calls (`people unlock`, `people
revoke-sessions`, `clients create|revoke`) with the viewer as the actor, so it is checked
and audited the same way; a refusal re-renders the page naming it, with nothing changed.
A new client key is shown once, on the page that answers its creation, never again.
"""

from __future__ import annotations

from functools import partial
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from governance.domain.clients import ALL_ENDPOINTS, ROUTES
from governance.domain.errors import GovernanceError
from governance.domain.identity import VerifiedActor
from governance.server.console.csrf import require_csrf
from governance.server.console.forms import form_fields
from governance.server.console.render import render
from governance.server.console.web_session import gov_of, now, viewer
from governance.server.errors import status_for
from governance.services.rollout import client_keys
from governance.services.trust import code_locks, identity, people_admin, sessions_view
from governance.services.trust.roles import ADMIN_ROLE, require_role

router = APIRouter(include_in_schema=False)


def _context(request: Request, actor: VerifiedActor) -> dict:
    """Everything the admin page lists, read as `actor` (an admin, or RoleNotHeld)."""
    gov = gov_of(request)
    require_role(gov, actor, ADMIN_ROLE, "the admin page")
    when = now()
    return {
        "people": identity.people(gov, now=when),
        "sessions": sessions_view.live_sessions(gov, actor=actor, now=when),
        "keys": client_keys.keys(gov),
        "routes": ROUTES,
        "all_endpoints": ALL_ENDPOINTS,
        "notice": None,
        "problem": None,
    }


def _page(request: Request, actor: VerifiedActor, *, status: int = 200, **extra) -> Response:
    context = _context(request, actor) | extra
    return render(request, "admin.html.j2", status=status, **context)


async def _act(request: Request, actor: VerifiedActor, act, describe) -> Response:
    """Run one service call in the threadpool; the page with its notice, or its refusal."""
    try:
        result = await run_in_threadpool(act)
    except GovernanceError as exc:
        status = status_for(exc)
        if status == 403:
            raise  # a role refusal is the 403 page, as for any other console POST
        problem = str(exc)
        return await run_in_threadpool(
            partial(_page, request, actor, status=status, problem=problem)
        )
    return await run_in_threadpool(lambda: _page(request, actor, notice=describe(result)))


@router.get("/admin")
def admin_page(request: Request, actor: VerifiedActor = Depends(viewer)) -> Response:
    """The roster with enrolment states, code locks, live sessions and client keys."""
    return _page(request, actor)


@router.post("/admin/people/{name}/unlock")
async def unlock(
    name: str,
    request: Request,
    actor: VerifiedActor = Depends(viewer),
    _csrf: None = Depends(require_csrf),
) -> Response:
    """Lift a person's code lock (what `governance people unlock` calls)."""
    gov = gov_of(request)
    return await _act(
        request,
        actor,
        lambda: code_locks.unlock(gov, name, actor=actor, now=now()),
        lambda until: f"unlocked the codes of {name} (locked until {until:%Y-%m-%d %H:%M} UTC)",
    )


@router.post("/admin/people/{name}/revoke-sessions")
async def revoke_sessions(
    name: str,
    request: Request,
    actor: VerifiedActor = Depends(viewer),
    _csrf: None = Depends(require_csrf),
) -> Response:
    """End every live session of a person (what `governance people revoke-sessions` calls)."""
    gov = gov_of(request)
    return await _act(
        request,
        actor,
        lambda: people_admin.revoke_sessions(gov, name, actor=actor, now=now()),
        lambda ended: f"revoked {ended} live session(s) of {name}",
    )


@router.post("/admin/clients/{target}/revoke")
async def revoke_key(
    target: str,
    request: Request,
    actor: VerifiedActor = Depends(viewer),
    _csrf: None = Depends(require_csrf),
) -> Response:
    """Revoke a client key by id (what `governance clients revoke` calls)."""
    gov = gov_of(request)
    poll = gov.settings.gateway_key_poll_seconds
    return await _act(
        request,
        actor,
        lambda: client_keys.revoke(gov, target, actor=actor, now=now()),
        lambda ids: (
            f"revoked {', '.join(ids)}; gateways refuse it within one key poll ({poll:g} s)"
        ),
    )


def _listed(text: str) -> list[str]:
    """Names given comma- or space-separated in one field."""
    return [part for part in text.replace(",", " ").split() if part]


@router.post("/admin/clients")
async def create_key(
    request: Request,
    actor: VerifiedActor = Depends(viewer),
    _csrf: None = Depends(require_csrf),
) -> Response:
    """Create a client key (what `governance clients create` calls); the key is shown once."""
    gov = gov_of(request)
    fields = await form_fields(request)  # read (and checked) by require_csrf already
    # The route checkboxes repeat one name: every value, from the cached body.
    routes = parse_qs((await request.body()).decode("utf-8", "replace")).get("route", [])
    app_name = fields.get("app", "").strip()
    endpoints = _listed(fields.get("endpoints", ""))
    try:
        issued = await run_in_threadpool(
            lambda: client_keys.create(
                gov, app_name, endpoints=endpoints, routes=routes, actor=actor, now=now()
            )
        )
    except GovernanceError as exc:
        status, problem = status_for(exc), str(exc)
        if status == 403:
            raise
        return await run_in_threadpool(
            partial(_page, request, actor, status=status, problem=problem)
        )
    response = render(request, "admin_key_created.html.j2", status=201, issued=issued)
    # The key exists nowhere else: no cache, no history entry a later visitor could reopen.
    response.headers["Cache-Control"] = "no-store"
    return response

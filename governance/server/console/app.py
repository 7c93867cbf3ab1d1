"""The console's routes (login, logout, the front door) and how it mounts on the server.

`mount(app)` adds the security headers, the static files, the routes of every console page,
and turns refusals on console paths into HTML pages (the JSON API keeps its JSON).
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from governance.domain.errors import GovernanceError
from governance.server import auth
from governance.server.console import (
    admin_pages,
    audit_pages,
    csrf,
    inbox,
    pages,
    sso,
    web_session,
)
from governance.server.console.forms import form_fields
from governance.server.console.render import error_page, render
from governance.server.console.security import SecurityHeaders
from governance.server.console.web_session import (
    LoginRequired,
    clear_session_cookie,
    gov_of,
    login_url,
    optional_viewer,
    safe_next,
    session_token,
    set_session_cookie,
    viewer,
)
from governance.server.errors import status_for
from governance.services.trust import identity

STATIC = Path(__file__).parent / "static"
SESSION_HOURS = 8.0
LOGIN_NONCE_SECONDS = 3600

router = APIRouter(include_in_schema=False)


@router.get("/")
def front_door() -> RedirectResponse:
    """The console opens on the approvals inbox."""
    return RedirectResponse("/inbox", status_code=303)


@router.get("/login")
def login_page(request: Request, next: str = "/inbox") -> Response:
    """The login form: roster name and one-time code (a live session goes straight on)."""
    if optional_viewer(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_form(request, safe_next(next))


def _login_form(
    request: Request, next_path: str, *, name: str = "", error: str = "", status: int = 200
) -> HTMLResponse:
    nonce = request.cookies.get(csrf.LOGIN_COOKIE) or secrets.token_urlsafe(24)
    gov = gov_of(request)
    response = render(
        request,
        "login.html.j2",
        status=status,
        next=next_path,
        name=name,
        error=error,
        login_csrf=csrf.login_token(gov, nonce),
        identity=gov.policy.identity,
        sso=sso.enabled(gov),
    )
    response.set_cookie(
        csrf.LOGIN_COOKIE,
        nonce,
        max_age=LOGIN_NONCE_SECONDS,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    """Verify the one-time code, open a session like `POST /v1/sessions`, set the cookie."""
    fields = await form_fields(request)
    next_path = safe_next(fields.get("next"))
    csrf.check_login_token(request, fields.get(csrf.FIELD, ""))
    name = fields.get("name", "").strip()
    code = fields.get("code", "").strip() or None
    gov = gov_of(request)
    try:
        ticket = await run_in_threadpool(identity.login, gov, name, code, now=web_session.now())
    except GovernanceError as exc:
        status = status_for(exc)
        if status in (401, 403):  # on the trail as `POST /v1/sessions` puts them
            await run_in_threadpool(_record_refusal, request, status, exc)
        return _login_form(request, next_path, name=name, error=str(exc), status=status)
    response = RedirectResponse(next_path, status_code=303)
    set_session_cookie(response, ticket.token, ticket.expires_at, request)
    response.delete_cookie(csrf.LOGIN_COOKIE, path="/login")
    return response


def _record_refusal(request: Request, status: int, exc: GovernanceError) -> None:
    auth.record_refusal(
        gov_of(request),
        actor=None,
        method=request.method,
        path=request.url.path,
        status=status,
        error=exc,
        now=web_session.now(),
    )


@router.post("/logout", dependencies=[Depends(viewer), Depends(csrf.require_csrf)])
async def logout(request: Request) -> RedirectResponse:
    """End the session row (the token stops working everywhere) and drop the cookie."""
    token = session_token(request)
    await run_in_threadpool(identity.logout, gov_of(request), token, now=web_session.now())
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookie(response, request)
    return response


def wants_html(request: Request) -> bool:
    """Whether a refusal on this request answers as a console page (not the JSON API)."""
    path = request.url.path
    return not (path.startswith("/v1/") or path == "/v1" or path.startswith("/static/"))


TITLES = {
    400: "Bad request",
    401: "Not logged in",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Too large",
    422: "Invalid input",
    500: "Internal error",
    503: "Unavailable",
}


def _message_of(response: Response, request: Request) -> str:
    """The message a JSON refusal carries (its error message, or its detail)."""
    try:
        body = json.loads(bytes(response.body))
    except ValueError:
        return ""
    if isinstance(body.get("error"), dict):
        return str(body["error"].get("message", ""))
    detail = body.get("detail")
    if response.status_code == 404 and detail == "Not Found":
        return f"there is no page at {request.url.path}"
    if response.status_code == 405:
        return f"{request.url.path} does not take a {request.method}"
    return detail if isinstance(detail, str) else json.dumps(detail)


def _as_page(handler):
    """Wrap the API's exception handler: console paths get its status as an HTML page."""

    async def handle(request: Request, exc: Exception) -> Response:
        response = handler(request, exc)
        if hasattr(response, "__await__"):
            response = await response
        if not wants_html(request):
            return response
        if getattr(request.state, "actor", None) is None:
            await run_in_threadpool(optional_viewer, request)
        status = response.status_code
        title = TITLES.get(status, "Refused")
        return error_page(request, status, title, _message_of(response, request))

    return handle


def mount(app: FastAPI) -> None:
    """Serve the console on `app`: headers, /static, the pages, and HTML refusals."""
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(router)
    app.include_router(sso.router)
    app.include_router(inbox.router)
    app.include_router(pages.router)
    app.include_router(audit_pages.router)
    app.include_router(admin_pages.router)
    for kind in (GovernanceError, StarletteHTTPException, RequestValidationError, Exception):
        original = app.exception_handlers.get(kind)
        if original is not None:
            app.add_exception_handler(kind, _as_page(original))

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, exc: LoginRequired) -> Response:
        """No live session: to the login page, and back to this page after."""
        if request.method == "GET":
            target = exc.next_path
        else:  # a form posted by a dead session: come back to the page it came from
            referer = urlsplit(request.headers.get("referer", ""))
            target = referer.path + (f"?{referer.query}" if referer.query else "")
        response = RedirectResponse(login_url(target), status_code=303)
        if session_token(request):
            clear_session_cookie(response, request)
        return response

    @app.exception_handler(csrf.CsrfRefused)
    async def forged(request: Request, exc: csrf.CsrfRefused) -> Response:
        """A POST without a valid CSRF token: 403, naming the problem; nothing changed."""
        return error_page(request, 403, "Form refused", str(exc))

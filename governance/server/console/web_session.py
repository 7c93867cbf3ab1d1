"""The console's session cookie and the `viewer` dependency that resolves it to a person.

The cookie holds the same opaque token `POST /v1/sessions` hands the CLI: one server-side,
MAC-sealed session row per login, resolved through `governance.server.auth` exactly as a
bearer token is, so ending or revoking the row ends the browser's session too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

from fastapi import Request, Response

from governance.bootstrap import Governance
from governance.domain.identity import VerifiedActor
from governance.server import auth
from governance.server.errors import NotAuthenticated

COOKIE = "governance_session"


class LoginRequired(Exception):
    """No live session behind the request: the browser goes to the login page and back."""

    def __init__(self, next_path: str, reason: str = "") -> None:
        super().__init__(reason or "log in to continue")
        self.next_path = next_path
        self.reason = reason


def now() -> datetime:
    """The console is an entrypoint: it reads the clock for the requests it serves."""
    return datetime.now(UTC)


def gov_of(request: Request) -> Governance:
    """The server process's Governance."""
    return request.app.state.gov


def session_token(request: Request) -> str | None:
    """The session token the browser sent, or None."""
    token = request.cookies.get(COOKIE, "").strip()
    return token or None


def here(request: Request) -> str:
    """The path and query of this request, to come back to after logging in."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def login_url(next_path: str) -> str:
    """The login page that returns to `next_path` (a local path only)."""
    return f"/login?next={quote(safe_next(next_path), safe='/')}"


def safe_next(next_path: str | None) -> str:
    """`next_path` if it is a path on this site, else the inbox (no open redirects)."""
    if not next_path or not next_path.startswith("/") or next_path.startswith("//"):
        return "/inbox"
    if "\\" in next_path or any(ord(c) < 32 for c in next_path):
        return "/inbox"
    return next_path


def viewer(request: Request) -> VerifiedActor:
    """The person of the session cookie; LoginRequired (a redirect) if it is absent or dead."""
    token = session_token(request)
    if token is None:
        raise LoginRequired(here(request))
    try:
        actor = auth.authenticate(gov_of(request), f"Bearer {token}", now=now())
    except NotAuthenticated as exc:
        raise LoginRequired(here(request), str(exc)) from None
    request.state.actor = actor
    request.state.session_token = token
    return actor


def optional_viewer(request: Request) -> VerifiedActor | None:
    """The person of a live session cookie, or None (for pages anyone may see)."""
    try:
        return viewer(request)
    except LoginRequired:
        return None


def roles_of(request: Request, actor: VerifiedActor | None) -> list[str]:
    """The roles the policy's roster gives `actor` (none for nobody)."""
    if actor is None:
        return []
    return list(gov_of(request).policy.roster.get(actor.name, []))


def set_session_cookie(
    response: Response, token: str, expires_at: datetime, request: Request
) -> None:
    """Hand the browser the session token: HttpOnly, SameSite=Lax, Secure over https."""
    # Max-Age, not Expires: a browser whose clock is off still drops the cookie on time.
    response.set_cookie(
        COOKIE,
        token,
        max_age=max(0, int((expires_at - now()).total_seconds())),
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    """Tell the browser to forget the session token."""
    response.delete_cookie(
        COOKIE, path="/", httponly=True, samesite="lax", secure=request.url.scheme == "https"
    )

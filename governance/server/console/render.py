"""Rendering console pages: one Jinja2 environment (autoescaped, strict) over `templates/`.

Every page gets the viewer, their roles, the session's CSRF token and the navigation their
roles allow, so a template never reaches for them itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from governance.server.console.csrf import csrf_token
from governance.server.console.web_session import gov_of, roles_of

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class NavItem:
    """One link of the header's navigation, shown to holders of `roles` (everyone if empty)."""

    label: str
    href: str
    roles: frozenset[str] = frozenset()

    def allowed(self, roles: list[str]) -> bool:
        """Whether a person holding `roles` sees this link."""
        return not self.roles or bool(self.roles & set(roles))


# The pages of the console, in header order. Each page's own route still checks roles:
# hiding a link is a courtesy, not the control.
NAV: list[NavItem] = [
    NavItem("Inbox", "/inbox"),
    NavItem("Models", "/models"),
    NavItem("Endpoints", "/endpoints"),
    NavItem("Prompts", "/prompts"),
    NavItem("Monitoring", "/monitoring"),
    NavItem("Audit", "/audit"),
    NavItem("Admin", "/admin", frozenset({"admin"})),
]

environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html", "j2"], default_for_string=True, default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def nav_for(roles: list[str], current: str) -> list[dict]:
    """The navigation links `roles` may see, each marked whether it is the current section."""
    return [
        {"label": item.label, "href": item.href, "current": _within(current, item.href)}
        for item in NAV
        if item.allowed(roles)
    ]


def _within(path: str, href: str) -> bool:
    return path == href or path.startswith(href.rstrip("/") + "/")


def page_context(request: Request) -> dict:
    """What every page gets: viewer, roles, csrf, nav, and the current path."""
    actor = getattr(request.state, "actor", None)
    token = getattr(request.state, "session_token", None)
    roles = roles_of(request, actor)
    return {
        "viewer": actor,
        "roles": roles,
        "csrf": csrf_token(gov_of(request), token) if token and actor else "",
        "nav": nav_for(roles, request.url.path) if actor else [],
        "path": request.url.path,
    }


def render(request: Request, template: str, status: int = 200, **context) -> HTMLResponse:
    """The page `template` rendered with `context` and what every page gets."""
    html = environment.get_template(template).render(**page_context(request), **context)
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def error_page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    """The error page: the status, a title, and the message naming the problem."""
    return render(
        request, "error.html.j2", status=status, code=status, title=title, message=message
    )

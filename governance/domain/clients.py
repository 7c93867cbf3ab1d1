"""Client applications of the gateway: their names, the routes a key may call, and its scope."""

from __future__ import annotations

import re

from governance.domain.errors import InvalidInput

# The gateway routes a client key opens: predictions (plain JSON and Open Inference
# Protocol, versioned or not), outcomes of predictions, and prompts (renders and outcomes).
ROUTES: tuple[str, ...] = ("predict", "outcomes", "prompts")
# Routes that are scoped to endpoints; prompts are not served by an endpoint.
ENDPOINT_ROUTES = frozenset({"predict", "outcomes"})
ALL_ENDPOINTS = "*"
# Lower case, digits, dots and dashes: no underscore, so an app never looks like a key id.
_APP = re.compile(r"^[a-z0-9][a-z0-9.-]{0,63}$")
KEY_ID = re.compile(r"^ck_[0-9a-f]{16}$")


def check_app_name(app: str) -> str:
    """The application name, or InvalidInput saying what a name may hold."""
    if not _APP.match(app or ""):
        raise InvalidInput(
            f"client application name {app!r} is not valid: use 1 to 64 lower-case letters,"
            " digits, dots and dashes, starting with a letter or digit"
        )
    return app


def check_routes(routes: list[str]) -> tuple[str, ...]:
    """The routes in their canonical order; InvalidInput naming an unknown or missing one."""
    unknown = sorted({r for r in routes if r not in ROUTES})
    if unknown:
        raise InvalidInput(
            f"unknown route(s) {', '.join(unknown)}: a client key may call {', '.join(ROUTES)}"
        )
    if not routes:
        raise InvalidInput(f"name at least one route the key may call ({', '.join(ROUTES)})")
    return tuple(r for r in ROUTES if r in routes)


def scope_problem(
    app: str, endpoints: tuple[str, ...], routes: tuple[str, ...], route: str, endpoint: str | None
) -> str:
    """'' when a key of `app` with this scope may call `route` (on `endpoint`); else why not."""
    if route not in routes:
        return f"the client key of {app} may call the route(s) {', '.join(routes)}, not {route}"
    if endpoint is None or route not in ENDPOINT_ROUTES or ALL_ENDPOINTS in endpoints:
        return ""
    if endpoint not in endpoints:
        return (
            f"the client key of {app} is scoped to the endpoint(s) {', '.join(endpoints)},"
            f" not {endpoint}"
        )
    return ""

"""The ASGI middleware that asks every predict, outcome and prompt request for its client key.

It runs before any route reads the body (and before the size limit), so an unauthenticated
caller learns nothing from the gateway but 401, and makes it read nothing. Health, metadata,
readiness, `GET /v1/endpoints/{name}` and `/metrics` stay open. The checked Client is put in
the request's state (`request.state.client`) for the route to attribute what it logs.

A blue/green smoke request (`POST /v1/endpoints/E/predict` naming a slot) carries the smoke
test's key-derived credential instead of a client key: with that header and no key, the
request goes on marked SMOKE, and the route lets it through only if it names a slot, whose
credential `Gateway.assign` then checks.
"""

from __future__ import annotations

import json
import re

from starlette.datastructures import Headers
from starlette.requests import Request

from governance.services.rollout.gateway_credentials import CREDENTIAL_HEADER
from governance.serving.client_auth import Client, ClientGuard, presented_key
from governance.serving.errors import ClientKeyRefused, ClientOutOfScope, status_for

SMOKE = "smoke"
# The only path whose requests may name a blue/green slot (and so stand on the smoke
# test's credential instead of a client key).
_SLOTTED = re.compile(r"^/v1/endpoints/(?P<endpoint>[^/]+)/predict$")
_GUARDED = (
    (_SLOTTED, "predict"),
    (re.compile(r"^/v2/models/(?P<endpoint>[^/]+)/infer$"), "predict"),
    (re.compile(r"^/v2/models/(?P<endpoint>[^/]+)/versions/[^/]+/infer$"), "predict"),
    (re.compile(r"^/v1/outcomes$"), "outcomes"),
    (re.compile(r"^/v1/prompts/[^/]+$"), "prompts"),
)


def guarded_route(path: str) -> tuple[str, str | None, bool] | None:
    """(route, endpoint, may name a slot) of a path that needs a client key; None if open."""
    for pattern, route in _GUARDED:
        found = pattern.match(path)
        if found is not None:
            return route, found.groupdict().get("endpoint"), pattern is _SLOTTED
    return None


def client_app(request: Request) -> str | None:
    """The application name of the request's checked client key (None: keys off, no key)."""
    client = getattr(request.state, "client", None)
    return client.app if isinstance(client, Client) else client


class ClientDoor:
    """ASGI middleware: 401 or 403 (counted) unless the request's client key opens its route."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        """Check the key of a guarded request, then pass it on with its client."""
        target = guarded_route(scope.get("path", "")) if scope["type"] == "http" else None
        gateway = getattr(scope["app"].state, "gateway", None) if target else None
        if gateway is None:  # an open path, or a gateway still starting (NotReady answers)
            await self.app(scope, receive, send)
            return
        guard: ClientGuard = gateway.clients
        headers = Headers(scope=scope)
        route, endpoint, slotted = target
        try:
            smoke = slotted and guard.required and CREDENTIAL_HEADER in headers
            if smoke and _no_key(headers):
                client = SMOKE
            else:
                client = await guard.check(headers, route, endpoint)
        except (ClientKeyRefused, ClientOutOfScope) as exc:
            await _refuse(send, exc)
            return
        scope.setdefault("state", {})["client"] = client
        await self.app(scope, receive, send)


def _no_key(headers: Headers) -> bool:
    try:
        return presented_key(headers) is None
    except ClientKeyRefused:
        return False


async def _refuse(send, error: Exception) -> None:
    status = status_for(error)
    payload = json.dumps({"error": str(error)}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        # The body was never read: the connection cannot carry another request after it.
        (b"connection", b"close"),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="governance-gateway"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})

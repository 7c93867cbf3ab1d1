"""How the gateway reads request bodies: JSON whatever the client's Content-Type says.

FastAPI parses a body as JSON only when its Content-Type is JSON, or, with the app's
`strict_content_type=False`, when there is no Content-Type at all (what tritonclient sends).
Every body route of the gateway takes JSON and none takes a form, so `GatewayRoute` also
reads `application/x-www-form-urlencoded` (what `curl -d` sends) as JSON. A body of the
binary tensor data extension (`Inference-Header-Content-Length: N`) is N bytes of JSON
followed by raw tensor bytes: FastAPI gets the JSON, the infer route `tensor_bytes`.

A web page can post a form, or a body without a Content-Type, to a gateway on localhost
without a CORS preflight; it cannot send application/json or a custom header without one
(which the gateway never grants). So such bodies are refused when the request comes from
a browser (it has an Origin header); other clients never send one.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from email.message import Message
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from governance.domain.errors import InvalidInput
from governance.serving.errors import BadTensor

BINARY_HEADER = "inference-header-content-length"
FORM = "application/x-www-form-urlencoded"
Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class UnsupportedBody(InvalidInput):
    """A body the gateway will not read as JSON (its Content-Type, or a browser's form)."""


class GatewayRequest(Request):
    """A request whose body, as FastAPI reads it, is its JSON part; the rest is tensor bytes."""

    header_length: int | None = None

    async def body(self) -> bytes:
        """The JSON part: all of it, or the first Inference-Header-Content-Length bytes."""
        whole = await super().body()
        return whole if self.header_length is None else whole[: self.header_length]

    async def tensor_bytes(self) -> bytes:
        """The binary tensor data after the JSON part (empty without the extension)."""
        whole = await super().body()
        return b"" if self.header_length is None else whole[self.header_length :]

    async def split_at(self, header: str) -> None:
        """Split the body where the extension's header says its JSON ends (BadTensor if not)."""
        self.header_length = _header_length(header, len(await super().body()))


def is_json(content_type: str) -> bool:
    """Whether a Content-Type names JSON (application/json or application/*+json)."""
    message = Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def _set_json_type(request: Request) -> None:
    """Tell FastAPI's body parsing that the body is JSON (the scope is this request's own)."""
    headers = [(k, v) for k, v in request.scope["headers"] if k != b"content-type"]
    request.scope["headers"] = [*headers, (b"content-type", b"application/json")]


async def prepared(request: Request) -> GatewayRequest:
    """The request as the gateway reads it, or UnsupportedBody / BadTensor naming why not."""
    content_type = request.headers.get("content-type", "")
    binary = request.headers.get(BINARY_HEADER)
    if binary is not None:
        # The extension's header says what the body is, whatever Content-Type says.
        _set_json_type(request)
    elif content_type and is_json(content_type):
        pass
    elif content_type and content_type.split(";")[0].strip().lower() != FORM:
        raise UnsupportedBody(
            f"Content-Type {content_type!r} is not supported: send the body as JSON "
            "(application/json, or no Content-Type)"
        )
    elif "origin" in request.headers:
        raise UnsupportedBody(
            f"a browser request (Origin {request.headers['origin']!r}) must send its body "
            "with Content-Type: application/json"
        )
    elif content_type:
        _set_json_type(request)
    found = GatewayRequest(request.scope, request.receive)
    if binary is not None:
        await found.split_at(binary)
    return found


def _header_length(value: str, body_size: int) -> int:
    """The JSON part's size per the binary tensor extension's header, checked against the body."""
    where = f"binary tensor data extension: {BINARY_HEADER.title()} {value!r}"
    if not value.strip().isdigit():
        raise BadTensor(f"{where} is not a byte count")
    length = int(value)
    if length > body_size:
        raise BadTensor(f"{where} is longer than the {body_size}-byte body")
    return length


class GatewayRoute(APIRoute):
    """An APIRoute that reads its body the gateway's way before FastAPI parses it."""

    def get_route_handler(self) -> Handler:
        """FastAPI's handler, given the prepared request when the route takes a body."""
        handle = super().get_route_handler()
        if self.body_field is None:
            return handle

        async def gateway_handler(request: Request) -> Response:
            return await handle(await prepared(request))

        return gateway_handler

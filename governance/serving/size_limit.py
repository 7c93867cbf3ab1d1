"""The request body size limit, enforced before any route reads the body."""

from __future__ import annotations

import json

from governance.serving.errors import BodyTooLarge


class BodyLimit:
    """ASGI middleware answering 413 to a body over `limit` bytes.

    A declared Content-Length is checked at once; a chunked body is read up to the limit
    and replayed to the app, so a client cannot get round the limit by not declaring it.
    """

    def __init__(self, app, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send) -> None:
        """Pass the request on, or answer 413 without calling the app."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            if length.isdigit() and int(length) > self.limit:
                await self._refuse(send, int(length))
                return
            await self.app(scope, receive, send)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                await self._refuse(send, size)
                return
            if not message.get("more_body", False):
                break
        body, replayed = b"".join(chunks), False

        async def replay():
            """The buffered body once, then whatever the server sends next."""
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, send, size: int) -> None:
        error = BodyTooLarge(f"request body of {size} bytes is over the limit of {self.limit}")
        payload = json.dumps({"error": str(error)}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

"""HTTP to the governance server with the standard library (a thin client starts fast)."""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from governance.remote.settings import ClientError

TIMEOUT_SECONDS = 600
CHUNK = 1 << 20


class Refused(ClientError):
    """The server answered with an error: its status and the message naming the problem."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind = status, kind


class Server:
    """One governance server, called with the person's token when there is one."""

    def __init__(self, url: str, token: str | None = None) -> None:
        self.url, self.token = url, token

    def call(
        self, method: str, path: str, body: Any = None, data: Any = None, length: int = 0
    ) -> Any:
        """One request; the decoded JSON answer, or Refused / ClientError naming the problem."""
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        elif data is not None:
            headers["Content-Type"] = "application/octet-stream"
            headers["Content-Length"] = str(length)
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:
                return json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise _refusal(exc) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise ClientError(
                f"cannot reach the governance server at {self.url}: {reason}"
            ) from None

    def upload(self, path: Path) -> dict[str, str]:
        """PUT a local file to the server's blob store; the reference a command takes."""
        sha, size = hashlib.sha256(), 0
        try:
            with path.open("rb") as source:
                for chunk in iter(lambda: source.read(CHUNK), b""):
                    sha.update(chunk)
                    size += len(chunk)
            # Streamed from the file: an artifact is never held in memory whole.
            with path.open("rb") as source:
                self.call("PUT", f"/v1/blobs/{sha.hexdigest()}", data=source, length=size)
        except OSError as exc:
            raise ClientError(f"cannot read {path}: {exc.strerror}") from None
        return {"sha256": sha.hexdigest(), "name": path.name}


def _refusal(exc: urllib.error.HTTPError) -> Refused:
    try:
        error = json.loads(exc.read()).get("error") or {}
    except (ValueError, AttributeError, OSError):
        error = {}
    if isinstance(error, str):  # a body from something other than the governance server
        error = {"message": error}
    message = error.get("message") or f"HTTP {exc.code} {exc.reason}"
    return Refused(exc.code, error.get("type") or "", message)

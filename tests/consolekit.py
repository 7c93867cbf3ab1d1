"""The console in tests: the governance server app under uvicorn on 127.0.0.1, and logins."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import httpx
import pyotp
from gatewaykit import app_thread

from governance.bootstrap import Governance
from governance.server.app import create_app
from governance.server.console.web_session import COOKIE
from governance.services.trust import identity


@contextmanager
def console_thread(gov: Governance) -> Iterator[str]:
    """The server app (JSON API and console) on a free port in a thread; its base URL."""
    with app_thread(create_app(gov=gov), "the governance server") as url:
        yield url


class Browsers:
    """One logged-in HTTP client per person, each holding the console's session cookie."""

    def __init__(self, gov: Governance, url: str, secrets: dict[str, str]) -> None:
        self.gov, self.url, self.secrets = gov, url, secrets
        self.clients: dict[str, httpx.Client] = {}

    def token(self, name: str) -> str:
        """A fresh session token of `name`, opened with their code at the current step."""
        when = datetime.now(UTC)
        code = pyotp.TOTP(self.secrets[name]).at(when)
        return identity.login(self.gov, name, code, now=when).token

    def __call__(self, name: str) -> httpx.Client:
        """`name`'s browser: a client that sends their session cookie to the console."""
        if name not in self.clients:
            # The cookie as a header: the browser's cookie, whatever the jar makes of an IP host.
            cookie = {"cookie": f"{COOKIE}={self.token(name)}"}
            client = httpx.Client(
                base_url=self.url, timeout=60, follow_redirects=False, headers=cookie
            )
            self.clients[name] = client
        return self.clients[name]

    def close(self) -> None:
        """Close every client."""
        for client in self.clients.values():
            client.close()

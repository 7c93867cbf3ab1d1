"""OpenID Connect providers on 127.0.0.1 for the console's single sign-on tests.

`mock_provider` is oidc-provider-mock, a real provider (authlib's server) with users and
claims set per test. `RogueProvider` is a provider of our own whose ID tokens a test shapes
(another issuer or audience, expired, another nonce, signed by a key its JWKS lacks), to show
each check of the ID token refuses them.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

import flask
import httpx
import pytest
import werkzeug.serving
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

with warnings.catch_warnings():
    # The mock imports authlib.jose, which authlib 1.9 deprecates: the mock's to change.
    # authlib.deprecate sets its warnings to "always" when first imported, so it is imported
    # before this filter goes in front of that one.
    import authlib.deprecate  # noqa: F401

    warnings.filterwarnings("ignore", "authlib.jose module is deprecated", DeprecationWarning)
    import oidc_provider_mock


@contextmanager
def _serving(app) -> Iterator[str]:
    """Serve a WSGI app on 127.0.0.1 (a free port) in a thread; its base URL."""
    server = werkzeug.serving.make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


@contextmanager
def mock_provider(users: dict[str, dict[str, Any]]) -> Iterator[str]:
    """oidc-provider-mock with `users` (sub -> claims), nonce required; its issuer URL."""
    app = oidc_provider_mock.app(
        require_nonce=True,
        user_claims=[oidc_provider_mock.User(sub=sub, claims=c) for sub, c in users.items()],
    )
    with _serving(app) as url:
        yield url


def sign_in_at_mock(client: httpx.Client, authorize_url: str, sub: str) -> httpx.Response:
    """Complete the mock's authorization form as `sub`; its redirect back to the console."""
    answer = client.post(authorize_url, data={"sub": sub})
    assert answer.status_code == 302, answer.text
    return answer


class RogueProvider:
    """A provider whose next ID token is shaped by `shape` (claims over the honest ones)."""

    def __init__(self, client_id: str) -> None:
        self.client_id = client_id
        self.key = RSAKey.generate_key(2048, parameters={"kid": "published"})
        # Not in the JWKS: a token signed with it must fail the signature check.
        self.stray = RSAKey.generate_key(2048, parameters={"kid": "published"})
        self.shape: dict[str, Any] = {}
        self.sign_with_stray = False
        self.nonces: dict[str, str] = {}
        self.url = ""

    def app(self) -> flask.Flask:
        """The provider's endpoints: discovery, authorize (no form), token, JWKS."""
        app = flask.Flask("rogue-oidc")

        @app.get("/.well-known/openid-configuration")
        def discovery():
            return {
                "issuer": self.url,
                "authorization_endpoint": f"{self.url}/authorize",
                "token_endpoint": f"{self.url}/token",
                "jwks_uri": f"{self.url}/jwks",
            }

        @app.get("/authorize")
        def authorize():
            args = flask.request.args
            code = f"code-{len(self.nonces)}"
            self.nonces[code] = args["nonce"]
            query = urlencode({"code": code, "state": args["state"]})
            return flask.redirect(f"{args['redirect_uri']}?{query}")

        @app.post("/token")
        def token():
            code = flask.request.form["code"]
            now = int(time.time())
            claims = {
                "iss": self.url,
                "sub": "sub-carol",
                "aud": self.client_id,
                "iat": now,
                "exp": now + 300,
                "nonce": self.nonces[code],
                "preferred_username": "carol",
            }
            claims.update(self.shape)
            key = self.stray if self.sign_with_stray else self.key
            id_token = jwt.encode({"alg": "RS256", "kid": "published"}, claims, key)
            return {"access_token": "x", "token_type": "Bearer", "id_token": id_token}

        @app.get("/jwks")
        def jwks():
            return KeySet([self.key]).as_dict(private=False)

        return app

    @contextmanager
    def serving(self) -> Iterator[str]:
        """Run it on 127.0.0.1; its issuer URL."""
        with _serving(self.app()) as url:
            self.url = url
            yield url


@pytest.fixture(autouse=True)
def one_clock(request) -> None:
    """Skip under `--clock-shift-days`: the providers here run in the test process and the
    server in its own, so their clocks would differ by the shift (a token issued "a year
    ahead"); these tests hold no date of their own to check."""
    if request.config.getoption("--clock-shift-days"):
        pytest.skip(
            "the OIDC providers run in this process, whose clock is moved ahead, and the "
            "server in another with the real clock: an ID token's iat would be in its future"
        )

"""The console's OpenID Connect client: discovery, the authorization request, the code
exchange with PKCE (authlib), and the ID token's checks (joserfc, authlib's CodeIDToken).

Every refusal is an `SsoRefused` with a short reason code (for the audit event), a message
naming the problem (for the page), and the HTTP status the callback answers with.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import ClaimError, ExpiredTokenError, JoseError
from joserfc.jwk import KeySet

from governance.config import Settings

SCOPE = "openid profile email"
# The ID token algorithms we accept: asymmetric only (an HS256 token would be "signed" with
# the client secret, which the provider is not the only holder of).
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]
# Clock skew tolerated between us and the provider on exp, iat and nbf.
LEEWAY_SECONDS = 60
# How long discovery and JWKS answers are kept; an unknown key id re-reads the JWKS at once.
CACHE_SECONDS = 3600
HTTP_TIMEOUT = 10.0


class SsoRefused(Exception):
    """A single sign-on that cannot go on: `reason` (a code), the message and the status."""

    def __init__(self, reason: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class OidcConfig:
    """The provider and this client, from GOVERNANCE_OIDC_* settings."""

    issuer: str
    client_id: str
    client_secret: str
    name_claim: str

    @classmethod
    def of(cls, settings: Settings) -> OidcConfig | None:
        """The configuration, or None when single sign-on is not set up."""
        if not settings.oidc_issuer:
            return None
        return cls(
            issuer=settings.oidc_issuer.rstrip("/"),
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret,
            name_claim=settings.oidc_name_claim,
        )


@dataclass(frozen=True)
class Provider:
    """What discovery said: the endpoints and the issuer the provider names itself by."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


_cache: dict[str, tuple[float, Any]] = {}


async def _get_json(url: str, what: str) -> dict:
    try:
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT) as client:
            answer = await client.get(url)
    except httpx.HTTPError as exc:
        raise SsoRefused(
            "provider_unreachable",
            f"the identity provider's {what} at {url} is unreachable: {exc}",
            502,
        ) from None
    if answer.status_code != 200:
        raise SsoRefused(
            "provider_error",
            f"the identity provider's {what} at {url} answered {answer.status_code}",
            502,
        )
    try:
        body = answer.json()
    except ValueError:
        raise SsoRefused(
            "provider_error", f"the identity provider's {what} is not JSON", 502
        ) from None
    if not isinstance(body, dict):
        raise SsoRefused("provider_error", f"the identity provider's {what} is not an object", 502)
    return body


async def discover(config: OidcConfig) -> Provider:
    """The provider's metadata from `{issuer}/.well-known/openid-configuration` (cached)."""
    url = f"{config.issuer}/.well-known/openid-configuration"
    found = _cache.get(url)
    if found is not None and found[0] > time.monotonic():
        return found[1]
    body = await _get_json(url, "discovery document")
    try:
        provider = Provider(
            issuer=str(body["issuer"]),
            authorization_endpoint=str(body["authorization_endpoint"]),
            token_endpoint=str(body["token_endpoint"]),
            jwks_uri=str(body["jwks_uri"]),
        )
    except KeyError as exc:
        raise SsoRefused(
            "provider_error", f"the discovery document lacks {exc.args[0]}", 502
        ) from None
    # OpenID Connect Discovery 4.3: the issuer it names must be the one we asked.
    if provider.issuer.rstrip("/") != config.issuer:
        raise SsoRefused(
            "issuer",
            f"the discovery document at {url} names the issuer {provider.issuer}, "
            f"not {config.issuer} (GOVERNANCE_OIDC_ISSUER)",
            502,
        )
    _cache[url] = (time.monotonic() + CACHE_SECONDS, provider)
    return provider


async def _keys(provider: Provider, *, fresh: bool = False) -> KeySet:
    found = _cache.get(provider.jwks_uri)
    if not fresh and found is not None and found[0] > time.monotonic():
        return found[1]
    body = await _get_json(provider.jwks_uri, "key set (JWKS)")
    try:
        keys = KeySet.import_key_set(body)  # type: ignore[arg-type]
    except (JoseError, ValueError, KeyError, TypeError):
        raise SsoRefused(
            "provider_error", "the identity provider's JWKS holds no usable key", 502
        ) from None
    _cache[provider.jwks_uri] = (time.monotonic() + CACHE_SECONDS, keys)
    return keys


def _client(config: OidcConfig, redirect_uri: str) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(
        client_id=config.client_id,
        client_secret=config.client_secret,
        scope=SCOPE,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
        timeout=HTTP_TIMEOUT,
    )


def authorization_url(
    config: OidcConfig,
    provider: Provider,
    redirect_uri: str,
    *,
    state: str,
    nonce: str,
    verifier: str,
) -> str:
    """Where to send the browser: the provider's login, with state, nonce and the PKCE challenge."""
    client = _client(config, redirect_uri)
    url, _ = client.create_authorization_url(
        provider.authorization_endpoint, state=state, code_verifier=verifier, nonce=nonce
    )
    return url


async def exchange(
    config: OidcConfig, provider: Provider, redirect_uri: str, *, code: str, verifier: str
) -> str:
    """Trade the authorization code (and the PKCE verifier) for the ID token."""
    async with _client(config, redirect_uri) as client:
        try:
            token = await client.fetch_token(
                provider.token_endpoint,
                grant_type="authorization_code",
                code=code,
                code_verifier=verifier,
            )
        except OAuthError as exc:
            raise SsoRefused(
                "code_exchange",
                f"the identity provider refused the authorization code: {exc.error}"
                + (f" ({exc.description})" if exc.description else ""),
                400,
            ) from None
        except (httpx.HTTPError, ValueError) as exc:
            raise SsoRefused(
                "provider_unreachable", f"the identity provider's token endpoint failed: {exc}", 502
            ) from None
    id_token = token.get("id_token")
    if not isinstance(id_token, str) or not id_token:
        raise SsoRefused("no_id_token", "the identity provider sent no ID token", 400)
    return id_token


async def verified_claims(
    config: OidcConfig, provider: Provider, id_token: str, *, nonce: str, now: datetime
) -> dict[str, Any]:
    """The ID token's claims once its signature (by the provider's JWKS), issuer, audience,
    expiry and nonce check; SsoRefused naming the first that does not."""
    keys = await _keys(provider)
    try:
        token = _decode(id_token, keys)
    except SsoRefused:
        # The provider may have rotated its key since we read the set: read it once more.
        token = _decode(id_token, await _keys(provider, fresh=True))
    claims = CodeIDToken(
        token.claims,
        token.header,
        options={
            "iss": {"essential": True, "value": provider.issuer},
            "aud": {"essential": True, "value": config.client_id},
            "sub": {"essential": True},
        },
        params={"nonce": nonce, "client_id": config.client_id},
    )
    try:
        claims.validate(now=int(now.timestamp()), leeway=LEEWAY_SECONDS)
    except ExpiredTokenError:
        raise SsoRefused(
            "expired", f"the ID token expired at {_when(claims.get('exp'))}", 401
        ) from None
    except ClaimError as exc:
        raise SsoRefused(*_claim_problem(exc.claim, claims, config, provider), 401) from None
    return dict(claims)


def _decode(id_token: str, keys: KeySet):
    try:
        return jwt.decode(id_token, keys, algorithms=ALGORITHMS)
    except JoseError as exc:
        raise SsoRefused(
            "signature",
            "the ID token's signature does not verify with any key of the identity provider's "
            f"JWKS ({exc.error})",
            401,
        ) from None
    except ValueError:
        raise SsoRefused("malformed_token", "the ID token is not a well-formed JWT", 401) from None


def _claim_problem(
    claim: str, claims: dict, config: OidcConfig, provider: Provider
) -> tuple[str, str]:
    if claim == "iss":
        return "issuer", (
            f"the ID token was issued by {claims.get('iss')}, not {provider.issuer} (the "
            "issuer this console trusts)"
        )
    if claim in ("aud", "azp"):
        return "audience", (
            f"the ID token is for the audience {claims.get('aud')}, not this console "
            f"({config.client_id})"
        )
    if claim == "nonce":
        return "nonce", "the ID token's nonce is not the one this login sent (a replayed token?)"
    return "claims", f"the ID token's claim {claim} is missing or invalid"


def _when(value: object) -> str:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC).isoformat(timespec="seconds")
    return repr(value)

"""Single sign-on for the console: `GET /login/sso` and its callback.

The login's state, nonce and PKCE verifier travel in a short-lived cookie encrypted and
authenticated under the server's key (keyring purpose `console-sso-state`), scoped to
`/login/sso`: nothing is kept server-side between the two requests, and neither the browser
nor anyone on its path can read or forge them. A callback whose state is not that cookie's
is refused before the code is spent. Every refusal answers a page naming the problem and
appends `person.sso_refused`; no session is opened.
"""

from __future__ import annotations

import hmac
import json
import secrets
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from governance.bootstrap import Governance
from governance.domain.errors import ConfigError, GovernanceError, InvalidInput, NotEnrolled
from governance.server.console import oidc
from governance.server.console.oidc import OidcConfig, SsoRefused
from governance.server.console.render import error_page
from governance.server.console.web_session import now, safe_next, set_session_cookie
from governance.services.trust import sso

STATE_COOKIE = "governance_sso"
STATE_PATH = "/login/sso"
STATE_PURPOSE = "console-sso-state"
STATE_SECONDS = 600
SESSION_HOURS = 8.0

router = APIRouter(include_in_schema=False)


def enabled(gov: Governance) -> bool:
    """Whether single sign-on is set up (the login page then offers it)."""
    return OidcConfig.of(gov.settings) is not None


def _gov(request: Request) -> Governance:
    return request.app.state.gov


def _config(request: Request) -> OidcConfig:
    config = OidcConfig.of(_gov(request).settings)
    if config is None:
        raise SsoRefused(
            "not_configured",
            "single sign-on is not set up on this server (GOVERNANCE_OIDC_ISSUER is empty): "
            "log in with your one-time code",
            404,
        )
    return config


def _redirect_uri(request: Request) -> str:
    return str(request.url_for("sso_callback"))


@router.get("/login/sso")
async def sso_start(request: Request, next: str = "/inbox") -> Response:
    """Send the browser to the identity provider, remembering state, nonce and verifier."""
    try:
        config = _config(request)
        provider = await oidc.discover(config)
    except SsoRefused as refusal:
        return await _refused(request, refusal, issuer=_issuer_of(request))
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    verifier = secrets.token_urlsafe(48)  # 64 characters: within RFC 7636's 43 to 128
    url = oidc.authorization_url(
        config, provider, _redirect_uri(request), state=state, nonce=nonce, verifier=verifier
    )
    kept = {
        "state": state,
        "nonce": nonce,
        "verifier": verifier,
        "next": safe_next(next),
        "until": int((now() + timedelta(seconds=STATE_SECONDS)).timestamp()),
    }
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        STATE_COOKIE,
        _gov(request).keyring.encrypt(STATE_PURPOSE, json.dumps(kept)),
        max_age=STATE_SECONDS,
        path=STATE_PATH,
        httponly=True,
        # Lax: the provider's redirect back is a top-level GET, which Lax lets through.
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


@router.get("/login/sso/callback", name="sso_callback")
async def sso_callback(request: Request) -> Response:
    """Check the provider's answer and the ID token, then open the person's session."""
    issuer = _issuer_of(request)
    claims: dict = {}
    try:
        config = _config(request)
        kept = _kept(request)
        params = request.query_params
        if "error" in params:
            # Shown escaped and cut short: anyone can craft a callback URL carrying text.
            error = params["error"][:100]
            described = params.get("error_description", "")[:200]
            detail = f"{error} ({described})" if described else error
            raise SsoRefused(
                "provider_denied", f"the identity provider refused the login: {detail}"
            )
        if not hmac.compare_digest(params.get("state", "").encode(), kept["state"].encode()):
            raise SsoRefused(
                "state",
                "the login's state does not match the one this browser started with (a forged "
                "or replayed callback): start again from the login page",
            )
        code = params.get("code", "")
        if not code:
            raise SsoRefused("no_code", "the identity provider sent no authorization code")
        provider = await oidc.discover(config)
        redirect_uri = _redirect_uri(request)
        id_token = await oidc.exchange(
            config, provider, redirect_uri, code=code, verifier=kept["verifier"]
        )
        claims = await oidc.verified_claims(
            config, provider, id_token, nonce=kept["nonce"], now=now()
        )
        ticket = await run_in_threadpool(_open, request, config, provider.issuer, claims)
    except SsoRefused as refusal:
        return await _refused(request, refusal, issuer=issuer, claims=claims)
    response = RedirectResponse(kept["next"], status_code=303)
    response.delete_cookie(STATE_COOKIE, path=STATE_PATH)
    set_session_cookie(response, ticket.token, ticket.expires_at, request)
    return response


def _open(request: Request, config: OidcConfig, issuer: str, claims: dict):
    claimed = claims.get(config.name_claim)
    try:
        return sso.open_sso_session(
            _gov(request),
            claimed,  # type: ignore[arg-type]  # checked by roster_name
            issuer=issuer,
            subject=str(claims["sub"]),
            now=now(),
            hours=SESSION_HOURS,
        )
    except InvalidInput as exc:
        raise SsoRefused(
            "name_claim",
            f"the ID token's {config.name_claim} claim names no person: {exc}",
            400,
        ) from None
    except NotEnrolled as exc:
        raise SsoRefused("not_enrolled", str(exc), 403) from None
    except GovernanceError as exc:  # NotInRoster
        raise SsoRefused("not_in_roster", str(exc), 403) from None


def _kept(request: Request) -> dict:
    """The login's state, nonce, verifier and next path from the state cookie."""
    sealed = request.cookies.get(STATE_COOKIE, "")
    if not sealed:
        raise SsoRefused(
            "state",
            "this browser started no single sign-on here (no login state cookie, or it "
            f"expired after {STATE_SECONDS // 60} minutes): start again from the login page",
        )
    try:
        kept = json.loads(_gov(request).keyring.decrypt(STATE_PURPOSE, sealed))
    except (ConfigError, ValueError):
        raise SsoRefused(
            "state", "the login state cookie is not one this server made: start again"
        ) from None
    if int(kept.get("until", 0)) < now().timestamp():
        raise SsoRefused("state", "the login took too long: start again from the login page")
    return kept


def _issuer_of(request: Request) -> str:
    return _gov(request).settings.oidc_issuer


async def _refused(
    request: Request, refusal: SsoRefused, *, issuer: str, claims: dict | None = None
) -> HTMLResponse:
    """The page naming the problem, and `person.sso_refused` on the trail."""
    claims = claims or {}
    settings = _gov(request).settings
    await run_in_threadpool(
        sso.record_refusal,
        _gov(request),
        reason=refusal.reason,
        error=str(refusal),
        issuer=issuer,
        subject=claims.get("sub"),
        claimed=claims.get(settings.oidc_name_claim),
        now=now(),
    )
    response = error_page(request, refusal.status, "Single sign-on refused", str(refusal))
    response.delete_cookie(STATE_COOKIE, path=STATE_PATH)
    return response

"""Cross-site request forgery: every console POST carries an HMAC of its session token.

The token is bound to the session (a new login, a new token) and keyed under its own
purpose, so it cannot be made without the server's key nor reused across sessions.
"""

from __future__ import annotations

import hmac

from fastapi import Request

from governance.bootstrap import Governance
from governance.server.console.forms import form_fields
from governance.server.console.web_session import gov_of, session_token

PURPOSE = "console-csrf"
FIELD = "csrf"
HEADER = "X-CSRF-Token"


class CsrfRefused(Exception):
    """A POST without a valid CSRF token: refused 403 with a page naming the problem."""


def csrf_token(gov: Governance, session_token: str) -> str:
    """The CSRF token of one session: an HMAC of its token under the console-csrf key."""
    return gov.keyring.mac(PURPOSE, session_token)


async def require_csrf(request: Request) -> None:
    """Refuse the request unless its `csrf` form field or X-CSRF-Token header is valid."""
    sent = request.headers.get(HEADER, "") or (await form_fields(request)).get(FIELD, "")
    if not sent:
        raise CsrfRefused("the form carried no CSRF token: reload the page and submit it again")
    token = session_token(request)
    if token is None or not hmac.compare_digest(csrf_token(gov_of(request), token), sent):
        raise CsrfRefused(
            "the form's CSRF token does not match your session (it may be from an older "
            "login or another site): reload the page and submit it again"
        )


# Before login there is no session to bind the token to, so the login form binds it to a
# random nonce in its own short-lived cookie: a forged cross-site login (logging the victim
# in as the attacker) lacks the cookie's nonce, so its token cannot match.
LOGIN_COOKIE = "governance_login"


def login_token(gov: Governance, nonce: str) -> str:
    """The login form's CSRF token: an HMAC of the login cookie's nonce."""
    return gov.keyring.mac(PURPOSE, f"login:{nonce}")


def check_login_token(request: Request, sent: str) -> None:
    """CsrfRefused unless `sent` matches the nonce of the browser's login cookie."""
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    if not nonce or not sent:
        raise CsrfRefused(
            "the login form carried no valid CSRF token (or your browser refused its cookie): "
            "open the login page again and submit it from there"
        )
    if not hmac.compare_digest(login_token(gov_of(request), nonce), sent):
        raise CsrfRefused(
            "the login form's CSRF token does not match this browser: open the login page "
            "again and submit it from there"
        )

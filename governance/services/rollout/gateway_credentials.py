"""Short-lived credentials that open the gateway's privileged requests to key holders only.

Two requests reach past what routing publishes: a blue/green smoke test addressing a slot
directly (its candidate serves no user yet), and reading an endpoint's full routing (its
bucketing seed, flag rules, who changed it and why). Each needs a credential in the
`X-Governance-Credential` header: `EXPIRES.MAC`, where EXPIRES is a Unix time and MAC an
HMAC under a key derived from the secret key file over the request's scope and EXPIRES.
The smoke test and trusted infrastructure hold the key; a client of the gateway does not.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from governance.keyring import Keyring

CREDENTIAL_HEADER = "X-Governance-Credential"
PURPOSE = "gateway-credential"
LIFETIME = timedelta(minutes=5)


def smoke_scope(endpoint: str, slot: str) -> str:
    """The scope of a smoke test's request to one slot of one endpoint."""
    return f"smoke {endpoint} {slot}"


def routing_scope(endpoint: str) -> str:
    """The scope of reading one endpoint's full routing."""
    return f"routing {endpoint}"


def mint(keyring: Keyring, scope: str, now: datetime, lifetime: timedelta = LIFETIME) -> str:
    """A credential for `scope`, valid from `now` for `lifetime`."""
    expires = int((now + lifetime).timestamp())
    return f"{expires}.{keyring.mac(PURPOSE, _message(scope, str(expires)))}"


def _message(scope: str, expires: str) -> str:
    return f"{scope}\n{expires}"


def credential_problem(keyring: Keyring, scope: str, value: str | None, now: datetime) -> str:
    """'' when `value` is a valid credential for `scope` at `now`, else what is wrong with it."""
    if not value:
        return f"none was sent (header {CREDENTIAL_HEADER})"
    expires, _, mac = value.partition(".")
    if not expires.isdigit() or not mac:
        return f"the {CREDENTIAL_HEADER} header is malformed (expected EXPIRES.MAC)"
    if not keyring.check_mac(PURPOSE, _message(scope, expires), mac):
        return f"the {CREDENTIAL_HEADER} header does not verify for {scope!r}"
    if int(expires) <= now.timestamp():
        return f"the credential expired at {datetime.fromtimestamp(int(expires), UTC).isoformat()}"
    if int(expires) > (now + 2 * LIFETIME).timestamp():
        return f"the credential outlives the {int(2 * LIFETIME.total_seconds())} s accepted"
    return ""

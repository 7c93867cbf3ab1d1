"""Client keys of the gateway: created and revoked by an admin, stored as sha256, sealed by MAC.

Predictions, outcomes and prompt outcomes come from client applications, and outcomes drive
canary verdicts, A/B results and the accuracy check that retires models: whoever may post
them steers governed decisions. So each application gets its own key, scoped to endpoints
and routes. The key is shown once; the database keeps its sha256, and a MAC over the row
(keyring purpose `client-key-row`) made when it was created, so a row inserted or widened by
a database writer without the secret key opens nothing. A revocation is an audit event as
well as a column: clearing `revoked_at` brings no key back.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from governance.bootstrap import Governance
from governance.domain.audit import canonical_json, format_ts
from governance.domain.clients import (
    ALL_ENDPOINTS,
    ENDPOINT_ROUTES,
    KEY_ID,
    check_app_name,
    check_routes,
)
from governance.domain.errors import InvalidInput, NotFound
from governance.domain.identity import VerifiedActor
from governance.keyring import Keyring
from governance.services.trust.roles import ADMIN_ROLE, require_role
from governance.store.client_keys import REVOKED_EVENT, StoredClientKey

ROW_PURPOSE = "client-key-row"
KEY_PREFIX = "gk_"
CREATED_EVENT = "client.key_created"
Status = Literal["live", "revoked", "not genuine"]


class IssuedKey(BaseModel):
    """What `create` hands back: the key, shown only here, and what it opens."""

    model_config = ConfigDict(frozen=True)

    key: str
    id: str
    app: str
    endpoints: tuple[str, ...]
    routes: tuple[str, ...]
    created_at: datetime


class KeyRecord(BaseModel):
    """A listed key: its row and whether it opens anything now."""

    model_config = ConfigDict(frozen=True)

    key: StoredClientKey
    status: Status


def key_hash(key: str) -> str:
    """The stored form of a key: its sha256 (a key is 256 random bits, so no salt is needed)."""
    return hashlib.sha256(key.encode()).hexdigest()


def _row_text(key: StoredClientKey) -> str:
    """The sealed fields: everything `create` decides, nothing that changes later (revoked)."""
    return canonical_json(
        {
            "app": key.app,
            "created_at": format_ts(key.created_at),
            "created_by": key.created_by,
            "endpoints": list(key.endpoints),
            "id": key.id,
            "key_hash": key.key_hash,
            "routes": list(key.routes),
        }
    )


def is_genuine(keyring: Keyring, key: StoredClientKey) -> bool:
    """True when the row is exactly as `create` sealed it (a row with no MAC is not)."""
    mac = key.mac or ""
    # compare_digest refuses non-ASCII text; a MAC holding such text is forged anyway.
    return mac.isascii() and keyring.check_mac(ROW_PURPOSE, _row_text(key), mac)


def _endpoints(gov: Governance, given: list[str], routes: tuple[str, ...]) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(e.strip() for e in given))
    if not ENDPOINT_ROUTES & set(routes):
        if names:
            raise InvalidInput("a key for the prompts route only is scoped to no endpoint")
        return ()
    if not names or "" in names:
        raise InvalidInput(
            f"name the endpoint(s) the key may call (--endpoint NAME), or {ALL_ENDPOINTS!r} for all"
        )
    if ALL_ENDPOINTS in names:
        if len(names) > 1:
            raise InvalidInput(f"{ALL_ENDPOINTS!r} already means every endpoint: name no other")
        return names
    with gov.store.read() as tx:
        unknown = [n for n in names if tx.routing.find_endpoint(n) is None]
    if unknown:
        raise NotFound(
            f"unknown endpoint(s) {', '.join(unknown)}: a key is scoped to existing ones"
        )
    return tuple(sorted(names))


def create(
    gov: Governance,
    app: str,
    *,
    endpoints: list[str],
    routes: list[str],
    actor: VerifiedActor,
    now: datetime,
) -> IssuedKey:
    """A new key for `app`, scoped to `endpoints` and `routes`; an admin's audited act."""
    require_role(gov, actor, ADMIN_ROLE, f"creating a client key for {app}")
    app = check_app_name(app)
    scoped_routes = check_routes(routes)
    scoped = _endpoints(gov, endpoints, scoped_routes)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = StoredClientKey(
        id="ck_" + secrets.token_hex(8),
        app=app,
        key_hash=key_hash(key),
        endpoints=scoped,
        routes=scoped_routes,
        created_by=actor.name,
        created_at=now,
    )
    row = row.model_copy(update={"mac": gov.keyring.mac(ROW_PURPOSE, _row_text(row))})
    with gov.store.write() as tx:
        tx.client_keys.add(row)
        # Never the key, nor its hash: the trail names the key by its id.
        tx.audit.append(
            CREATED_EVENT,
            actor=actor.name,
            now=now,
            details={
                "key_id": row.id,
                "app": app,
                "endpoints": list(scoped),
                "routes": list(scoped_routes),
            },
        )
    return IssuedKey(
        key=key, id=row.id, app=app, endpoints=scoped, routes=scoped_routes, created_at=now
    )


def keys(gov: Governance) -> list[KeyRecord]:
    """Every key, with whether it opens anything now (live, revoked, or not genuine)."""
    with gov.store.read() as tx:
        rows = tx.client_keys.all()
        revoked = tx.client_keys.revoked_in_trail()
    return [KeyRecord(key=row, status=_status(gov.keyring, row, revoked)) for row in rows]


def _status(keyring: Keyring, row: StoredClientKey, revoked: set[str]) -> Status:
    if not is_genuine(keyring, row):
        return "not genuine"
    if row.revoked_at is not None or row.id in revoked:
        return "revoked"
    return "live"


def revoke(gov: Governance, target: str, *, actor: VerifiedActor, now: datetime) -> list[str]:
    """Revoke one key (by id) or every live key of an application; an admin's audited act.

    Returns the ids revoked; NotFound when nothing is named, InvalidInput when nothing named
    is still live.
    """
    require_role(gov, actor, ADMIN_ROLE, f"revoking the client key(s) of {target}")
    by_id = KEY_ID.match(target) is not None
    with gov.store.write() as tx:
        revoked_before = tx.client_keys.revoked_in_trail()
        if by_id:
            found = tx.client_keys.find(target)
            named = [] if found is None else [found]
        else:
            named = tx.client_keys.of_app(check_app_name(target))
        if not named:
            what = "client key" if by_id else "client application with keys named"
            raise NotFound(f"no {what} {target}")
        live = [k for k in named if k.revoked_at is None and k.id not in revoked_before]
        if not live:
            raise InvalidInput(f"every client key of {target} is revoked already")
        for key in live:
            tx.client_keys.revoke(key.id, by=actor.name, now=now)
            tx.audit.append(
                REVOKED_EVENT,
                actor=actor.name,
                now=now,
                details={"key_id": key.id, "app": key.app},
            )
    return [key.id for key in live]

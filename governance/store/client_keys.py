"""Repository for the gateway's client keys (sha256 only) and the trail's revocations of them."""

from __future__ import annotations

import json
from datetime import datetime

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlalchemy.engine import Connection

from governance.store.tables_rollout import client_keys
from governance.store.tables_trust import audit_events

kc = client_keys.c
REVOKED_EVENT = "client.key_revoked"


class StoredClientKey(BaseModel):
    """A client_keys row: `key_hash` is the sha256 of the key only its application holds."""

    model_config = ConfigDict(frozen=True)

    id: str
    app: str
    key_hash: str
    endpoints: tuple[str, ...]
    routes: tuple[str, ...]
    created_by: str
    created_at: datetime
    revoked_by: str | None = None
    revoked_at: datetime | None = None
    # HMAC of the row as `clients create` made it (services/rollout/client_keys.py).
    mac: str | None = None


def _key(row) -> StoredClientKey:
    data = dict(row._mapping)
    # JSON columns come back as lists; a forged row may hold anything, so coerce gently.
    for name in ("endpoints", "routes"):
        value = data[name]
        data[name] = tuple(str(v) for v in value) if isinstance(value, list) else ()
    return StoredClientKey(**data)


class ClientKeyRepository:
    """Stores, finds, lists and revokes client keys."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, key: StoredClientKey) -> None:
        """Insert a new key row."""
        values = key.model_dump()
        values["endpoints"], values["routes"] = list(key.endpoints), list(key.routes)
        self.conn.execute(client_keys.insert().values(**values))

    def find(self, key_id: str) -> StoredClientKey | None:
        """The key with this id, or None."""
        row = self.conn.execute(sa.select(client_keys).where(kc.id == key_id)).first()
        return None if row is None else _key(row)

    def of_app(self, app: str) -> list[StoredClientKey]:
        """Every key of one application, oldest first."""
        query = sa.select(client_keys).where(kc.app == app).order_by(kc.created_at, kc.id)
        return [_key(row) for row in self.conn.execute(query)]

    def all(self) -> list[StoredClientKey]:
        """Every key row, by application then age."""
        query = sa.select(client_keys).order_by(kc.app, kc.created_at, kc.id)
        return [_key(row) for row in self.conn.execute(query)]

    def revoke(self, key_id: str, *, by: str, now: datetime) -> bool:
        """Mark a live key revoked; False if it is unknown or was revoked already."""
        done = self.conn.execute(
            client_keys.update()
            .where(kc.id == key_id, kc.revoked_at.is_(None))
            .values(revoked_by=by, revoked_at=now)
        )
        return done.rowcount == 1

    def revoked_in_trail(self) -> set[str]:
        """Ids of the keys a `client.key_revoked` event names, whatever their rows say.

        Clearing `revoked_at` must not bring a key back, so the trail is read as well; a
        forged event could only revoke a key (a denial), never open one.
        """
        query = sa.select(audit_events.c.details).where(audit_events.c.event_type == REVOKED_EVENT)
        found = set()
        for (details,) in self.conn.execute(query):
            try:
                key_id = json.loads(details).get("key_id")
            except (ValueError, AttributeError):
                continue
            if isinstance(key_id, str):
                found.add(key_id)
        return found

"""Client keys at the gateway: who is calling, and whether their key opens this route.

Every predict, outcome and prompt request names its client application with a key
(`Authorization: Bearer KEY`, or `X-API-Key: KEY`). The check costs one sha256 and a dict
lookup: `ClientKeyCache` holds the genuine, unrevoked keys by hash and re-reads the table
(and the trail's revocations) every `gateway_key_poll_seconds`, so a revoked key is refused
by every gateway process within that interval. A key the cache does not know makes it
re-read in a worker thread (at most one read every MISS_REFRESH_SECONDS), so a key created
a moment ago works without waiting for the poll, and a flood of wrong keys costs the
database a few reads a second at most.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from starlette.concurrency import run_in_threadpool

from governance.domain.clients import scope_problem
from governance.keyring import Keyring
from governance.services.rollout.client_keys import is_genuine, key_hash
from governance.serving.errors import ClientKeyRefused, ClientOutOfScope
from governance.serving.polling import Poller
from governance.store.unit_of_work import Store

log = logging.getLogger(__name__)

API_KEY_HEADER = "X-API-Key"
AUTHORIZATION_HEADER = "Authorization"
MISS_REFRESH_SECONDS = 0.25
WRONG = "wrong client key: no client key has this value"
HOW = (
    f"send it as `{AUTHORIZATION_HEADER}: Bearer KEY` or `{API_KEY_HEADER}: KEY`"
    " (an admin creates one with `governance clients create APP`)"
)


@dataclass(frozen=True)
class Client:
    """A caller whose key checked out: its application, key id and scope."""

    app: str
    key_id: str
    endpoints: tuple[str, ...]
    routes: tuple[str, ...]

    def scope_problem(self, route: str, endpoint: str | None) -> str:
        """'' when this key may call `route` on `endpoint`; else why not."""
        return scope_problem(self.app, self.endpoints, self.routes, route, endpoint)


def _shown(ts: datetime) -> str:
    return ts.isoformat(timespec="seconds")


class ClientKeyCache(Poller):
    """Key hash -> Client for every live key; key hash -> why for refused rows."""

    poll_name = "client-key-poll"
    keeps = "the client keys it holds"

    def __init__(self, store: Store, keyring: Keyring, interval: float) -> None:
        super().__init__(interval)
        self.store = store
        self.keyring = keyring
        self.live: dict[str, Client] = {}
        self.refused: dict[str, tuple[str, str]] = {}
        self.last_refresh = self.last_refresh_started = 0.0
        self._refreshing = threading.Lock()
        self._miss = threading.Lock()
        # (id, mac) of rows already found not genuine: each is logged once.
        self._warned: set[tuple[str, str | None]] = set()

    def refresh(self) -> None:
        """Re-read every key row and the trail's revocations; swap the maps in whole."""
        with self._refreshing:
            self.last_refresh_started = time.monotonic()
            with self.store.read() as tx:
                rows = tx.client_keys.all()
                revoked = tx.client_keys.revoked_in_trail()
            live: dict[str, Client] = {}
            refused: dict[str, tuple[str, str]] = {}
            for row in rows:
                if not is_genuine(self.keyring, row):
                    if (row.id, row.mac) not in self._warned:
                        self._warned.add((row.id, row.mac))
                        log.warning(
                            "client key %s of %s refused: its row does not carry the MAC"
                            " `governance clients create` made",
                            row.id,
                            row.app,
                        )
                    refused[row.key_hash] = (
                        "not_genuine",
                        f"the client key {row.id} of {row.app} is not genuine (its record does"
                        " not carry the MAC `governance clients create` made)",
                    )
                elif row.revoked_at is not None or row.id in revoked:
                    when = f" at {_shown(row.revoked_at)}" if row.revoked_at else ""
                    refused[row.key_hash] = (
                        "revoked",
                        f"the client key {row.id} of {row.app} was revoked{when}",
                    )
                else:
                    live[row.key_hash] = Client(row.app, row.id, row.endpoints, row.routes)
            self.live, self.refused = live, refused
            self.last_refresh = time.monotonic()

    def find(self, digest: str) -> Client | tuple[str, str] | None:
        """The Client of a key hash, (reason, message) for a refused row, None if unknown."""
        found = self.live.get(digest)
        return found if found is not None else self.refused.get(digest)

    def refresh_for_miss(self, asked_at: float) -> None:
        """Re-read the keys for a request that presented an unknown one at `asked_at`.

        Blocks (in a worker thread) until a read that began after `asked_at` has finished,
        at most one read per MISS_REFRESH_SECONDS: a new key is found at once, and guessing
        keys costs the guesser time and the database a few reads a second at most.
        """
        with self._miss:
            if self.last_refresh_started > asked_at:
                with self._refreshing:  # a read began since: wait for it to end
                    return
            wait = self.last_refresh + MISS_REFRESH_SECONDS - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                self.refresh()
            except Exception as exc:  # database down: answer from what is held
                log.debug("client keys: refresh on a miss failed: %s", exc)


def presented_key(headers) -> str | None:
    """The key a request presents; ClientKeyRefused for a malformed or doubled header."""
    bearer = headers.get(AUTHORIZATION_HEADER)
    api_key = headers.get(API_KEY_HEADER)
    key = None
    if bearer is not None:
        scheme, _, value = bearer.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise ClientKeyRefused(f"the {AUTHORIZATION_HEADER} header must be `Bearer KEY`")
        key = value.strip()
    if api_key is not None:
        if key is not None and api_key.strip() != key:
            raise ClientKeyRefused(
                f"two different client keys were sent ({AUTHORIZATION_HEADER} and"
                f" {API_KEY_HEADER}): send one"
            )
        key = api_key.strip()
    return key or None


class ClientGuard:
    """The gateway's door for client applications: authenticate, check scope, count refusals."""

    def __init__(
        self, cache: ClientKeyCache, required: bool, on_refused: Callable[[str], None]
    ) -> None:
        self.cache = cache
        self.required = required
        self.on_refused = on_refused

    def announce(self, gauge) -> None:
        """Say whether keys are required: the gauge (1 or 0), and a WARNING when they are not."""
        gauge.set(1 if self.required else 0)
        if not self.required:
            # The gateway's logger, so the warning reads as the gateway's own at start.
            logging.getLogger("governance.serving.gateway").warning(
                "GOVERNANCE_GATEWAY_REQUIRE_KEYS is false: predict, outcome and prompt requests"
                " without a client key are served unattributed, so anyone who can reach this"
                " gateway can post the outcomes that canary, A/B and retirement decisions count"
            )

    async def check(self, headers, route: str, endpoint: str | None) -> Client | None:
        """The calling client (None: no key, with keys not required); refusals raise.

        Missing, wrong, revoked or forged keys raise ClientKeyRefused (401); a key outside
        its scope raises ClientOutOfScope (403). Each refusal is counted by its reason.
        """
        try:
            key = presented_key(headers)
        except ClientKeyRefused:
            self.on_refused("malformed")
            raise
        if key is None:
            if not self.required:
                return None
            self.on_refused("missing")
            raise ClientKeyRefused(f"no client key: {HOW}")
        digest, asked_at = key_hash(key), time.monotonic()
        found = self.cache.find(digest)
        if found is None:  # a key created since the last poll, or a wrong one
            await run_in_threadpool(self.cache.refresh_for_miss, asked_at)
            found = self.cache.find(digest) or ("wrong", WRONG)
        if not isinstance(found, Client):
            reason, message = found
            self.on_refused(reason)
            raise ClientKeyRefused(message)
        self.require_scope(found, route, endpoint)
        return found

    def require_scope(self, client: Client | None, route: str, endpoint: str | None) -> None:
        """Nothing if `client` (when there is one) may call `route` on `endpoint`; else 403."""
        if client is None:
            return
        problem = client.scope_problem(route, endpoint)
        if problem:
            self.on_refused("route_scope" if route not in client.routes else "endpoint_scope")
            raise ClientOutOfScope(problem)

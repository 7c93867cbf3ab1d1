"""The live routing of every endpoint, held in memory and refreshed by a background poll.

Each poll is one cheap query (the newest spec number per endpoint); only endpoints whose
number moved are read again. Models of a new spec are loaded before the spec is swapped in,
so no request waits on a load. When the database cannot be reached, the last routing stays.

A new spec goes live only if `check` finds nothing wrong with it (the gateway checks its
seal: services/rollout/spec_seals.py). A refused spec is logged once, counted by
`on_refused`, and skipped: the last good spec of the endpoint stays live, and an endpoint
that never had one in this process answers 503 naming the refusal.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from governance.domain.rollout import Endpoint, SpecVersion
from governance.serving.errors import NotReady, SpecRefused, UnknownEndpoint
from governance.serving.polling import Poller
from governance.store.unit_of_work import Store, Transaction

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveRoute:
    """An endpoint and the spec it serves under now."""

    endpoint: Endpoint
    spec: SpecVersion


Check = Callable[[Transaction, Endpoint, SpecVersion], str]
"""Why a spec must not go live ('' when it may)."""


class RoutingCache(Poller):
    """Endpoint name -> LiveRoute, replaced whole on each change so readers need no lock."""

    poll_name = "routing-poll"
    keeps = "the last routing"

    def __init__(
        self,
        store: Store,
        interval: float,
        prepare: Callable[[LiveRoute], None] = lambda route: None,
        check: Check = lambda tx, endpoint, spec: "",
        on_refused: Callable[[str], None] = lambda endpoint: None,
    ) -> None:
        super().__init__(interval)
        self.store = store
        # Called for each changed route before it goes live (loads its models).
        self.prepare = prepare
        self.check = check
        self.on_refused = on_refused
        self.routes: dict[str, LiveRoute] = {}
        # Endpoint -> (number, reason, fingerprint) of its newest refused spec; the
        # fingerprint (row id, content hash, MAC) makes each refusal logged once, and lets a
        # later row that reuses a deleted forgery's number be checked afresh.
        self.refused: dict[str, tuple[int, str, object]] = {}
        self.loaded = False
        self.last_success = 0.0

    def get(self, name: str) -> LiveRoute:
        """The endpoint's live route; UnknownEndpoint naming it if there is none."""
        found = self.routes.get(name)
        if found is None:
            if name in self.refused:
                number, reason, _ = self.refused[name]
                raise SpecRefused(
                    f"endpoint {name!r} is not served: its routing spec {number} was refused"
                    f" ({reason}) and this gateway has no earlier good spec of it"
                )
            if not self.loaded:
                raise NotReady("the gateway has not loaded its routing yet")
            raise UnknownEndpoint(f"unknown endpoint {name!r}")
        return found

    def refresh(self) -> list[str]:
        """One poll: reload the endpoints whose spec number changed; their names."""
        with self.store.read() as tx:
            numbers = tx.routing.latest_numbers()
            changed: dict[str, LiveRoute] = {}
            for name, number in numbers.items():
                current = self.routes.get(name)
                if current is not None and current.spec.number == number:
                    continue
                endpoint = current.endpoint if current else tx.routing.find_endpoint(name)
                if endpoint is None:
                    continue
                spec, fingerprint, problem = self._read_spec(tx, endpoint, name)
                if current is not None and number < current.spec.number:
                    # Serving an older spec again would undo whatever replaced it.
                    problem = (
                        f"its number is below spec {current.spec.number}, which this gateway"
                        " serves: specs are only appended, so newer ones were deleted"
                    )
                if problem:
                    if self.refused.get(name, (None, "", None))[2] != fingerprint:
                        self._refuse(name, number, problem, fingerprint)
                elif spec is not None:
                    changed[name] = LiveRoute(endpoint, spec)
        for route in changed.values():
            try:
                self.prepare(route)
            except Exception as exc:  # a model that cannot load answers 503 when asked for
                log.warning(
                    "endpoint %s: cannot prepare spec %s: %s",
                    route.endpoint.name,
                    route.spec.number,
                    exc,
                )
        self.refused = {
            name: refusal
            for name, refusal in self.refused.items()
            if name in numbers and name not in changed
        }
        kept = {name: r for name, r in self.routes.items() if name in numbers}
        self.routes = {**kept, **changed}
        self.loaded = True
        self.last_error = None
        self.last_success = time.monotonic()
        return sorted(changed)

    def _read_spec(
        self, tx: Transaction, endpoint: Endpoint, name: str
    ) -> tuple[SpecVersion | None, object, str]:
        """The endpoint's newest spec, its fingerprint, and why it must not go live ('' if
        it may); a spec refused before with the same fingerprint is not checked again."""
        try:
            spec = tx.routing.latest_spec(name)
        except ValueError as exc:  # pydantic: the stored JSON is no routing spec at all
            first = str(exc).splitlines()[0]
            return None, first, f"its content is not a valid routing spec: {first}"
        if spec is None:
            return None, None, ""
        fingerprint = (spec.number, spec.id, spec.spec.digest(), spec.mac)
        refused = self.refused.get(name)
        if refused is not None and refused[2] == fingerprint:
            return spec, fingerprint, refused[1]
        return spec, fingerprint, self.check(tx, endpoint, spec)

    def _refuse(self, name: str, number: int, reason: str, fingerprint: object) -> None:
        """Keep the last good spec live; log and count the refusal once."""
        self.refused[name] = (number, reason, fingerprint)
        kept = self.routes.get(name)
        serving = f"still serving spec {kept.spec.number}" if kept else "not serving it"
        log.warning("endpoint %s: routing spec %s refused, %s: %s", name, number, serving, reason)
        self.on_refused(name)

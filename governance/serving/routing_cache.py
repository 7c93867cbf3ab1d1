"""The live routing of every endpoint, held in memory and refreshed by a background poll.

Each poll is one cheap query (the newest spec number per endpoint); only endpoints whose
number moved are read again. Models of a new spec are loaded before the spec is swapped in,
so no request waits on a load. When the database cannot be reached, the last routing stays.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from governance.domain.rollout import Endpoint, SpecVersion
from governance.serving.errors import NotReady, UnknownEndpoint
from governance.serving.polling import Poller
from governance.store.unit_of_work import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveRoute:
    """An endpoint and the spec it serves under now."""

    endpoint: Endpoint
    spec: SpecVersion


class RoutingCache(Poller):
    """Endpoint name -> LiveRoute, replaced whole on each change so readers need no lock."""

    poll_name = "routing-poll"
    keeps = "the last routing"

    def __init__(
        self,
        store: Store,
        interval: float,
        prepare: Callable[[LiveRoute], None] = lambda route: None,
    ) -> None:
        super().__init__(interval)
        self.store = store
        # Called for each changed route before it goes live (loads its models).
        self.prepare = prepare
        self.routes: dict[str, LiveRoute] = {}
        self.loaded = False
        self.last_success = 0.0

    def get(self, name: str) -> LiveRoute:
        """The endpoint's live route; UnknownEndpoint naming it if there is none."""
        found = self.routes.get(name)
        if found is None:
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
                spec = tx.routing.latest_spec(name)
                if endpoint is not None and spec is not None:
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
        kept = {name: r for name, r in self.routes.items() if name in numbers}
        self.routes = {**kept, **changed}
        self.loaded = True
        self.last_error = None
        self.last_success = time.monotonic()
        return sorted(changed)

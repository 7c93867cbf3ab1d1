"""An OpenFeature provider over endpoint routing, so applications ask the standard flag API.

The flag "ENDPOINT.version" resolves to the model version `route()` picks for the
evaluation context's targeting key and attributes: the same answer the gateway would give,
with OpenFeature's reason (TARGETING_MATCH, SPLIT or STATIC) and the decision's variant.

Routing comes from a source: `SpecSource` reads the governance database, `HttpSpecSource`
a gateway's `GET /v1/endpoints/{name}`. Both cache each endpoint for a short TTL (routing
changes take effect within a second, as the gateway promises) and keep answering from the
last routing they read while their backend is unreachable.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import (
    FlagNotFoundError,
    GeneralError,
    ParseError,
    TargetingKeyMissingError,
    TypeMismatchError,
)
from openfeature.flag_evaluation import FlagResolutionDetails, Reason
from openfeature.provider import AbstractProvider, Metadata
from pydantic import ValidationError

from governance.bootstrap import Governance, open_governance
from governance.domain.rollout import Decision, NoRoute, RoutingSpec, route
from governance.domain.rollout import Reason as RouteReason
from governance.keyring import Keyring
from governance.services.rollout.gateway_credentials import CREDENTIAL_HEADER, mint, routing_scope
from governance.services.rollout.spec_seals import seal_problem

FLAG_SUFFIX = ".version"
DEFAULT_TTL_SECONDS = 0.5
_REASONS = {
    RouteReason.targeting_match: Reason.TARGETING_MATCH,
    RouteReason.split: Reason.SPLIT,
    RouteReason.static: Reason.STATIC,
}


@dataclass(frozen=True)
class LiveRouting:
    """What a flag is evaluated against: the endpoint's seed and its current spec."""

    endpoint: str
    seed: str
    spec_number: int
    spec: RoutingSpec


class RoutingSource(Protocol):
    """Where the provider reads an endpoint's live routing; None for an unknown endpoint."""

    def routing(self, endpoint: str) -> LiveRouting | None:
        """The endpoint's live routing, or None if no endpoint has this name."""
        ...

    def close(self) -> None:
        """Release what the source holds open."""
        ...


class _TtlCache:
    """Per-endpoint answers kept for `ttl` seconds; the last good one outlives a failure."""

    def __init__(self, load: Callable[[str], LiveRouting | None], ttl: float) -> None:
        self._load, self._ttl = load, ttl
        self._entries: dict[str, tuple[float, LiveRouting | None]] = {}
        self._lock = threading.Lock()

    def get(self, endpoint: str) -> LiveRouting | None:
        """The cached answer while fresh, else a new one from the loader."""
        now = time.monotonic()
        with self._lock:
            cached = self._entries.get(endpoint)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        try:
            fresh = self._load(endpoint)
        except Exception:
            # The gateway's rule: an unreachable backend keeps the last routing serving.
            # With nothing read yet there is nothing to fall back on, so the error stands.
            if cached is not None and cached[1] is not None:
                return cached[1]
            raise
        with self._lock:
            self._entries[endpoint] = (now, fresh)
        return fresh


class SpecSource:
    """Live routing read from the governance database, cached for a short TTL.

    As the gateway does, it answers only from a spec whose seal the key vouches for: a spec
    edited in the database is refused, and the last good routing keeps answering.
    """

    def __init__(self, gov: Governance | None = None, *, ttl: float = DEFAULT_TTL_SECONDS):
        # Opened here only when not given, and then closed by close(): whoever opens owns it.
        self._owned = gov is None
        self._gov = gov if gov is not None else open_governance()
        self._cache = _TtlCache(self._read, ttl)

    def routing(self, endpoint: str) -> LiveRouting | None:
        """The endpoint's seed and latest spec, or None if it does not exist."""
        return self._cache.get(endpoint)

    def _read(self, endpoint: str) -> LiveRouting | None:
        with self._gov.store.read() as tx:
            found = tx.routing.find_endpoint(endpoint)
            latest = tx.routing.latest_spec(endpoint) if found is not None else None
            if found is None or latest is None:
                return None
            problem = seal_problem(tx, self._gov.keyring, found.model_name, latest)
        if problem:
            raise GeneralError(f"its routing spec {latest.number} was refused: {problem}")
        return LiveRouting(endpoint, found.seed, latest.number, latest.spec)

    def close(self) -> None:
        """Close the database connections if this source opened them."""
        if self._owned:
            self._gov.close()


class HttpSpecSource:
    """Live routing read from a gateway's `GET /v1/endpoints/{name}`, cached for a short TTL.

    Expected body: {"endpoint": name, "seed": str, "spec_number": int, "spec": RoutingSpec},
    or the same with the number under "spec" and the RoutingSpec under "routing". The
    gateway answers with the seed and the spec only to a caller holding the secret key:
    given `keyring`, each fetch sends a routing credential made with it.
    """

    def __init__(
        self,
        base_url: str,
        *,
        ttl: float = DEFAULT_TTL_SECONDS,
        timeout: float = 2.0,
        client: httpx.Client | None = None,
        keyring: Keyring | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._keyring = keyring
        self._clock = clock
        self._owned = client is None
        self._client = client or httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)
        self._cache = _TtlCache(self._fetch, ttl)

    def routing(self, endpoint: str) -> LiveRouting | None:
        """The endpoint's routing as the gateway serves it, or None on a 404."""
        return self._cache.get(endpoint)

    def _fetch(self, endpoint: str) -> LiveRouting | None:
        headers = {}
        if self._keyring is not None:
            scope = routing_scope(endpoint)
            headers[CREDENTIAL_HEADER] = mint(self._keyring, scope, self._clock())
        answer = self._client.get(f"/v1/endpoints/{endpoint}", headers=headers)
        if answer.status_code == 404:
            return None
        answer.raise_for_status()
        return live_routing_from_json(endpoint, answer.json())

    def close(self) -> None:
        """Close the HTTP client if this source made it."""
        if self._owned:
            self._client.close()


def live_routing_from_json(endpoint: str, body: Any) -> LiveRouting:
    """Parse a gateway's routing body; ParseError naming what is wrong with it.

    Two shapes are read: {"seed", "spec_number", "spec": RoutingSpec} and the gateway's
    {"seed", "spec": number, "routing": RoutingSpec}; both need the endpoint's seed.
    """
    try:
        if not isinstance(body, Mapping) or body.get("endpoint") != endpoint:
            raise ValueError(f"expected the routing of {endpoint!r}")
        if "routing" in body:
            number, spec = body["spec"], body["routing"]
        else:
            number, spec = body["spec_number"], body["spec"]
        seed = body["seed"]
        if not isinstance(seed, str) or not isinstance(number, int):
            raise ValueError("the seed must be a string and the spec number an integer")
        return LiveRouting(endpoint, seed, number, RoutingSpec.model_validate(spec))
    except (KeyError, ValueError, ValidationError) as exc:
        raise ParseError(f"routing of {endpoint!r} from the gateway: {exc!r}") from None


def endpoint_of(flag_key: str) -> str:
    """The endpoint a flag key names ("ENDPOINT.version"); FlagNotFoundError otherwise."""
    # Endpoint names may contain '.', so only the suffix is split off.
    endpoint = flag_key.removesuffix(FLAG_SUFFIX)
    if endpoint == flag_key or not endpoint:
        raise FlagNotFoundError(f"flag {flag_key!r}: flags are named ENDPOINT{FLAG_SUFFIX}")
    return endpoint


class GovernanceProvider(AbstractProvider):
    """OpenFeature provider answering "ENDPOINT.version" with the version route() picks."""

    def __init__(self, source: RoutingSource) -> None:
        super().__init__()
        self.source = source

    def get_metadata(self) -> Metadata:
        """The provider's name as OpenFeature reports it."""
        return Metadata(name="governance")

    def shutdown(self) -> None:
        """Release the source's connections (OpenFeature calls this on shutdown)."""
        self.source.close()

    def resolve_string_details(
        self,
        flag_key: str,
        default_value: str,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[str]:
        """The version serving this context, its variant and why (an error raises)."""
        endpoint = endpoint_of(flag_key)
        try:
            live = self.source.routing(endpoint)
        except (ParseError, FlagNotFoundError):
            raise
        except Exception as exc:
            raise GeneralError(f"routing of {endpoint!r} unavailable: {exc}") from None
        if live is None:
            raise FlagNotFoundError(f"unknown endpoint {endpoint!r}")
        context = evaluation_context or EvaluationContext()
        # route() compares attributes as strings; converting here gives the same answers.
        attrs = {name: str(value) for name, value in context.attributes.items()}
        try:
            decision, keyed = _decide(live, context.targeting_key or None, attrs)
        except NoRoute as exc:
            raise GeneralError(str(exc)) from None
        metadata: dict[str, str | int] = {"endpoint": endpoint, "spec": live.spec_number}
        if keyed:
            metadata["bucket"] = decision.bucket
        return FlagResolutionDetails(
            value=decision.version,
            reason=_REASONS[decision.reason],
            variant=decision.variant,
            flag_metadata=metadata,
        )

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        """Refused: routing flags are strings (the version)."""
        raise _not_a_string(flag_key, "boolean")

    def resolve_integer_details(
        self, flag_key: str, default_value: int, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[int]:
        """Refused: routing flags are strings (the version)."""
        raise _not_a_string(flag_key, "integer")

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        """Refused: routing flags are strings (the version)."""
        raise _not_a_string(flag_key, "float")

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Sequence[Any] | Mapping[str, Any],
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Sequence[Any] | Mapping[str, Any]]:
        """Refused: routing flags are strings (the version)."""
        raise _not_a_string(flag_key, "object")


def _decide(live: LiveRouting, key: str | None, attrs: dict[str, str]) -> tuple[Decision, bool]:
    """route()'s decision, and whether it used a targeting key.

    Without a key, only what attributes alone decide can be answered: flags matched on org
    or attributes that come before any percentage flag, or the stable version of a spec
    that splits nothing. Anything hashed on the key raises TargetingKeyMissingError rather
    than hashing a made-up key into some bucket.
    """
    spec = live.spec
    if key is not None:
        return route(live.endpoint, live.seed, spec, key, attrs), True
    first_hashed = next((i for i, f in enumerate(spec.flags) if f.percentage), len(spec.flags))
    # Flags up to the first percentage flag, and no split: route() answers from attributes.
    keyless = spec.model_copy(
        update={"flags": spec.flags[:first_hashed], "ab": None, "canary": None, "canary_weight": 0}
    )
    splits = first_hashed < len(spec.flags) or spec.ab is not None or spec.canary is not None
    try:
        decision = route(live.endpoint, live.seed, keyless, "", attrs)
    except NoRoute:
        if not splits:
            raise
    else:
        if decision.reason is RouteReason.targeting_match or not splits:
            return decision, False
    raise TargetingKeyMissingError(
        f"endpoint {live.endpoint!r} splits traffic by targeting key: set one in the context"
    )


def _not_a_string(flag_key: str, kind: str) -> TypeMismatchError:
    return TypeMismatchError(f"flag {flag_key!r} is a string (a model version), not {kind}")

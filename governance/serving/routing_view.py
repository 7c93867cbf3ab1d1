"""What `GET /v1/endpoints/{name}` tells a client, and what it tells trusted infrastructure.

A client needs to know which model answers, which versions it may answer with, and how
traffic is split among them (the mode). It does not need the bucketing seed (with it, anyone
can choose targeting keys that land in a canary or an A/B arm), the flag rules (which orgs
and users are targeted), nor who changed the routing and why: those go only to a caller
with a routing credential (gateway_credentials.py).
"""

from __future__ import annotations

from typing import Any

from governance.domain.rollout import RoutingSpec
from governance.serving.routing_cache import LiveRoute
from governance.serving.served_versions import served_versions


def mode(spec: RoutingSpec) -> str:
    """How unflagged traffic is split: ab, canary, blue_green, stable, or none."""
    if spec.ab is not None:
        return "ab"
    if spec.canary is not None:
        return "canary"
    if spec.active_slot is not None:
        return "blue_green"
    return "stable" if spec.stable is not None else "none"


def public_routing(live: LiveRoute) -> dict[str, Any]:
    """The endpoint's name, model, spec number, production version, served versions, mode."""
    spec = live.spec.spec
    return {
        "endpoint": live.endpoint.name,
        "model": live.endpoint.model_name,
        "spec": live.spec.number,
        "production_version": spec.stable,
        "versions": list(served_versions(spec)),
        "mode": mode(spec),
    }


def full_routing(live: LiveRoute) -> dict[str, Any]:
    """The public view, plus the seed, the whole spec and its provenance."""
    spec = live.spec
    return {
        **public_routing(live),
        # The seed lets an OpenFeature provider assign exactly as this gateway does.
        "seed": live.endpoint.seed,
        "routing": spec.spec.model_dump(mode="json"),
        "changed_at": spec.created_at.isoformat(),
        "changed_by": spec.actor,
        "reason": spec.reason,
    }

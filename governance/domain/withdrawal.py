"""Taking a version out of an endpoint's routing, in favour of a successor when there is one."""

from __future__ import annotations

from governance.domain.rollout import RoutingRefused, RoutingSpec


class NothingToServe(RoutingRefused):
    """The act would leave an endpoint with no stable version, and no lead accepted that."""


def serving_versions(spec: RoutingSpec) -> set[str]:
    """Versions that answer requests: a share of traffic, or a flag (idle slots answer none)."""
    shares = spec.versions()
    return {v for v, share in shares.items() if share > 0} | {f.version for f in spec.flags}


def mentions(spec: RoutingSpec, version: str) -> bool:
    """True when the spec names the version anywhere: traffic, flags, slots or an A/B split."""
    return version in spec.versions()


def withdraw(
    spec: RoutingSpec, version: str, successor: str | None, *, keep_stable: bool = False
) -> RoutingSpec:
    """The spec without `version`: its traffic goes to `successor`, its flags and idle slot go.

    A canary of it stops, an A/B split naming it ends, and where it was stable the successor
    takes over. With no successor, `keep_stable` keeps it as the stable version (in its
    active slot) so the endpoint still answers; without it the endpoint has no stable version.
    """
    stable = spec.stable
    if stable == version and successor is None and keep_stable:
        successor = version
    if stable == version:
        stable = successor
    slots = {
        slot: (stable if slot == spec.active_slot and held == version else held)
        for slot, held in spec.slots.items()
    }
    gone = None if stable == version else version  # a kept stable keeps its active slot
    slots = {slot: (None if held == gone else held) for slot, held in slots.items()}
    active = spec.active_slot if spec.active_slot and slots.get(spec.active_slot) else None
    canary = None if spec.canary in (version, stable) else spec.canary
    ab = None if spec.ab is not None and version in spec.ab.variants.values() else spec.ab
    return spec.model_copy(
        update={
            "stable": stable,
            "canary": canary,
            "canary_weight": spec.canary_weight if canary else 0,
            "slots": slots,
            "active_slot": active,
            "flags": [f for f in spec.flags if f.version != version],
            "ab": ab,
        }
    )

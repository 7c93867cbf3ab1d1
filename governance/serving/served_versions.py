"""Which versions an endpoint's live routing may answer with now, and why another is not one.

A versioned OIP path (`/v2/models/{endpoint}/versions/{version}/...`) serves a version only
if `route()` could answer some request with it under the live spec: a flag's version, an
A/B arm with a share, or, when no A/B test runs, the canary and the stable version (named
by its active blue/green slot when it has one). An idle slot's version is not served.
"""

from __future__ import annotations

from governance.domain.models import semver_key
from governance.domain.rollout import RoutingSpec
from governance.serving.errors import VersionNotServed


def served_versions(spec: RoutingSpec) -> dict[str, list[str]]:
    """Version -> the variants `route()` can answer with it under `spec`, in semver order."""
    ways: dict[str, list[str]] = {}
    for rule in spec.flags:
        ways.setdefault(rule.version, []).append(f"flag:{rule.name}")
    if spec.ab is not None:
        # The split's weights add up to 100: with an A/B test, canary and stable never answer.
        for variant in sorted(spec.ab.variants):
            if spec.ab.weights[variant] > 0:
                ways.setdefault(spec.ab.variants[variant], []).append(variant)
    else:
        if spec.canary is not None:
            ways.setdefault(spec.canary, []).append("canary")
        if spec.stable is not None:
            ways.setdefault(spec.stable, []).append(spec.active_slot or "stable")
    return {version: ways[version] for version in sorted(ways, key=semver_key)}


def check_served(endpoint: str, version: str, spec: RoutingSpec) -> list[str]:
    """The variants serving `version` now; VersionNotServed saying what is served instead."""
    ways = served_versions(spec)
    if version in ways:
        return ways[version]
    serving = ", ".join(f"{v} ({', '.join(variants)})" for v, variants in ways.items())
    reason = f"version {version} is not served by endpoint {endpoint!r}: it serves " + (
        serving or "no version yet"
    )
    for slot, held in spec.slots.items():
        if held == version and slot != spec.active_slot:
            reason += f"; {version} waits in the idle {slot} slot"
    if spec.ab is not None and version in (spec.stable, spec.canary):
        reason += f"; A/B test {spec.ab.experiment_id} takes all unflagged traffic"
    raise VersionNotServed(reason)

"""What served an endpoint at a time: the spec, its versions and weights, and who approved them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from governance.bootstrap import Governance
from governance.domain.errors import InvalidInput
from governance.domain.rollout import SpecVersion
from governance.services.rollout.routing import get_endpoint_in


@dataclass(frozen=True)
class VersionApproval:
    """One approved promotion of a served version: target, approvers and policy version."""

    request_id: str
    target_stage: str
    approvers: list[tuple[str, str]]  # (person, role)
    policy_version: str
    approved_at: datetime | None


@dataclass(frozen=True)
class ServedVersion:
    """A version the spec could route to, its share of unflagged traffic, and its approvals."""

    version: str
    weight: int
    roles: list[str]
    approvals: list[VersionApproval] = field(default_factory=list)


@dataclass(frozen=True)
class ServedAt:
    """The answer to `endpoints at`: which spec was in force at `when`, and what it served."""

    endpoint: str
    model: str
    when: datetime
    spec: SpecVersion
    versions: list[ServedVersion]


def _roles(spec, version: str) -> list[str]:
    """How a version takes part in the spec: stable, canary, slot, A/B variant or flag."""
    roles = []
    if spec.stable == version:
        roles.append("stable")
    if spec.canary == version:
        roles.append(f"canary {spec.canary_weight}%")
    roles += [f"{slot} slot" for slot, held in spec.slots.items() if held == version]
    if spec.ab is not None:
        roles += [f"A/B {name}" for name, held in spec.ab.variants.items() if held == version]
    roles += [f"flag {rule.name}" for rule in spec.flags if rule.version == version]
    return roles


def served_at(gov: Governance, name: str, when: datetime) -> ServedAt:
    """The routing in force at `when`; refused for a time before the endpoint existed."""
    if when.tzinfo is None:
        raise InvalidInput("give the time with a zone, e.g. 2026-11-23T10:00:00Z")
    with gov.store.read() as tx:
        endpoint = get_endpoint_in(tx, name)
        spec = tx.routing.spec_at(name, when)
        if spec is None or when < endpoint.created_at:
            raise InvalidInput(
                f"endpoint {name!r} did not exist at {when.isoformat()}: it was created at "
                f"{endpoint.created_at.isoformat()}"
            )
        served = []
        for version, weight in spec.spec.versions().items():
            approvals = [
                VersionApproval(
                    request_id=stored.request.id,
                    target_stage=stored.request.target_stage.value,
                    approvers=[
                        (a.approver, a.role)
                        for a in stored.request.approvals
                        if a.decision == "approve" and a.decided_at <= when
                    ],
                    policy_version=stored.request.policy_version,
                    approved_at=stored.completed_at,
                )
                for stored in tx.approvals.approved_promotions(
                    endpoint.model_name, version, also_cancelled=True
                )
                if stored.request.created_at <= when
            ]
            # A request cancelled before any approval never stood behind what served.
            approvals = [a for a in approvals if a.approvers]
            served.append(ServedVersion(version, weight, _roles(spec.spec, version), approvals))
        return ServedAt(name, endpoint.model_name, when, spec, served)


@dataclass(frozen=True)
class Serving:
    """One endpoint's live share of a version, and how the version takes part in its spec."""

    endpoint: str
    spec_number: int
    weight: int
    roles: list[str]


def serving_by_version(gov: Governance, model: str) -> dict[str, list[Serving]]:
    """For each version of `model` in a live spec: the endpoints serving it, by endpoint name."""
    found: dict[str, list[Serving]] = {}
    with gov.store.read() as tx:
        for endpoint in tx.routing.endpoints(model):
            live = tx.routing.latest_spec(endpoint.name)
            for spec in [live] if live is not None else []:
                for version, weight in spec.spec.versions().items():
                    serving = Serving(
                        endpoint.name, spec.number, weight, _roles(spec.spec, version)
                    )
                    found.setdefault(version, []).append(serving)
    return found

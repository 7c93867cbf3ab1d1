"""The refusals an A/B experiment's start can give, checked before anything changes."""

from __future__ import annotations

import re
from datetime import datetime

from governance.bootstrap import Governance
from governance.domain.errors import Conflict, InvalidInput, VersionNotFound
from governance.domain.exposure import check_arm, check_distinct_arms, check_duration
from governance.domain.identity import VerifiedActor
from governance.domain.models import LifecycleStage
from governance.domain.rollout import RoutingRefused
from governance.services.rollout.exposure import standing_in
from governance.services.rollout.routing import current_spec_in, get_endpoint_in
from governance.services.trust.roles import LEAD_ROLE, require_role
from governance.store.unit_of_work import Transaction

# Variant names are logged as the prediction's variant, beside the routing's own labels.
_VARIANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
_RESERVED = {"stable", "canary", "blue", "green"}


def _check_split(variants: dict[str, str], split: dict[str, int]) -> None:
    if len(variants) < 2:
        raise InvalidInput(f"an experiment needs at least two variants, got {sorted(variants)}")
    for name in variants:
        if not _VARIANT.match(name) or name in _RESERVED:
            raise InvalidInput(
                f"invalid variant name {name!r}: use 1-32 letters, digits, '_' or '-', "
                f"not one of {sorted(_RESERVED)}"
            )
    if list(split) != list(variants):
        raise InvalidInput(f"the split names {list(split)}, the variants are {list(variants)}")
    if any(weight <= 0 for weight in split.values()):
        raise InvalidInput(f"every variant needs a share above 0, got {split}")
    if sum(split.values()) != 100:
        raise InvalidInput(f"the split must add up to 100, got {sum(split.values())} ({split})")


def _check_stop_rule(until_samples: int | None, until_at: datetime | None, now: datetime) -> None:
    if (until_samples is None) == (until_at is None):
        raise InvalidInput("give exactly one stopping rule: a sample target or an end time")
    if until_samples is not None and until_samples <= 0:
        raise InvalidInput(f"the sample target must be positive, got {until_samples}")
    if until_at is not None and until_at <= now:
        raise InvalidInput(f"the end time {until_at.isoformat()} is not in the future")


def _check_variant(tx: Transaction, model: str, name: str, version: str) -> None:
    try:
        found = tx.registry.get_version(model, version)
    except VersionNotFound as exc:
        raise VersionNotFound(f"variant {name}: {exc}") from None
    if found.stage == LifecycleStage.retired:
        raise RoutingRefused(f"variant {name}: {found.ref} is retired and cannot serve traffic")
    # An arm serves a share of everyone: passing staging is not enough.
    check_arm(name, standing_in(tx, found))


def check_start_in(
    gov: Governance,
    tx: Transaction,
    endpoint: str,
    variants: dict[str, str],
    split: dict[str, int],
    until: tuple[int | None, datetime | None],
    actor: VerifiedActor,
    now: datetime,
) -> str:
    """Every refusal `start` can give, in its order; the endpoint's model."""
    require_role(gov, actor, LEAD_ROLE, "starting an experiment")
    _check_split(variants, split)
    check_distinct_arms(variants)
    _check_stop_rule(*until, now)
    check_duration(until[1], now, gov.policy.experiments.max_duration_days)
    found = get_endpoint_in(tx, endpoint)
    running = tx.experiments.running_on(endpoint)
    if running is not None:
        raise Conflict(f"experiment {running.id} is already running on {endpoint!r}")
    current = current_spec_in(tx, endpoint)
    if current.spec.canary is not None:
        raise Conflict(f"a canary of {current.spec.canary} is active on {endpoint!r}")
    rollout = tx.routing.active_rollout(endpoint)
    if rollout is not None:
        raise Conflict(f"a {rollout.strategy} rollout of {rollout.version} is on {endpoint!r}")
    for name, version in variants.items():
        _check_variant(tx, found.model_name, name, version)
    return found.model_name


def check_start(
    gov: Governance,
    endpoint: str,
    variants: dict[str, str],
    split: dict[str, int],
    until_samples: int | None,
    until_at: datetime | None,
    actor: VerifiedActor,
    now: datetime,
) -> None:
    """Refuse what `start` would refuse, writing nothing (the CLI checks before submitting)."""
    with gov.store.read() as tx:
        check_start_in(gov, tx, endpoint, variants, split, (until_samples, until_at), actor, now)

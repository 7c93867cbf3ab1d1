"""Seeding a test's starting state through the same internal move the governed paths use."""

from __future__ import annotations

from datetime import UTC, datetime

from governance.bootstrap import Governance
from governance.domain.models import LifecycleStage
from governance.services.registry import transition_in


def seed_stage(
    gov: Governance,
    name: str,
    version: str,
    stage: LifecycleStage,
    *,
    now: datetime | None = None,
    actor: str = "test-setup",
) -> None:
    """Put a version in a stage for a test's starting state.

    `transition_in` is the move promote-model, break-glass and rollback make after their
    checks: the stage machine, card rules, archiving and audit event all apply. The public
    services refuse staging and production (tests/integration/test_one_door.py).
    """
    with gov.store.write() as tx:
        transition_in(tx, name, version, stage, actor=actor, now=now or datetime.now(UTC))

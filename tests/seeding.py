"""A test's starting point: its settings, and stages seeded through the governed paths' own move."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from governance.bootstrap import Governance
from governance.config import EXAMPLE_POLICY, Settings
from governance.domain.models import LifecycleStage

# Private: the package offers its callers no unchecked move into staging or production.
# The tests reach it here, as the governed paths do after their checks (test_import_graph.py
# holds which package modules may).
from governance.services.rollout.production import _transition_in
from governance.store.unit_of_work import Transaction


def seed_move_in(
    tx: Transaction,
    name: str,
    version: str,
    stage: LifecycleStage,
    *,
    actor: str = "test-setup",
    now: datetime,
    reason: str = "",
):
    """Move a version inside the caller's transaction, writing what a governed move writes.

    The stage machine, card rules, archiving of the incumbent, the routing that follows
    production and the audit events all apply; the approvals behind the move are the test's
    premise, not checked.
    """
    return _transition_in(tx, name, version, stage, actor=actor, now=now, reason=reason)


def seed_stage(
    gov: Governance,
    name: str,
    version: str,
    stage: LifecycleStage,
    *,
    now: datetime | None = None,
    actor: str = "test-setup",
) -> None:
    """Put a version in a stage for a test's starting state, in its own transaction.

    The public services refuse staging and production (tests/integration/test_one_door.py).
    """
    with gov.store.write() as tx:
        seed_move_in(tx, name, version, stage, actor=actor, now=now or datetime.now(UTC))


def make_settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings that keep every file of a test under its tmp_path."""
    return Settings(
        home=tmp_path / "home",
        database_url=database_url,
        artifact_root=tmp_path / "artifacts",
        policy_file=EXAMPLE_POLICY,
        secret_key_file=tmp_path / "home" / "secret.key",
        session_file=tmp_path / "home" / "session.json",
    )


PRODUCTION_APPROVERS = (("carol", "ml_lead"), ("dave", "risk_officer"), ("erin", "legal"))


def approved_request(
    gov: Governance,
    codes,
    now: datetime,
    *,
    version: str,
    evaluation_run_id: str,
    target: LifecycleStage = LifecycleStage.production,
    approvers=PRODUCTION_APPROVERS,
    model: str = "churn",
):
    """A request opened by alice and approved, each approver with their real one-time code."""
    from governance.domain.identity import VerifiedActor
    from governance.services.promotion import approval_requests, decisions

    request = approval_requests.open_approval(
        gov,
        model=model,
        version=version,
        target=target,
        requester=VerifiedActor(name="alice", method="totp"),
        evaluation_run_id=evaluation_run_id,
        now=now,
    )
    for person, role in approvers:
        request = decisions.decide(
            gov,
            request_id=request.id,
            approver=person,
            role=role,
            decision="approve",
            code=codes(person, now),
            now=now,
        )
    return request


def register_holdout(gov: Governance, directory: Path, now: datetime):
    """The breast-cancer data with a site group column, registered as dataset `holdout`."""
    import numpy as np
    from sklearn.datasets import load_breast_cancer

    from governance.services.registry import datasets

    features, target = load_breast_cancer(return_X_y=True, as_frame=True)
    frame = features.assign(label=target.to_numpy())
    frame["site"] = np.where(np.arange(len(frame)) % 3 == 0, "clinic", "hospital")
    frame.to_csv(directory / "holdout.csv", index=False)
    datasets.register_dataset(
        gov,
        name="holdout",
        path=directory / "holdout.csv",
        target="label",
        group_columns=["site"],
        actor="alice",
        now=now,
    )
    return frame

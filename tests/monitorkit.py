"""A monitored starting point: churn with a recent card, an endpoint, and reference samples."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from seeding import register_holdout, seed_stage
from sklearn.datasets import load_breast_cancer

from governance.bootstrap import Governance
from governance.domain.identity import VerifiedActor
from governance.domain.models import LifecycleStage
from governance.services.monitoring import references
from governance.services.registry import versions
from governance.services.registry.versions import VersionSpec
from governance.services.rollout import endpoints

FEATURES = list(load_breast_cancer(as_frame=True).feature_names)


@dataclass
class MonitoredWorld:
    """churn 1.0.0 in production (served by churn-api), 1.1.0 in staging, 1.2.0 in development."""

    gov: Governance
    frame: pd.DataFrame  # the evaluation data: features, label, site


def batch_frame(
    frame: pd.DataFrame, *, rows: int, labels: bool = False, shift: int = 0, flip: float = 0.0
) -> pd.DataFrame:
    """A batch of evaluation rows; `shift` moves that many features, `flip` mislabels a share."""
    rng = np.random.default_rng(rows + shift)
    batch = frame.sample(n=rows, replace=rows > len(frame), random_state=rows)[FEATURES].copy()
    for column in FEATURES[:shift]:
        batch[column] = batch[column] * 3 + batch[column].std() * 2
    if labels:
        truth = frame.loc[batch.index, "label"].to_numpy()
        flipped = rng.random(rows) < flip
        batch["label"] = np.where(flipped, 1 - truth, truth)
    return batch.reset_index(drop=True)


@pytest.fixture
def monitored_world(gov, churn_model, example_card, model_bytes, now, tmp_path) -> MonitoredWorld:
    """Registered with a card trained a month ago, reviewed now: nothing is old or stale."""
    card = example_card.model_copy(update={"training_date": (now - timedelta(days=30)).date()})
    for version, data in zip(("1.0.0", "1.1.0", "1.2.0"), model_bytes, strict=True):
        spec = VersionSpec(name="churn", version=version, created_by="alice")
        versions.register_version(gov, spec, card, artifact=data, now=now, new_model=churn_model)
    for version in ("1.0.0", "1.1.0"):
        seed_stage(gov, "churn", version, LifecycleStage.staging, now=now)
    seed_stage(gov, "churn", "1.0.0", LifecycleStage.production, now=now)
    frame = register_holdout(gov, tmp_path, now)
    for version in ("1.0.0", "1.1.0"):
        found = versions.resolve(gov, f"churn@{version}")
        references.reference_from_dataset(
            gov, found=found, dataset="holdout", actor="alice", now=now
        )
    endpoints.create(
        gov, "churn-api", model="churn", actor=VerifiedActor(name="alice", method="totp"), now=now
    )
    return MonitoredWorld(gov, frame)

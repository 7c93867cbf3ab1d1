"""Flow-test fixtures: a registry with production, good and bad candidates, and a dataset."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
from prefect.client.schemas.objects import StateType
from prefect.flow_runs import resume_flow_run
from sklearn.datasets import load_breast_cancer
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from governance.domain.models import LifecycleStage, ModelKind, RegisteredModel, RiskLevel
from governance.services import evaluation, registry
from governance.services.registry import VersionSpec


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> dict[str, bytes | Path]:
    """Good and bad skops models plus a holdout CSV with a group column."""
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.4, random_state=3)
    models = {
        f"good{c}": sio.dumps(
            make_pipeline(StandardScaler(), LogisticRegression(C=c)).fit(x_train, y_train)
        )
        for c in (1.0, 0.5)
    }
    models["bad"] = sio.dumps(DummyClassifier(strategy="most_frequent").fit(x_train, y_train))
    holdout = x_test.assign(label=y_test.to_numpy())
    holdout["site"] = np.where(np.arange(len(holdout)) % 2 == 0, "north", "south")
    path = tmp_path_factory.mktemp("data") / "holdout.csv"
    holdout.to_csv(path, index=False)
    return {**models, "holdout": path}


@pytest.fixture
def world(gov, example_card, trained, now, monkeypatch, prefect_api, tmp_path):
    """`churn` (medium risk) with 1.0.0 in production; `triage` (high risk); a holdout set."""
    # A private copy of the policy, so a test may edit it the way an operator would.
    policy_file = tmp_path / "governance.yaml"
    policy_file.write_text(Path(gov.settings.resolved_policy_file).read_text())
    gov.settings.policy_file = policy_file
    gov.reload_policy()
    for key, value in {
        "GOVERNANCE_DATABASE_URL": gov.settings.resolved_database_url,
        "GOVERNANCE_ARTIFACT_ROOT": str(gov.settings.resolved_artifact_root),
        "GOVERNANCE_POLICY_FILE": str(gov.settings.resolved_policy_file),
        "GOVERNANCE_PAUSE_POLL_SECONDS": "0.2",
    }.items():
        monkeypatch.setenv(key, value)
    for name, risk in (("churn", RiskLevel.medium), ("triage", RiskLevel.high)):
        model = RegisteredModel(
            name=name, owner="alice", team="t", risk_level=risk, kind=ModelKind.sklearn
        )
        for version, blob in (("1.0.0", "good1.0"), ("1.1.0", "good0.5"), ("1.2.0", "bad")):
            spec = VersionSpec(name=name, version=version, created_by="alice")
            registry.register_version(
                gov, spec, example_card, artifact=trained[blob], now=now, new_model=model
            )
            registry.transition(gov, name, version, LifecycleStage.staging, actor="bob", now=now)
    registry.transition(gov, "churn", "1.0.0", LifecycleStage.production, actor="bob", now=now)
    evaluation.register_dataset(
        gov,
        name="holdout",
        path=trained["holdout"],
        target="label",
        group_columns=["site"],
        actor="alice",
        now=now,
    )
    return gov


@dataclass
class FlowRunner:
    """Runs promote-model in a thread (it blocks while paused) and resumes it like a person."""

    started: float = field(default_factory=time.time)
    result: dict = field(default_factory=dict)
    thread: threading.Thread | None = None

    def start(self, **params) -> FlowRunner:
        """Start the flow in a background thread."""
        from flows.promote_model import promote_model

        def target() -> None:
            self.result["state"] = promote_model(**params, return_state=True)

        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()
        return self

    def paused(self, timeout: float = 60) -> tuple[str, str]:
        """Wait until the run is paused and its input schema exists; return (run id, key)."""
        deadline = time.monotonic() + timeout
        with get_client(sync_client=True) as client:
            while time.monotonic() < deadline:
                assert "state" not in self.result, f"flow ended early: {self.result['state']}"
                runs = client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(
                        state=FlowRunFilterState(
                            type=FlowRunFilterStateType(any_=[StateType.PAUSED])
                        )
                    )
                )
                for run in runs:
                    if run.created.timestamp() < self.started - 1:
                        continue  # a run left over from an earlier test
                    key = run.state.state_details.pause_key
                    try:
                        client.read_flow_run_input(run.id, f"paused-{key}-schema")
                    except Exception:
                        continue
                    return str(run.id), key
                time.sleep(0.1)
        raise AssertionError("flow never paused for input")

    def resume(self, approver: str, role: str, decision: str = "approve", notes: str = "") -> str:
        """Resume the paused run with one approval input; return the pause key answered."""
        run_id, key = self.paused()
        resume_flow_run(
            run_id,
            run_input={"approver": approver, "role": role, "decision": decision, "notes": notes},
        )
        self.wait_until_not_paused(run_id)
        return key

    def wait_until_not_paused(self, run_id: str, timeout: float = 30) -> None:
        """Wait until the server shows the run moved on from this pause."""
        deadline = time.monotonic() + timeout
        with get_client(sync_client=True) as client:
            while time.monotonic() < deadline:
                state = client.read_flow_run(run_id).state
                if not state.is_paused():
                    return
                time.sleep(0.05)

    def finish(self, timeout: float = 60):
        """Wait for the flow to end and return its final state."""
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "flow did not finish"
        return self.result["state"]


@pytest.fixture
def runner() -> FlowRunner:
    """A fresh flow runner."""
    return FlowRunner()

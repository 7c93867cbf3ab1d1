"""Flow-test fixtures: one served promote-model deployment and one governance home per session.

promote-model suspends while people decide, and a suspended run can only resume through a
deployment, so the tests serve `deployments/serve.py` against a real Prefect server. The
serve process reads its settings from the environment once, so the whole flow session shares
one database; each test registers models under names of its own.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
import yaml
from flowkit import Authenticator
from seeding import seed_stage
from sklearn.datasets import load_breast_cancer
from sklearn.dummy import DummyClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from teamkit import processes_under, stack_dir, start_stack, stop_stack

from deployments.local_stack import free_port
from governance.bootstrap import Governance, open_governance
from governance.config import EXAMPLE_POLICY, Settings
from governance.domain.clients import ROUTES
from governance.domain.identity import VerifiedActor
from governance.domain.models import LifecycleStage, ModelKind, RegisteredModel, RiskLevel
from governance.keyring import create_secret_key
from governance.services.registry import datasets, versions
from governance.services.registry.versions import VersionSpec
from governance.services.rollout import client_keys
from governance.services.trust import identity
from governance.store.schema import upgrade

# More people than the example roster, so tests rarely wait for a person's next code.
EXTRA_PEOPLE = {
    "gina": ["ml_lead"],
    "hank": ["risk_officer"],
    "ivy": ["legal"],
    "jack": ["ml_engineer"],
}
_names = itertools.count(1)
# Rollouts a test can wait for: one analysed canary step of 3 s, small sample minimums.
ROLLOUTS = {
    "canary": {
        "steps": [50, 100],
        "bake_minutes": 0.05,
        "min_samples": 15,
        "min_labels": 10,
        "max_extensions": 4,
        # A p95 from ~60 requests on a 2-core machine shared with the other test session
        # moved by more than 100% in CI, and ~60 labels per variant can differ by a few
        # wrong answers between two good models. These tests are about the flow; the
        # latency and accuracy analysis is tested in tests/unit/test_canary_analysis.py.
        "latency_min_effect": 4.0,
        "max_accuracy_drop": 0.2,
    },
    "blue_green": {"smoke_rows": 10, "scale_down_delay_minutes": 5},
    "prompts": {
        "canary": {
            "steps": [50, 100],
            "bake_minutes": 0.05,
            "min_samples": 15,
            "max_extensions": 4,
            "latency_min_effect": 4.0,
        }
    },
}


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
    # With an imputer a missing value is filled in; the models above raise on one instead.
    models["imputed"] = sio.dumps(
        make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression()).fit(x_train, y_train)
    )
    models["rows"] = x_test.to_dict(orient="records")
    models["labels"] = y_test.tolist()
    holdout = x_test.assign(label=y_test.to_numpy())
    holdout["site"] = np.where(np.arange(len(holdout)) % 2 == 0, "north", "south")
    path = tmp_path_factory.mktemp("data") / "holdout.csv"
    holdout.to_csv(path, index=False)
    return {**models, "holdout": path}


@pytest.fixture(scope="session")
def flow_settings(tmp_path_factory) -> Settings:
    """A governance home for the session: database, key, policy with a larger roster."""
    home = tmp_path_factory.mktemp("flow-home")
    policy = yaml.safe_load(EXAMPLE_POLICY.read_text())
    policy["roster"].update(EXTRA_PEOPLE)
    policy.update(ROLLOUTS)
    (home / "governance.yaml").write_text(yaml.safe_dump(policy))
    settings = Settings(
        home=home,
        database_url=f"sqlite:///{home / 'governance.db'}",
        artifact_root=home / "artifacts",
        policy_file=home / "governance.yaml",
        secret_key_file=home / "secret.key",
        session_file=home / "session.json",
        gateway_url=f"http://127.0.0.1:{free_port()}",
    )
    create_secret_key(settings.resolved_secret_key_file)
    bare = open_governance(settings, check_schema=False)
    upgrade(bare.engine)
    bare.close()
    return settings


@pytest.fixture(scope="session")
def flow_gov(flow_settings, trained) -> Governance:
    """The session's governance instance, with the holdout dataset registered."""
    gov = open_governance(flow_settings)
    datasets.register_dataset(
        gov,
        name="holdout",
        path=trained["holdout"],
        target="label",
        group_columns=["site"],
        actor="alice",
        now=datetime.now(UTC),
    )
    yield gov
    gov.close()


@pytest.fixture(scope="session")
def codes(flow_gov) -> Authenticator:
    """Everyone in the roster enrolled; their codes computed as their apps would."""
    now = datetime.now(UTC)
    secrets = {
        name: identity.enroll(flow_gov, name, actor="test-setup", now=now).secret
        # Admins last: once one is enrolled, only an admin enrols.
        for name in sorted(
            flow_gov.policy.roster, key=lambda n: "admin" in flow_gov.policy.roster[n]
        )
    }
    return Authenticator(secrets)


def flow_env(settings: Settings) -> dict[str, str]:
    """The GOVERNANCE_* variables that point a process at the session's governance home."""
    return {
        "GOVERNANCE_HOME": str(settings.home),
        "GOVERNANCE_DATABASE_URL": settings.resolved_database_url,
        "GOVERNANCE_ARTIFACT_ROOT": str(settings.resolved_artifact_root),
        "GOVERNANCE_POLICY_FILE": str(settings.resolved_policy_file),
        "GOVERNANCE_SECRET_KEY_FILE": str(settings.resolved_secret_key_file),
        "GOVERNANCE_SESSION_FILE": str(settings.resolved_session_file),
        "GOVERNANCE_GATEWAY_URL": settings.gateway_url,
    }


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """os.environ with `values` set, restored afterwards (so nothing leaks to other tests)."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass
class Served:
    """The serve process of the session, which a crash test may kill and start again."""

    stack: object
    settings: Settings
    process: object = None

    def restart(self) -> None:
        """Serve (again, after the process died); the child inherits the session's settings."""
        with environment(flow_env(self.settings)):
            self.process = self.stack.start_serve()


@pytest.fixture(scope="session")
def served(prefect_stack, flow_settings, flow_gov, codes) -> Served:
    """deployments/serve.py serving promote-model with the session's settings."""
    served = Served(prefect_stack, flow_settings)
    served.restart()
    return served


@pytest.fixture(scope="session")
def gateway(prefect_stack, flow_settings, flow_gov) -> str:
    """`governance serve` on the session's database; its URL."""
    port = int(flow_settings.gateway_url.rsplit(":", 1)[1])
    prefect_stack.start_gateway(port, env=flow_env(flow_settings))
    return flow_settings.gateway_url


@pytest.fixture(scope="session")
def client_headers(flow_gov) -> dict[str, str]:
    """The headers of the session's client application: a key for every endpoint and route,
    created by grace, the example policy's admin."""
    issued = client_keys.create(
        flow_gov,
        "flow-tests",
        endpoints=["*"],
        routes=list(ROUTES),
        actor=VerifiedActor(name="grace", method="totp"),
        now=datetime.now(UTC),
    )
    return {"Authorization": f"Bearer {issued.key}"}


@dataclass
class World:
    """One test's models in the session database."""

    gov: Governance
    churn: str  # medium risk: 1.0.0 production, 1.1.0 (good) and 1.2.0 (bad) in staging
    triage: str  # high risk: 1.0.0 .. 1.2.0 in staging, nothing in production
    codes: Authenticator
    settings: Settings


def _register(gov: Governance, name: str, risk: RiskLevel, card, trained) -> None:
    model = RegisteredModel(
        name=name, owner="alice", team="t", risk_level=risk, kind=ModelKind.sklearn
    )
    card = card.model_copy(update={"risk_level": risk})
    now = datetime.now(UTC)
    for version, blob in (("1.0.0", "good1.0"), ("1.1.0", "good0.5"), ("1.2.0", "bad")):
        spec = VersionSpec(name=name, version=version, created_by="alice")
        versions.register_version(gov, spec, card, artifact=trained[blob], now=now, new_model=model)
        seed_stage(gov, name, version, LifecycleStage.staging)


@pytest.fixture
def world(served, flow_gov, flow_settings, codes, example_card, trained, monkeypatch) -> World:
    """Fresh model names for this test, registered and staged in the session database.

    The test's own process (the CLI in-process, subprocesses it starts) points at the
    session's home for this test only.
    """
    for key, value in flow_env(flow_settings).items():
        monkeypatch.setenv(key, value)
    n = next(_names)
    churn, triage = f"churn-{n}", f"triage-{n}"
    _register(flow_gov, churn, RiskLevel.medium, example_card, trained)
    _register(flow_gov, triage, RiskLevel.high, example_card, trained)
    seed_stage(flow_gov, churn, "1.0.0", LifecycleStage.production)
    return World(flow_gov, churn, triage, codes, flow_settings)


@pytest.fixture
def policy_restored(flow_settings):
    """Lets a test edit the session policy file; puts it back afterwards."""
    path = flow_settings.resolved_policy_file
    backup = path.with_suffix(".bak")
    shutil.copy(path, backup)
    yield path
    shutil.copy(backup, path)


@pytest.fixture(scope="session")
def team_stack():
    """deployments/team.py's stack in a fresh DIR, started once for the session (by the
    team-stack tests only); stopped at the end, every process it recorded checked gone."""
    path = stack_dir()
    try:
        yield start_stack(path)
    finally:
        left = stop_stack(path)
        # Nor anything they started (flow runs, uvicorn's workers): none names the DIR.
        strays = processes_under(path)
        shutil.rmtree(path, ignore_errors=True)
        assert (left, strays) == ([], [])

"""Shared fixtures: a governance instance on a real SQLite file and on a real PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import time_machine
from seeding import make_settings, register_holdout, seed_stage

from governance.bootstrap import Governance, open_governance
from governance.keyring import create_secret_key
from governance.store.schema import upgrade

# monitorkit: the monitored-world fixture of the monitoring and retirement tests.
pytest_plugins = ["monitorkit"]
POSTGRES_URL = os.environ.get("GOVERNANCE_TEST_POSTGRES_URL", "")
BACKENDS = ["sqlite", "postgres"]


def pytest_addoption(parser) -> None:
    """--clock-shift-days: run with this process's wall clock moved ahead (make test-future)."""
    parser.addoption(
        "--clock-shift-days",
        type=int,
        default=0,
        help="move the wall clock N days ahead for the whole session (time-machine), so a "
        "test that depends on today's date fails now rather than on that day",
    )


@pytest.fixture(scope="session", autouse=True)
def shifted_clock(request) -> Iterator[None]:
    """The session's wall clock, moved ahead by --clock-shift-days and still ticking."""
    days = request.config.getoption("--clock-shift-days")
    if not days:
        yield
        return
    # Only this process's clock moves (datetime.now, time.time); monotonic clocks and sleeps
    # are untouched, and servers or CLIs the tests start as processes keep the real clock.
    with time_machine.travel(datetime.now(UTC) + timedelta(days=days), tick=True):
        yield


def requires_postgres() -> None:
    """Skip when no test PostgreSQL is configured (CI always configures one)."""
    if not POSTGRES_URL:
        pytest.skip("GOVERNANCE_TEST_POSTGRES_URL is unset")


class PostgresDatabases:
    """Creates and drops one throwaway database per test on the test server."""

    def __init__(self, admin_url: str) -> None:
        self.admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.base = sa.engine.make_url(admin_url)

    def create(self) -> str:
        """A fresh empty database's URL."""
        name = f"gov_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        return self.base.set(database=name).render_as_string(hide_password=False)

    def drop(self, url: str) -> None:
        """Drop a database made by `create`."""
        name = sa.engine.make_url(url).database
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    """The database factory on the test PostgreSQL server."""
    requires_postgres()
    factory = PostgresDatabases(POSTGRES_URL)
    yield factory
    factory.admin.dispose()


@pytest.fixture
def database_url(request, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL for the backend the test is parametrised with."""
    backend = getattr(request, "param", "sqlite")
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'governance.db'}"
        return
    databases = request.getfixturevalue("postgres_databases")
    url = databases.create()
    yield url
    databases.drop(url)


@pytest.fixture
def gov(database_url: str, tmp_path: Path) -> Iterator[Governance]:
    """An initialised governance instance on a fresh database."""
    settings = make_settings(tmp_path, database_url)
    create_secret_key(settings.resolved_secret_key_file)
    bare = open_governance(settings, check_schema=False)
    upgrade(bare.engine)
    bare.close()
    instance = open_governance(settings)
    yield instance
    instance.close()


class Codes:
    """Everyone's authenticator: the code `name`'s app shows at a time, as pyotp computes it."""

    def __init__(self, secrets: dict[str, str], default_time: datetime) -> None:
        self.secrets = secrets
        self.default_time = default_time

    def __call__(self, name: str, at: datetime | None = None) -> str:
        """The code for `name` at `at` (the test's fixed now by default); '' if not enrolled."""
        import pyotp

        from governance.domain.identity import canonical_name

        secret = self.secrets.get(canonical_name(name)) if name.strip() else None
        return pyotp.TOTP(secret).at(at or self.default_time) if secret else ""


@pytest.fixture
def codes(gov, now) -> Codes:
    """Every roster person enrolled on this test's database."""
    from governance.services.trust import identity

    secrets = {
        name: identity.enroll(gov, name, actor="test-setup", now=now).secret
        # Admins last: once one is enrolled, only an admin enrols.
        for name in sorted(gov.policy.roster, key=lambda n: "admin" in gov.policy.roster[n])
    }
    return Codes(secrets, now)


@pytest.fixture
def now() -> datetime:
    """A fixed, timezone-aware 'now' so age rules are reproducible."""
    return datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def pytest_generate_tests(metafunc) -> None:
    """Run every test that asks for `database_url` (directly or via `gov`) on both backends."""
    if "database_url" in metafunc.fixturenames:
        # Flow and browser tests exercise Prefect, not the database: SQLite is enough there.
        only_sqlite = metafunc.definition.get_closest_marker("sqlite_only") is not None
        metafunc.parametrize("database_url", ["sqlite"] if only_sqlite else BACKENDS, indirect=True)


EXAMPLE_CARD = (
    Path(__file__).resolve().parent.parent / "examples" / "cards" / "churn-classifier.yaml"
)


@pytest.fixture(scope="session")
def example_card():
    """The shipped example card (complete for production at high risk)."""
    from governance.reports.card_yaml import load_card_yaml

    return load_card_yaml(EXAMPLE_CARD.read_text())


@pytest.fixture(scope="session")
def model_bytes() -> list[bytes]:
    """Three distinct skops artifacts of real fitted classifiers."""
    import skops.io as sio
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = load_breast_cancer(return_X_y=True)
    return [
        sio.dumps(make_pipeline(StandardScaler(), LogisticRegression(C=c)).fit(x, y))
        for c in (0.1, 1.0, 10.0)
    ]


@pytest.fixture
def churn_model():
    """A high-risk registered-model description for registration calls."""
    from governance.domain.models import ModelKind, RegisteredModel, RiskLevel

    return RegisteredModel(
        name="churn",
        owner="alice",
        team="analytics",
        description="churn classifier",
        risk_level=RiskLevel.high,
        kind=ModelKind.sklearn,
    )


@pytest.fixture(scope="session")
def prefect_stack(tmp_path_factory):
    """A real `prefect server start` (API and UI) on a free 127.0.0.1 port for the session."""
    import prefect.context
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        temporary_settings,
    )

    from deployments.local_stack import LocalStack, free_port

    stack = LocalStack(home=tmp_path_factory.mktemp("prefect-home"), port=free_port())
    stack.start_server()
    url = stack.api_url
    os.environ["PREFECT_API_URL"] = url
    saved = prefect.context.GLOBAL_SETTINGS_CONTEXT
    try:
        with temporary_settings({PREFECT_API_URL: url, PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            # Flows run in threads, which see only Prefect's global context, not ours.
            prefect.context.GLOBAL_SETTINGS_CONTEXT = prefect.context.SettingsContext.get()
            yield stack
    finally:
        from prefect.logging.handlers import APILogHandler

        APILogHandler().flush()  # send buffered run logs while the server is still up
        prefect.context.GLOBAL_SETTINGS_CONTEXT = saved
        os.environ.pop("PREFECT_API_URL", None)
        stack.stop()


@pytest.fixture(scope="session")
def prefect_api(prefect_stack) -> str:
    """The session's Prefect API URL."""
    return prefect_stack.api_url


@pytest.fixture
def register_churn(gov, churn_model, example_card, now):
    """Register a churn version from skops bytes with the example card (by alice)."""
    from governance.services.registry import versions
    from governance.services.registry.versions import VersionSpec

    def register(version: str, data: bytes):
        spec = VersionSpec(name="churn", version=version, created_by="alice")
        return versions.register_version(
            gov, spec, example_card, artifact=data, now=now, new_model=churn_model
        )

    return register


@pytest.fixture
def staged_run(gov, tmp_path, now, model_bytes, register_churn):
    """churn 1.0.0 in production, 1.1.0 in staging, 1.2.0 in development; a passed run of 1.1.0."""
    from governance.domain.models import LifecycleStage
    from governance.services.promotion import evaluation

    for version, data in zip(("1.0.0", "1.1.0", "1.2.0"), model_bytes, strict=True):
        register_churn(version, data)
    for version in ("1.0.0", "1.1.0"):
        seed_stage(gov, "churn", version, LifecycleStage.staging, now=now)
    seed_stage(gov, "churn", "1.0.0", LifecycleStage.production, now=now)
    register_holdout(gov, tmp_path, now)
    return evaluation.evaluate(
        gov, model="churn", version="1.1.0", dataset="holdout", actor="alice", now=now
    )

"""What gateway tests share: small real models, an endpoint to serve, and a live uvicorn."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import uvicorn
from seeding import seed_stage

from governance.bootstrap import Governance
from governance.config import Settings
from governance.domain.clients import ROUTES
from governance.domain.identity import VerifiedActor
from governance.domain.models import LifecycleStage
from governance.domain.rollout import SpecVersion
from governance.services.rollout import client_keys, endpoints, routing

FEATURES = ("age", "income", "tenure")
ENDPOINT = "churn-api"
REPO = Path(__file__).resolve().parent.parent
# grace holds the admin role in the example policy: client keys are an admin's to create.
ADMIN = VerifiedActor(name="grace", method="totp")
KEY_TIME = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def client_key(
    gov: Governance,
    app: str = "test-client",
    endpoints: tuple[str, ...] = ("*",),
    routes: tuple[str, ...] = ROUTES,
) -> str:
    """A new client key for `app` (every endpoint and route unless narrowed), made by grace."""
    issued = client_keys.create(
        gov, app, endpoints=list(endpoints), routes=list(routes), actor=ADMIN, now=KEY_TIME
    )
    return issued.key


def client_headers(gov: Governance, app: str = "test-client", **scope) -> dict[str, str]:
    """The headers of a client application whose key opens every endpoint and route."""
    return {"Authorization": f"Bearer {client_key(gov, app, **scope)}"}


class SlowClassifier:
    """A fitted classifier whose predict holds until the test releases it.

    skops does not trust it by default: a gateway loads it only with its qualified name in
    the settings' trusted_types (GOVERNANCE_TRUSTED_TYPES), as an operator would allow it.
    The events live on the class, so the test and an in-process gateway share them.
    """

    entered = threading.Event()
    release = threading.Event()

    def fit(self, x, y):
        """Remember the classes and the feature count, as a scikit-learn estimator does."""
        self.classes_ = np.unique(y)
        self.n_features_in_ = np.asarray(x).shape[1]
        return self

    def predict(self, x):
        """Say predict has begun, wait for the release, then answer class 0 for every row."""
        SlowClassifier.entered.set()
        if not SlowClassifier.release.wait(60):
            raise TimeoutError("the test never released the slow predict")
        return np.zeros(len(x), dtype=np.int64)


SLOW_TYPE = f"{SlowClassifier.__module__}.{SlowClassifier.__qualname__}"


def training_frame() -> tuple[pd.DataFrame, np.ndarray]:
    """A small labelled frame with integer features (so a one-hot model has categories)."""
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, 300),
            "income": rng.integers(1, 9, 300),
            "tenure": rng.integers(0, 3, 300),
        }
    )
    target = ((frame["age"] > 45) ^ (frame["tenure"] == 0)).astype(int).to_numpy()
    return frame, target


@functools.cache
def model_blobs() -> dict[str, bytes]:
    """Skops bytes: 1.0.0 and 1.1.0 are logistic regressions; 1.2.0 raises on unseen values."""
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    x, y = training_frame()
    return {
        "1.0.0": sio.dumps(make_pipeline(StandardScaler(), LogisticRegression(C=1.0)).fit(x, y)),
        "1.1.0": sio.dumps(make_pipeline(StandardScaler(), LogisticRegression(C=0.01)).fit(x, y)),
        # handle_unknown="error": a tenure never seen in training makes predict raise.
        "1.2.0": sio.dumps(
            make_pipeline(OneHotEncoder(handle_unknown="error"), LogisticRegression()).fit(x, y)
        ),
    }


def serve_churn(gov: Governance, register_churn, now: datetime, name: str = ENDPOINT) -> None:
    """churn 1.0.0 in production (1.1.0, 1.2.0 in staging) and endpoint `name` serving it."""
    for version, blob in model_blobs().items():
        register_churn(version, blob)
        seed_stage(gov, "churn", version, LifecycleStage.staging, now=now)
    seed_stage(gov, "churn", "1.0.0", LifecycleStage.production, now=now)
    endpoints.create(
        gov, name, model="churn", actor=VerifiedActor(name="carol", method="totp"), now=now
    )


def change_routing(gov: Governance, now: datetime, name: str = ENDPOINT, **changes) -> SpecVersion:
    """Commit the next routing spec of the endpoint with `changes` applied."""
    with gov.store.write() as tx:
        return routing.change_in(
            tx,
            name,
            lambda spec: routing.updated(spec, **changes),
            actor="carol",
            reason="test",
            now=now,
        )


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def app_thread(app, what: str) -> Iterator[str]:
    """A real uvicorn serving `app` on a free port in a thread; its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextmanager
def gateway_thread(settings: Settings) -> Iterator[tuple[str, object]]:
    """A real uvicorn serving the gateway app on a free port in a thread: (base URL, app)."""
    from governance.serving.app import create_app

    app = create_app(settings)
    with app_thread(app, "the gateway") as url:
        yield url, app


def settings_env(settings: Settings) -> dict[str, str]:
    """The GOVERNANCE_* variables that make a subprocess use `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVERNANCE_")}
    env.update(
        {
            "GOVERNANCE_HOME": str(settings.home),
            "GOVERNANCE_DATABASE_URL": settings.database_url,
            "GOVERNANCE_ARTIFACT_ROOT": str(settings.resolved_artifact_root),
            "GOVERNANCE_POLICY_FILE": str(settings.resolved_policy_file),
            "GOVERNANCE_SECRET_KEY_FILE": str(settings.resolved_secret_key_file),
            "GOVERNANCE_SESSION_FILE": str(settings.resolved_session_file),
        }
    )
    return env


@contextmanager
def gateway_process(settings: Settings, workers: int = 1, log: Path | None = None):
    """`governance serve` in a subprocess on a free port: (base URL, Popen); stopped by PID."""
    port = free_port()
    out = open(log or settings.home / f"gateway-{port}.log", "wb")  # noqa: SIM115
    command = [sys.executable, "-c", "from governance.cli import main; main()", "serve"]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--workers", str(workers)],
        env=settings_env(settings),
        cwd=REPO,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process)
        yield url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        out.close()


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    """Wait until the gateway says it is ready, or fail if its process ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gateway exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("gateway not ready in time")


def tensors(rows: list[dict[str, float]]) -> list[dict]:
    """OIP inputs: one [n] FP64 tensor per feature."""
    return [
        {"name": f, "shape": [len(rows)], "datatype": "FP64", "data": [r[f] for r in rows]}
        for f in FEATURES
    ]


def logged(gov: Governance) -> list[dict]:
    """Every row of the prediction log."""
    from governance.store.tables_rollout import predictions

    with gov.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(predictions.select())]

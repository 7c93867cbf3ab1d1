"""PostgreSQL stops under load: the gateway keeps answering, spools, and loses nothing.

A throwaway cluster of its own (deployments/postgres.sh on a free port and directory), so
the shared test cluster on 55432 is never touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest
from gatewaykit import ENDPOINT, REPO, client_headers, free_port, gateway_process, model_blobs
from seeding import make_settings, seed_stage

from governance.bootstrap import open_governance
from governance.domain.identity import VerifiedActor
from governance.domain.models import LifecycleStage
from governance.keyring import create_secret_key
from governance.services.registry import versions
from governance.services.registry.versions import VersionSpec
from governance.services.rollout import endpoints
from governance.store.schema import upgrade
from governance.store.tables_rollout import predictions

ROW = {"age": 50, "income": 3, "tenure": 2}


class Cluster:
    """A private PostgreSQL cluster run by deployments/postgres.sh."""

    def __init__(self) -> None:
        # Outside pytest's 0700 tmp tree: the postgres OS user must reach it when run as root.
        self.dir = Path(tempfile.mkdtemp(prefix="gateway-pg-", dir="/tmp"))
        self.dir.chmod(0o755)
        self.env = {**os.environ, "PGPORT_TEST": str(free_port()), "PGDATABASE_TEST": "gw"}

    def run(self, command: str) -> str:
        """Run one postgres.sh command on this cluster; its stdout."""
        done = subprocess.run(
            ["bash", str(REPO / "deployments" / "postgres.sh"), command, str(self.dir)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()


@pytest.fixture
def cluster():
    """A started throwaway cluster, destroyed after the test."""
    if not shutil.which("pg_ctl") and not list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")):
        pytest.skip("PostgreSQL server binaries are not installed")
    made = Cluster()
    try:
        made.run("start")
        yield made
    finally:
        made.run("destroy")
        shutil.rmtree(made.dir, ignore_errors=True)


class Load:
    """Sequential requests in a thread; remembers every answered prediction id."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.url = f"{url}/v1/endpoints/{ENDPOINT}/predict"
        self.headers = headers
        self.answered: list[str] = []
        self.failed: list[int] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        """Send until stopped (one row per request, a new key each time)."""
        with httpx.Client(timeout=10, headers=self.headers) as client:
            i = 0
            while not self.stop.is_set():
                i += 1
                answer = client.post(self.url, json={"rows": [ROW], "targeting_key": f"k{i}"})
                if answer.status_code == 200:
                    self.answered.append(answer.json()["predictions"][0]["prediction_id"])
                else:
                    self.failed.append(answer.status_code)
                time.sleep(0.005)  # bounded: about 100-150 requests a second


def test_requests_are_answered_while_postgres_is_down_and_every_one_is_logged_once(
    cluster, tmp_path, example_card, churn_model, now
):
    url = cluster.run("url")
    settings = make_settings(tmp_path, url)
    create_secret_key(settings.resolved_secret_key_file)
    bare = open_governance(settings, check_schema=False)
    upgrade(bare.engine)
    bare.close()
    gov = open_governance(settings)
    try:
        spec = VersionSpec(name="churn", version="1.0.0", created_by="alice")
        blob = model_blobs()["1.0.0"]
        versions.register_version(
            gov, spec, example_card, artifact=blob, now=now, new_model=churn_model
        )
        seed_stage(gov, "churn", "1.0.0", LifecycleStage.staging, now=now)
        seed_stage(gov, "churn", "1.0.0", LifecycleStage.production, now=now)
        endpoints.create(
            gov, ENDPOINT, model="churn", actor=VerifiedActor(name="carol", method="totp"), now=now
        )

        with gateway_process(settings) as (gateway_url, _):
            load = Load(gateway_url, client_headers(gov))
            load.thread.start()
            time.sleep(1.0)
            before = len(load.answered)
            cluster.run("stop")
            time.sleep(2.0)
            during = len(load.answered) - before
            cluster.run("start")
            time.sleep(1.5)
            load.stop.set()
            load.thread.join(timeout=30)

            assert load.failed == []
            assert before > 20 and during > 50, (before, during)
            spooled = list(settings.resolved_gateway_spool_dir.glob("*.jsonl"))
            assert spooled, "the gateway spooled nothing while the database was down"
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                with gov.engine.connect() as conn:
                    stored = [row.id for row in conn.execute(predictions.select())]
                if len(stored) >= len(load.answered):
                    break
                time.sleep(0.2)
        # Every answered prediction is in the table, exactly once, and nothing else is.
        assert len(stored) == len(set(stored)) == len(load.answered)
        assert set(stored) == set(load.answered)
        # Drained and stopped: the spool holds nothing more.
        assert [
            p for p in settings.resolved_gateway_spool_dir.glob("*.jsonl") if p.stat().st_size
        ] == []
    finally:
        gov.close()

"""prefect.yaml deploys for real on a process work pool, and a worker runs promote-model and
the nightly retirement-audit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.deployments import run_deployment

from deployments.serve import DEPLOYMENTS
from governance.domain.models import LifecycleStage
from governance.services.monitoring import retirement_review
from governance.services.registry import versions

pytestmark = pytest.mark.sqlite_only
ROOT = Path(__file__).resolve().parents[2]


def prefect_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run the `prefect` CLI of this venv in the checkout."""
    return subprocess.run(
        [sys.executable, "-m", "prefect", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.fixture
def without_serve(served):
    """The session's serve process stopped, so only the work pool's worker can take runs."""
    served.process.terminate()
    served.process.wait(timeout=30)
    yield
    # Serving again registers the served deployments over the work-pool ones.
    served.restart()


def test_prefect_yaml_deploys_and_a_process_worker_runs_the_flow(world, prefect_api, without_serve):
    """The worker runs promote-model; started without `governance promote`, the run's
    requester is unverified, so it ends PreconditionFailed without touching the registry."""
    manifest = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    assert {d["name"] for d in manifest["deployments"]} == set(DEPLOYMENTS)
    pool = manifest["deployments"][0]["work_pool"]["name"]
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name=pool, type="process"), overwrite=True)
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "GOVERNANCE_CHECKOUT": str(ROOT)}
    deployed = prefect_cli("--no-prompt", "deploy", "--all", env=env)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr

    run = run_deployment(
        "promote-model/promote-model",
        timeout=0,
        parameters={
            "model": world.churn,
            "version": "1.1.0",
            "dataset": "holdout",
            "requested_by": "alice",
        },
    )
    worked = prefect_cli("worker", "start", "--pool", pool, "--run-once", env=env)
    assert worked.returncode == 0, worked.stdout + worked.stderr
    with get_client(sync_client=True) as client:
        final = client.read_flow_run(run.id).state
    assert final.is_final(), worked.stdout + worked.stderr
    assert (final.name, final.message) == (
        "PreconditionFailed",
        "requester not verified: the run carries no request token "
        "(start it with `governance promote`)",
    )
    assert versions.resolve(world.gov, f"{world.churn}@1.1.0").stage == LifecycleStage.staging

    # The nightly audit, as its cron would start it, run by the same pool's worker.
    [audit] = [d for d in manifest["deployments"] if d["name"] == "retirement-audit"]
    assert audit["schedules"] == [{"cron": "0 2 * * *", "timezone": "UTC"}]
    run = run_deployment(
        "retirement-audit/retirement-audit", timeout=0, parameters={"models": [world.churn]}
    )
    worked = prefect_cli("worker", "start", "--pool", pool, "--run-once", env=env)
    assert worked.returncode == 0, worked.stdout + worked.stderr
    with get_client(sync_client=True) as client:
        final = client.read_flow_run(run.id).state
    assert (final.name, final.message) == (
        "Audited",
        "1 versions checked: 0 retain, 1 re-validate, 0 retire",
    ), worked.stdout + worked.stderr
    [row] = retirement_review.latest_findings(world.gov, world.churn)
    assert (row.version, row.audit_run) == ("1.0.0", str(run.id))
    # seeded without a promotion: no reference sample yet, which the verdict says
    assert "drift" in row.reason

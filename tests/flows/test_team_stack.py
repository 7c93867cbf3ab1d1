"""The team stack (deployments/team.py) started as an operator starts it, in a fresh DIR:
PostgreSQL with a password per role, the Prefect server on it, a process work pool's worker
running prefect.yaml's deployments, the gateway (and the governance server), each process
with only its own credentials, stopped by PID."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg
import pytest
import yaml
from sqlalchemy.engine import make_url

from deployments import team_env
from deployments.team_pg import server_bindir
from deployments.team_proc import alive
from governance.config import EXAMPLE_POLICY

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.sqlite_only,
    pytest.mark.skipif(
        server_bindir() is None,
        reason="PostgreSQL server binaries not found (apt-get install postgresql, or PG_BINDIR)",
    ),
]
# Something the caller's shell holds that no part of the stack may inherit.
CALLER_SECRET = "TEAM_STACK_CALLER_SECRET"
# Canary steps the test can wait for (as tests/flows/conftest.py ROLLOUTS), and spare people.
POLICY = {
    "canary": {
        "steps": [50, 100],
        "bake_minutes": 0.05,
        "min_samples": 15,
        "min_labels": 10,
        "max_extensions": 4,
        "latency_min_effect": 1.0,
    },
}
PARTS = {"postgres", "prefect_server", "gateway", "worker"}


def team(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m deployments.team ARGS` from the checkout, as an operator runs it."""
    env = {**os.environ, CALLER_SECRET: "from-the-operator's-shell"}
    return subprocess.run(
        [sys.executable, "-m", "deployments.team", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def stack_dir() -> Path:
    """A DIR the postgres OS user can reach when the tests run as root (not under /root)."""
    path = Path(tempfile.mkdtemp(prefix="team-stack-", dir="/tmp"))
    path.chmod(0o755)
    return path


@pytest.fixture(scope="module")
def stack():
    """The stack, started once for the module; stopped (every PID checked gone) at the end."""
    path = stack_dir()
    policy = yaml.safe_load(EXAMPLE_POLICY.read_text())
    policy.update(POLICY)
    policy_file = path / "policy.yaml"
    policy_file.write_text(yaml.safe_dump(policy))
    began = time.monotonic()
    started = team("start", str(path / "team"), "--policy", str(policy_file))
    took = time.monotonic() - began
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        state = json.loads((path / "team" / "team.json").read_text())
        state["took"] = took
        state["stdout"] = started.stdout
        yield state
    finally:
        recorded = json.loads((path / "team" / "team.json").read_text()).get("processes", {})
        stopped = team("stop", str(path / "team"))
        left = [part for part, entry in recorded.items() if alive(entry)]
        shutil.rmtree(path, ignore_errors=True)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert left == []


def environ(pid: int) -> dict[str, str]:
    """The environment a running process was started with (Linux /proc)."""
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    pairs = (item.decode().split("=", 1) for item in raw if b"=" in item)
    return dict(pairs)


def processes_under(path: Path) -> list[int]:
    """Processes whose environment names `path` (every part of a stack in it does)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*/environ"):
        try:
            if str(path).encode() in entry.read_bytes():
                found.append(int(entry.parent.name))
        except OSError:
            continue
    return found


def test_start_reports_every_part_healthy_in_the_state_file(stack):
    assert set(stack["processes"]) >= PARTS
    for part, entry in stack["processes"].items():
        assert alive(entry), part
        if part != "postgres":
            assert httpx.get(entry["health"], timeout=5).status_code == 200, part
    assert stack["startup_seconds"] < stack["took"]
    assert f"team stack up in {stack['startup_seconds']} s" in stack["stdout"]
    status = team("status", stack["dir"])
    assert status.returncode == 0, status.stdout
    assert [line.split()[:2] for line in status.stdout.splitlines()] == [
        [part, "healthy"] for part in stack["processes"]
    ]


def test_each_part_holds_only_its_own_credentials(stack):
    procs = {part: environ(entry["pid"]) for part, entry in stack["processes"].items()}
    secrets = Path(stack["dir"]) / "secrets"
    password = {
        role: (secrets / f"pg-{role}.password").read_text().strip() for role in team_env.roles()
    }
    for part, env in procs.items():
        assert CALLER_SECRET not in env, part
        # The owner's and the superuser's passwords are in no running process.
        for role in (team_env.OWNER_ROLE, team_env.SUPERUSER):
            assert not [k for k, v in env.items() if password[role] in v], (part, role)

    gateway = procs["gateway"]
    assert [k for k in gateway if k.startswith("PREFECT_")] == []
    assert "GOVERNANCE_SIGNING_KEY_FILE" not in gateway
    assert make_url(gateway["GOVERNANCE_DATABASE_URL"]).username == team_env.GATEWAY_ROLE
    assert gateway["GOVERNANCE_SECRET_KEY_FILE"] == str(secrets / team_env.GATEWAY_KEY_NAME)

    prefect = procs["prefect_server"]
    assert [k for k in prefect if k.startswith("GOVERNANCE_")] == []
    url = make_url(prefect["PREFECT_API_DATABASE_CONNECTION_URL"])
    assert (url.drivername, url.username, url.database) == (
        "postgresql+asyncpg",
        "prefect",
        "prefect",
    )

    worker = procs["worker"]
    assert worker["PREFECT_API_URL"] == stack["urls"]["prefect_api"]
    assert make_url(worker["GOVERNANCE_DATABASE_URL"]).username == team_env.WORKER_ROLE
    assert worker["GOVERNANCE_CHECKOUT"] == str(ROOT)
    assert "PREFECT_API_DATABASE_CONNECTION_URL" not in worker

    if "governance_server" in procs:
        server = procs["governance_server"]
        assert server["PREFECT_API_URL"] == stack["urls"]["prefect_api"]
        assert make_url(server["GOVERNANCE_DATABASE_URL"]).username == team_env.SERVER_ROLE
        assert stack["person_env"] == {"GOVERNANCE_SERVER_URL": stack["urls"]["governance_server"]}


def test_postgres_asks_every_role_its_password_and_prefect_keeps_its_state_there(stack):
    port = stack["ports"]["postgres"]
    secrets = Path(stack["dir"]) / "secrets"
    gateway_password = (secrets / f"pg-{team_env.GATEWAY_ROLE}.password").read_text().strip()
    for role in (team_env.OWNER_ROLE, team_env.SUPERUSER):
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(
                host="127.0.0.1", port=port, user=role, password=gateway_password, dbname="postgres"
            ).close()
    prefect_password = (secrets / "pg-prefect.password").read_text().strip()
    with psycopg.connect(
        host="127.0.0.1", port=port, user="prefect", password=prefect_password, dbname="prefect"
    ) as conn:
        names = {row[0] for row in conn.execute("SELECT name FROM deployment")}
    manifest = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    assert names == {d["name"] for d in manifest["deployments"]}


def test_a_deployment_of_prefect_yaml_runs_on_the_worker(stack):
    api = stack["urls"]["prefect_api"]
    with httpx.Client(base_url=api, timeout=10) as client:
        deployment = client.get("/deployments/name/rollout-watchdog/rollout-watchdog").json()
        assert deployment["work_pool_name"] == team_env.WORK_POOL
        run = client.post(f"/deployments/{deployment['id']}/create_flow_run", json={}).json()
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            state = client.get(f"/flow_runs/{run['id']}").json()["state"]
            if state["type"] in {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}:
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"the worker did not finish rollout-watchdog in 150 s: {state}")
    assert state["type"] == "COMPLETED", state


def test_start_fails_loudly_on_its_bound_and_leaves_nothing_running():
    path = stack_dir()
    try:
        failed = team("start", str(path / "team"), "--timeout", "1")
        state = json.loads((path / "team" / "team.json").read_text())
        left = processes_under(path)
    finally:
        team("stop", str(path / "team"))
        shutil.rmtree(path, ignore_errors=True)
    assert failed.returncode == 1
    assert failed.stderr.startswith("team stack: FAILED: prefect_server did not become healthy")
    assert f"see {path / 'team' / 'logs' / 'prefect.log'}" in failed.stderr
    assert (state["processes"], left) == ({}, [])

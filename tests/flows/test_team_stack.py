"""The team stack (deployments/team.py) started as an operator starts it, in a fresh DIR:
PostgreSQL with a password per role, the Prefect server on it, a process work pool's worker
running prefect.yaml's deployments, the gateway (and the governance server), each process
with only its own credentials, stopped by PID."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest
import yaml
from sqlalchemy.engine import make_url
from teamkit import CALLER_SECRET, NEEDS_POSTGRES, ROOT, environ, team

from deployments import team_env
from deployments.local_stack import free_port
from deployments.team_proc import StackError, alive, http_ok, spawn, stop, wait_healthy

pytestmark = [pytest.mark.sqlite_only, NEEDS_POSTGRES]
PARTS = {"postgres", "prefect_server", "gateway", "governance_server", "worker"}


def test_start_reports_every_part_healthy_in_the_state_file(team_stack):
    assert set(team_stack["processes"]) >= PARTS
    for part, entry in team_stack["processes"].items():
        assert alive(entry), part
        if part != "postgres":
            assert httpx.get(entry["health"], timeout=5).status_code == 200, part
    assert team_stack["startup_seconds"] < team_stack["took"]
    assert f"team stack up in {team_stack['startup_seconds']} s" in team_stack["stdout"]
    status = team("status", team_stack["dir"])
    assert status.returncode == 0, status.stdout
    assert [line.split()[:2] for line in status.stdout.splitlines()] == [
        [part, "healthy"] for part in team_stack["processes"]
    ]


def test_each_part_holds_only_its_own_credentials(team_stack):
    procs = {part: environ(entry["pid"]) for part, entry in team_stack["processes"].items()}
    secrets = Path(team_stack["dir"]) / "secrets"
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
    # A purpose key file (keys derive --gateway), not the master key.
    assert gateway["GOVERNANCE_SECRET_KEY_FILE"] == str(secrets / "gateway.keys")

    prefect = procs["prefect_server"]
    assert [k for k in prefect if k.startswith("GOVERNANCE_")] == []
    url = make_url(prefect["PREFECT_API_DATABASE_CONNECTION_URL"])
    assert (url.drivername, url.username, url.database) == (
        "postgresql+asyncpg",
        "prefect",
        "prefect",
    )

    worker = procs["worker"]
    assert worker["PREFECT_API_URL"] == team_stack["urls"]["prefect_api"]
    assert make_url(worker["GOVERNANCE_DATABASE_URL"]).username == team_env.WORKER_ROLE
    assert worker["GOVERNANCE_CHECKOUT"] == str(ROOT)
    assert "PREFECT_API_DATABASE_CONNECTION_URL" not in worker

    server_url = team_stack["urls"]["governance_server"]
    server = procs["governance_server"]
    assert server["PREFECT_API_URL"] == team_stack["urls"]["prefect_api"]
    assert make_url(server["GOVERNANCE_DATABASE_URL"]).username == team_env.SERVER_ROLE
    assert "PREFECT_API_DATABASE_CONNECTION_URL" not in server
    # What `start` tells people to set, and nothing else.
    assert team_stack["person_env"] == {
        "GOVERNANCE_SERVER_URL": team_stack["urls"]["governance_server"]
    }
    assert f"export GOVERNANCE_SERVER_URL={server_url}" in team_stack["stdout"]


def test_postgres_asks_every_role_its_password_and_prefect_keeps_its_state_there(team_stack):
    port = team_stack["ports"]["postgres"]
    secrets = Path(team_stack["dir"]) / "secrets"
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


def test_a_deployment_of_prefect_yaml_runs_on_the_worker(team_stack):
    api = team_stack["urls"]["prefect_api"]
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


def test_a_part_that_does_not_answer_fails_the_start_loudly_and_is_stopped(tmp_path):
    log = tmp_path / "logs" / "mute.log"
    # A process that runs but never answers its health URL (nothing listens on the port).
    mute = spawn(
        [sys.executable, "-c", "print('listening soon', flush=True); import time; time.sleep(60)"],
        {"PATH": os.environ["PATH"]},
        log,
        f"http://127.0.0.1:{free_port()}/health",
    )
    deadline = time.monotonic() + 2
    with pytest.raises(StackError) as failed:
        wait_healthy("mute", mute, deadline, lambda: http_ok(mute.health))
    assert str(failed.value).startswith(
        f"mute did not become healthy ({mute.health}) in time; see {log}\n"
    )
    assert str(failed.value).endswith("listening soon")
    assert time.monotonic() - deadline < 2
    # A PID whose start time differs from the record is someone else's: left alone.
    assert stop({**mute.record(), "start_ticks": mute.start_ticks + 1}) == "not running"
    assert alive(mute.record())
    assert stop(mute.record()) == "stopped"
    mute.process.wait(timeout=5)
    assert not alive(mute.record())

    log = tmp_path / "logs" / "dying.log"
    dying = spawn([sys.executable, "-c", "raise SystemExit('no port')"], {}, log, mute.health)
    with pytest.raises(StackError, match=r"^dying exited while starting; see .*\nno port$"):
        wait_healthy("dying", dying, time.monotonic() + 30, lambda: False)
    assert dying.process.wait(timeout=5) == 1

"""The team stack on one host: PostgreSQL, the Prefect server on it, a process work pool's
worker, the gateway and the governance server, each with only its own credentials.

    python -m deployments.team start  DIR [--policy FILE] [--admin NAME] [--timeout S]
    python -m deployments.team status DIR
    python -m deployments.team stop   DIR

(`make up TEAM=1` / `make down TEAM=1` with DIR .governance/team.) `start` prints the URLs
and the one variable a person needs, GOVERNANCE_SERVER_URL. Everything listens on 127.0.0.1,
on ports chosen free at the first start and kept in DIR/team.json for restarts:

    {"version": 1, "dir": ..., "started_at": ISO, "startup_seconds": 41.2,
     "ports": {"postgres", "prefect", "server", "gateway", "worker_health"},
     "urls": {"governance_server", "prefect_api", "prefect_ui", "gateway", "worker_health",
              "postgres"},
     "person_env": {"GOVERNANCE_SERVER_URL": ...},
     "init_log": "DIR/secrets/init.log",  # what init printed: the first admin's enrolment
                                         # (a TOTP secret: mode 0600, not in this file)
     "steps": {STEP: seconds since the start when it was done},
     "processes": {PART: {"pid", "start_ticks", "argv", "log", "health"}}}

PARTs: postgres, prefect_server, gateway, governance_server, worker. `stop` stops only
those PIDs (and what they started), checked against their start time; a PID reused by
another program is left alone. A part that does not answer its health check within the
bounded wait fails `start` loudly (exit 1, the part, its log's tail), after stopping what
was started. Which environment each part gets: deployments/team_env.py.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from deployments import team_pg
from deployments.local_stack import free_port
from deployments.team_env import (
    GATEWAY_KEY_NAME,
    WORK_POOL,
    Layout,
    Ports,
    deployer_env,
    gateway_env,
    init_env,
    person_env,
    prefect_server_env,
    server_env,
    worker_env,
)
from deployments.team_proc import (
    StackError,
    Started,
    alive,
    http_ok,
    run_once,
    spawn,
    start_ticks,
    stop,
    wait_healthy,
)
from governance.config import EXAMPLE_POLICY
from governance.keyring import Keyring, write_purpose_keys
from governance.serving.key_purposes import GATEWAY_PURPOSES

PY = sys.executable
# Stopped in this order (the worker first, so no flow starts against a stopping server).
STOP_ORDER = ("worker", "governance_server", "gateway", "prefect_server", "postgres")
# The governance server's health route (no token needed).
SERVER_HEALTH_PATH = "/v1/health"


def read_state(layout: Layout) -> dict:
    """The state file, or an empty state if the stack never started in DIR."""
    if not layout.state_file.exists():
        return {}
    return json.loads(layout.state_file.read_text())


def write_state(layout: Layout, state: dict) -> None:
    """Write the state file atomically."""
    partial = layout.state_file.with_suffix(".tmp")
    partial.write_text(json.dumps(state, indent=2) + "\n")
    partial.replace(layout.state_file)


def _ports(state: dict) -> Ports:
    if state.get("ports"):
        return Ports(**state["ports"])
    return Ports(free_port(), free_port(), free_port(), free_port(), free_port())


def _init(layout: Layout, ports: Ports, admin: str | None) -> str:
    """`governance server init` as the owner: schema, role grants, keys, the first admin."""
    # The first admin's enrolment (a TOTP secret) is in this output: kept beside the keys.
    log = layout.secrets / "init.log"
    log.touch(mode=0o600)
    # The first admin is enrolled by the first init that succeeds; a restart keeps everyone.
    done = layout.secrets / "init.done"
    extra = ["--admin", admin] if admin and not done.exists() else []
    argv = [PY, "-m", "governance.cli", "server", "init", *extra]
    out = run_once(argv, init_env(layout, ports), log, timeout=180)
    done.touch()
    return out


def _gateway_keys(layout: Layout) -> None:
    """The gateway's purpose key file, derived once from the secret key (as `governance keys
    derive --gateway` does, without another interpreter's start-up)."""
    path = layout.secrets / GATEWAY_KEY_NAME
    if not path.exists():
        write_purpose_keys(Keyring(layout.secrets / "secret.key"), GATEWAY_PURPOSES, path)


def _deploy(layout: Layout, ports: Ports) -> None:
    """The process work pool and prefect.yaml's deployments on it."""
    env, log = deployer_env(layout, ports), layout.logs / "deploy.log"
    prefect = [PY, "-m", "prefect"]
    create = [*prefect, "work-pool", "create", WORK_POOL, "--type", "process", "--overwrite"]
    run_once(create, env, log, timeout=120)
    run_once([*prefect, "--no-prompt", "deploy", "--all"], env, log, timeout=300)


def start(layout: Layout, policy: Path | None, timeout: float, admin: str | None = None) -> dict:
    """Start every part and wait for each to be healthy; return the state written."""
    began = time.monotonic()
    deadline = began + timeout
    state = read_state(layout)
    running = [part for part, entry in state.get("processes", {}).items() if alive(entry)]
    if running:
        raise StackError(f"the stack in {layout.dir} is running ({', '.join(running)}); stop it")
    ports = _ports(state)
    layout.dir.mkdir(parents=True, exist_ok=True)
    layout.policy_file.parent.mkdir(parents=True, exist_ok=True)
    if policy is not None:
        shutil.copyfile(policy, layout.policy_file)
    elif not layout.policy_file.exists():
        shutil.copyfile(EXAMPLE_POLICY, layout.policy_file)
    urls = ports.urls()
    state = {
        "version": 1,
        "dir": str(layout.dir.resolve()),
        "started_at": datetime.now(UTC).isoformat(),
        "startup_seconds": None,
        "ports": asdict(ports),
        "urls": urls,
        "person_env": person_env(ports),
        "init_log": str(layout.secrets / "init.log"),
        "steps": {},
        "processes": {},
    }
    procs: dict[str, Started] = {}

    def step(name: str) -> None:
        # Seconds since the start at which each step was done: where the start-up time goes.
        state["steps"][name] = round(time.monotonic() - began, 1)

    def record(part: str, entry: Started) -> None:
        procs[part] = entry
        state["processes"][part] = entry.record()
        write_state(layout, state)

    try:
        team_pg.start(layout, ports)
        step("postgres")
        pid = team_pg.postmaster_pid(layout, ports)
        pg_log = layout.pg_dir / f"postgres-{ports.postgres}.log"
        argv = ["deployments/postgres.sh", "start", str(layout.pg_dir)]
        record("postgres", Started(pid, start_ticks(pid) or 0, argv, str(pg_log), urls["postgres"]))
        prefect_argv = [PY, "-m", "prefect", "server", "start"]
        prefect_argv += ["--host", "127.0.0.1", "--port", str(ports.prefect)]
        health = urls["prefect_api"] + "/health"
        record(
            "prefect_server",
            spawn(prefect_argv, prefect_server_env(layout, ports), _log(layout, "prefect"), health),
        )
        _init(layout, ports, admin)
        _gateway_keys(layout)
        step("init")
        gateway_argv = [PY, "-m", "governance.cli", "serve", "--host", "127.0.0.1"]
        gateway_argv += ["--port", str(ports.gateway)]
        health = urls["gateway"] + "/v2/health/ready"
        record(
            "gateway",
            spawn(gateway_argv, gateway_env(layout, ports), _log(layout, "gateway"), health),
        )
        server_argv = [PY, "-m", "governance.cli", "server", "run", "--host", "127.0.0.1"]
        server_argv += ["--port", str(ports.server), "--workers", "2"]
        health = urls["governance_server"] + SERVER_HEALTH_PATH
        env = server_env(layout, ports)
        record("governance_server", spawn(server_argv, env, _log(layout, "server"), health))
        wait_healthy(
            "prefect_server", procs["prefect_server"], deadline, _http(procs, "prefect_server")
        )
        step("prefect_server")
        _deploy(layout, ports)
        step("deploy")
        worker_argv = [PY, "-m", "prefect", "worker", "start", "--pool", WORK_POOL]
        worker_argv += ["--type", "process", "--name", "team-worker", "--with-healthcheck"]
        worker_argv += ["--install-policy", "never"]
        health = urls["worker_health"]
        record(
            "worker", spawn(worker_argv, worker_env(layout, ports), _log(layout, "worker"), health)
        )
        for part in ("gateway", "governance_server", "worker"):
            wait_healthy(part, procs[part], deadline, _http(procs, part))
            step(part)
    except BaseException:
        stop_all(layout, quiet=True)
        raise
    state["startup_seconds"] = round(time.monotonic() - began, 1)
    write_state(layout, state)
    return state


def _log(layout: Layout, part: str) -> Path:
    return layout.logs / f"{part}.log"


def _http(procs: dict[str, Started], part: str):
    return lambda: http_ok(procs[part].health)


def stop_all(layout: Layout, quiet: bool = False) -> dict[str, str]:
    """Stop every process the state file records; return what happened to each."""
    state = read_state(layout)
    processes = state.get("processes", {})
    done: dict[str, str] = {}
    for part in STOP_ORDER:
        entry = processes.get(part)
        if entry is None:
            continue
        if part == "postgres":
            # pg_ctl on our own data directory: a clean shutdown of exactly our cluster.
            was = alive(entry)
            team_pg.stop(layout, Ports(**state["ports"]))
            done[part] = "stopped" if was else "not running"
        else:
            done[part] = stop(entry)
        if not quiet:
            print(f"{part}: {done[part]} (pid {entry['pid']})")
    if state:
        state["processes"] = {}
        write_state(layout, state)
    return done


def status(layout: Layout) -> bool:
    """Print each recorded part's state; True if every one runs and answers."""
    state = read_state(layout)
    processes = state.get("processes", {})
    if not processes:
        print(f"no team stack running in {layout.dir}")
        return False
    healthy = True
    for part, entry in processes.items():
        up = alive(entry)
        answers = up and (part == "postgres" or http_ok(entry["health"]))
        healthy &= bool(answers)
        word = "healthy" if answers else ("running, not answering" if up else "not running")
        print(f"{part:18} {word:24} pid {entry['pid']:<8} {entry['health']}  log {entry['log']}")
    return healthy


def _print_started(state: dict) -> None:
    urls = state["urls"]
    print(f"team stack up in {state['startup_seconds']} s (state: {state['dir']}/team.json)")
    print(f"  Prefect UI:        {urls['prefect_ui']}")
    print(f"  Gateway:           {urls['gateway']} (OIP v2 at /v2, metrics at /metrics)")
    print(f"  Governance server: {urls['governance_server']}")
    print(f"  Console:           {urls['governance_server']}/")
    print("A person needs only:")
    for key, value in state["person_env"].items():
        print(f"  export {key}={value}")
    print("  governance login NAME --code CODE")
    print(f"The first admin's enrolment (a TOTP secret, mode 0600): {state['init_log']}")
    print(f"Logs in {state['dir']}/logs. Stop: python -m deployments.team stop {state['dir']}")


def main(argv: list[str] | None = None) -> int:
    """The command line: start, status or stop the stack in DIR."""
    parser = argparse.ArgumentParser(
        prog="python -m deployments.team", description=__doc__.split("\n")[0]
    )
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--policy", type=Path, help="governance.yaml for the stack (start)")
    parser.add_argument("--admin", help="first start: enrol this roster person as the admin")
    parser.add_argument("--timeout", type=float, default=240, help="bound on the start, seconds")
    args = parser.parse_args(argv)
    layout = Layout(args.dir.resolve())
    if args.command == "status":
        return 0 if status(layout) else 1
    if args.command == "stop":
        stop_all(layout)
        return 0
    try:
        state = start(layout, args.policy, args.timeout, args.admin)
    except StackError as exc:
        print(f"team stack: FAILED: {exc}", file=sys.stderr)
        return 1
    _print_started(state)
    return 0


if __name__ == "__main__":
    sys.exit(main())

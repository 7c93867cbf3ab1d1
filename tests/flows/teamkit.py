"""Helpers of the team-stack tests: the operator's `deployments.team`, a person's thin CLI,
the enrolment, the client applications that post predictions and outcomes."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pyotp
import pytest
import yaml

from deployments.team_env import Layout, Ports, server_env
from deployments.team_pg import server_bindir
from deployments.team_proc import alive
from governance.bootstrap import open_governance
from governance.config import EXAMPLE_POLICY, Settings
from governance.domain.policy_sections import ROLES
from governance.services.trust import identity

ROOT = Path(__file__).resolve().parents[2]
NEEDS_POSTGRES = pytest.mark.skipif(
    server_bindir() is None,
    reason="PostgreSQL server binaries not found (apt-get install postgresql, or PG_BINDIR)",
)
# Something the caller's shell holds that no part of the stack may inherit.
CALLER_SECRET = "TEAM_STACK_CALLER_SECRET"
# Spare people, so nobody waits for their next one-time code.
PEOPLE = {"gina": ["ml_lead"], "hank": ["risk_officer"], "jack": ["ml_engineer"]}
# Hook: the first admin, enrolled by `server init --admin` once the roster knows that role.
ADMIN = "root" if "admin" in ROLES else None
# Canary steps the test can wait for (as tests/flows/conftest.py ROLLOUTS).
CANARY = {
    "steps": [50, 100],
    "bake_minutes": 0.05,
    "min_samples": 15,
    "min_labels": 10,
    "max_extensions": 4,
    "latency_min_effect": 4.0,
    "max_accuracy_drop": 0.2,
}


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


def write_policy(path: Path) -> Path:
    """The example policy with short canary bakes and spare people."""
    policy = yaml.safe_load(EXAMPLE_POLICY.read_text())
    policy["canary"] = CANARY
    policy["roster"].update(PEOPLE)
    if ADMIN:
        policy["roster"][ADMIN] = ["admin"]
    path.write_text(yaml.safe_dump(policy))
    return path


def start_stack(path: Path) -> dict:
    """Start the stack in path/team; the state file, with how long `start` took."""
    policy = write_policy(path / "policy.yaml")
    began = time.monotonic()
    extra = ["--admin", ADMIN] if ADMIN else []
    started = team("start", str(path / "team"), "--policy", str(policy), *extra)
    took = time.monotonic() - began
    assert started.returncode == 0, started.stdout + started.stderr
    state = json.loads((path / "team" / "team.json").read_text())
    return {**state, "took": took, "stdout": started.stdout}


def stop_stack(path: Path) -> list[str]:
    """Stop the stack in path/team; the parts still alive afterwards (none, if it worked)."""
    state_file = path / "team" / "team.json"
    if not state_file.exists():  # `start` failed before it started anything
        return []
    recorded = json.loads(state_file.read_text()).get("processes", {})
    stopped = team("stop", str(path / "team"))
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    return [part for part, entry in recorded.items() if alive(entry)]


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


def enrol_on_host(state: dict, names: list[str]) -> dict[str, str]:
    """Enrol people as the operator on the server host does (the server's own credentials);
    their secrets, as their authenticator apps would hold them.

    Hook: with the admin role (ADMIN set) the admin enrols them through the server instead.
    """
    env = server_env(Layout(Path(state["dir"])), Ports(**state["ports"]))
    settings = Settings(
        home=env["GOVERNANCE_HOME"],
        database_url=env["GOVERNANCE_DATABASE_URL"],
        policy_file=env["GOVERNANCE_POLICY_FILE"],
        secret_key_file=env["GOVERNANCE_SECRET_KEY_FILE"],
        artifact_root=env["GOVERNANCE_ARTIFACT_ROOT"],
    )
    gov = open_governance(settings)
    try:
        now = datetime.now(UTC)
        return {
            name: identity.enroll(gov, name, actor="operator", now=now).secret for name in names
        }
    finally:
        gov.close()


def secret_in(output: str) -> str:
    """The TOTP secret an enrolment printed."""
    [line] = [line for line in output.splitlines() if line.startswith("secret for manual entry:")]
    return line.split(":", 1)[1].strip()


class Person:
    """One person's laptop: the thin CLI with GOVERNANCE_SERVER_URL and nothing else."""

    def __init__(self, name: str, secret: str, server: str, home: Path) -> None:
        self.name, self.totp, self.home = name, pyotp.TOTP(secret), home
        home.mkdir(parents=True, exist_ok=True)
        self.env = {"GOVERNANCE_SERVER_URL": server}
        self.last_step = -1

    def code(self) -> str:
        """The next unused one-time code (the current step, or the next one)."""
        step = max(int(time.time()) // 30, self.last_step + 1)
        if step > int(time.time()) // 30 + 1:
            time.sleep(step * 30 - 30 - time.time() + 0.05)
        self.last_step = step
        return self.totp.at(step * 30)

    def run(self, *args: str) -> subprocess.CompletedProcess:
        """`governance ARGS` on this person's machine."""
        env = {
            **self.env,
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
        }
        program = (
            "import sys; from governance.entry import main; sys.argv[0] = 'governance'; main()"
        )
        return subprocess.run(
            [sys.executable, "-c", program, *args],
            env=env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=180,
        )

    def ok(self, *args: str) -> str:
        """`governance ARGS`, which must succeed; its output."""
        done = self.run(*args)
        assert done.returncode == 0, (self.name, args, done.stdout, done.stderr)
        return done.stdout


def until(check: Callable[[], object], timeout: float, what: str) -> object:
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(1)
    pytest.fail(f"{what}: not within {timeout:.0f} s")


class Traffic(threading.Thread):
    """Client applications: one-row predictions by random users, each outcome reported."""

    def __init__(
        self, url: str, endpoint: str, rows: list[dict], labels: list[int], headers: dict
    ) -> None:
        super().__init__(daemon=True)
        self.url, self.endpoint, self.rows, self.labels = url, endpoint, rows, labels
        self.headers = headers
        self.halt = threading.Event()
        self.answers: list[int] = []

    def run(self) -> None:
        """About 40 requests a second until halted (at most 10,000)."""
        rng = random.Random(7)
        with httpx.Client(base_url=self.url, headers=self.headers, timeout=10) as client:
            for _ in range(10_000):
                if self.halt.is_set():
                    return
                i = rng.randrange(len(self.rows))
                body = {"rows": [self.rows[i]], "targeting_key": f"user-{rng.randrange(5000)}"}
                reply = client.post(f"/v1/endpoints/{self.endpoint}/predict", json=body)
                self.answers.append(reply.status_code)
                if reply.status_code == 200:
                    [served] = reply.json()["predictions"]
                    outcome = {"prediction_id": served["prediction_id"], "label": self.labels[i]}
                    client.post("/v1/outcomes", json=outcome)
                time.sleep(0.02)

    def __enter__(self) -> Traffic:
        self.start()
        return self

    def __exit__(self, *_) -> None:
        self.halt.set()
        self.join(timeout=30)

"""The team stack's layout and who gets which credentials: every process's environment here.

Each part of the stack gets only what it needs, built from a short allow-list of the caller's
environment (never all of it, so nothing the operator's shell holds leaks into a part):

| part              | database role        | secret key | signing key | Prefect API |
| ----------------- | -------------------- | ---------- | ----------- | ----------- |
| init (one-shot)   | OWNER_ROLE           | yes        | yes         | no          |
| PostgreSQL        | -                    | no         | no          | -           |
| Prefect server    | PREFECT_ROLE (own db)| no         | no          | serves it   |
| governance server | SERVER_ROLE          | yes        | yes         | yes         |
| worker (+ flows)  | WORKER_ROLE          | yes        | yes         | yes         |
| gateway           | GATEWAY_ROLE         | purpose key| no          | no          |
| a person's CLI    | -                    | no         | no          | no          |

The roles and key files are named here once (OWNER_ROLE .. AUDITOR_ROLE, GATEWAY_KEY_NAME).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# PostgreSQL roles; postgres.sh creates the owner and the application role.
OWNER_ROLE = "governance_owner"
SERVER_ROLE = "governance_app"
WORKER_ROLE = SERVER_ROLE  # trusted infrastructure: in-process access to the services
# The gateway's own role: reads what it serves, appends predictions and outcomes.
GATEWAY_ROLE = "governance_gateway"
# The read-only auditor's role: no process of the stack runs as it; an auditor's tools may.
AUDITOR_ROLE = "governance_auditor"
PREFECT_ROLE = "prefect"
PREFECT_DATABASE = "prefect"
GOVERNANCE_DATABASE = "governance"
SUPERUSER = "postgres"

# The gateway's purpose key file under secrets/ (`governance keys derive --gateway`): the
# subkeys it checks with, never the master key (TOTP secrets, sessions, request tokens).
GATEWAY_KEY_NAME = "gateway.keys"

# The work pool of prefect.yaml, and how often the worker asks for runs (the resume latency).
WORK_POOL = "governance"
WORKER_QUERY_SECONDS = "1"

# What a started process may inherit from the caller's environment, nothing else.
INHERITED = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR")


def roles() -> list[str]:
    """Every database role the stack logs in as, each with its own password."""
    found = [SUPERUSER, OWNER_ROLE, SERVER_ROLE, GATEWAY_ROLE, PREFECT_ROLE, AUDITOR_ROLE]
    return list(dict.fromkeys(role for role in found if role))


@dataclass(frozen=True)
class Layout:
    """Where the stack in DIR keeps each thing."""

    dir: Path

    @property
    def state_file(self) -> Path:
        """The state file: PIDs, ports, URLs, logs (see deployments/team.py)."""
        return self.dir / "team.json"

    @property
    def pg_dir(self) -> Path:
        """postgres.sh's DIR: the cluster's data, socket and log."""
        return self.dir / "pg"

    @property
    def secrets(self) -> Path:
        """Keys and database passwords (mode 0700)."""
        return self.dir / "secrets"

    @property
    def logs(self) -> Path:
        """One log per process."""
        return self.dir / "logs"

    @property
    def policy_file(self) -> Path:
        """The policy every governance process applies."""
        return self.dir / "config" / "governance.yaml"

    @property
    def artifacts(self) -> Path:
        """The content-addressed artifact store (server writes, worker and gateway read)."""
        return self.dir / "artifacts"

    def home(self, part: str) -> Path:
        """A part's own GOVERNANCE_HOME / PREFECT_HOME."""
        return self.dir / "homes" / part

    def password(self, role: str) -> str:
        """The role's database password (made at the first start)."""
        return (self.secrets / f"pg-{role}.password").read_text().strip()


@dataclass(frozen=True)
class Ports:
    """The ports of one stack, chosen free at its first start and kept for restarts."""

    postgres: int
    prefect: int
    server: int
    gateway: int
    worker_health: int

    def urls(self) -> dict[str, str]:
        """The stack's URLs by part."""
        return {
            "governance_server": f"http://127.0.0.1:{self.server}",
            "prefect_api": f"http://127.0.0.1:{self.prefect}/api",
            "prefect_ui": f"http://127.0.0.1:{self.prefect}",
            "gateway": f"http://127.0.0.1:{self.gateway}",
            "worker_health": f"http://127.0.0.1:{self.worker_health}/health",
            "postgres": f"127.0.0.1:{self.postgres}",
        }


def database_url(layout: Layout, ports: Ports, role: str, driver: str = "psycopg") -> str:
    """The URL `role` logs in with (password included) to its database."""
    database = PREFECT_DATABASE if role == PREFECT_ROLE else GOVERNANCE_DATABASE
    secret = layout.password(role)
    return f"postgresql+{driver}://{role}:{secret}@127.0.0.1:{ports.postgres}/{database}"


def base_env() -> dict[str, str]:
    """What every started process gets: the allow-list, this venv first on PATH, the checkout."""
    base = {key: os.environ[key] for key in INHERITED if key in os.environ}
    # The venv's interpreter first, so `prefect` and `governance` resolve to this checkout's.
    base["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), base.get("PATH", "")])
    return {**base, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}


def _governance(layout: Layout, ports: Ports, part: str, role: str) -> dict[str, str]:
    return {
        "GOVERNANCE_HOME": str(layout.home(part)),
        "GOVERNANCE_DATABASE_URL": database_url(layout, ports, role),
        "GOVERNANCE_POLICY_FILE": str(layout.policy_file),
        "GOVERNANCE_ARTIFACT_ROOT": str(layout.artifacts),
    }


def _keys(layout: Layout) -> dict[str, str]:
    return {
        "GOVERNANCE_SECRET_KEY_FILE": str(layout.secrets / "secret.key"),
        "GOVERNANCE_SIGNING_KEY_FILE": str(layout.secrets / "audit-signing.key"),
        "GOVERNANCE_ANCHOR_DIR": str(layout.dir / "anchors"),
    }


def init_env(layout: Layout, ports: Ports) -> dict[str, str]:
    """The one-shot schema setup: the owner, granting the other roles their rights."""
    return {
        **base_env(),
        **_governance(layout, ports, "server", OWNER_ROLE),
        **_keys(layout),
        "GOVERNANCE_APP_ROLE": SERVER_ROLE,
        "GOVERNANCE_GATEWAY_ROLE": GATEWAY_ROLE,
        "GOVERNANCE_AUDITOR_ROLE": AUDITOR_ROLE,
    }


def prefect_server_env(layout: Layout, ports: Ports) -> dict[str, str]:
    """The Prefect server: its own database and nothing of governance."""
    return {
        **base_env(),
        "PREFECT_HOME": str(layout.home("prefect-server")),
        "PREFECT_API_DATABASE_CONNECTION_URL": database_url(
            layout, ports, PREFECT_ROLE, driver="asyncpg"
        ),
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(ports.prefect),
        "PREFECT_UI_API_URL": ports.urls()["prefect_api"],
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }


def deployer_env(layout: Layout, ports: Ports) -> dict[str, str]:
    """`prefect work-pool create` and `prefect deploy --all`: the API and the checkout only."""
    return {
        **base_env(),
        "PREFECT_HOME": str(layout.home("deployer")),
        "PREFECT_API_URL": ports.urls()["prefect_api"],
        "GOVERNANCE_CHECKOUT": str(ROOT),
    }


def worker_env(layout: Layout, ports: Ports) -> dict[str, str]:
    """The worker and the flow runs it starts: trusted, with the services in-process."""
    urls = ports.urls()
    return {
        **base_env(),
        **_governance(layout, ports, "worker", WORKER_ROLE),
        **_keys(layout),
        "GOVERNANCE_CHECKOUT": str(ROOT),
        "GOVERNANCE_GATEWAY_URL": urls["gateway"],
        "PREFECT_HOME": str(layout.home("worker")),
        "PREFECT_API_URL": urls["prefect_api"],
        "PREFECT_UI_URL": urls["prefect_ui"],
        "PREFECT_WORKER_QUERY_SECONDS": WORKER_QUERY_SECONDS,
        "PREFECT_WORKER_PREFETCH_SECONDS": WORKER_QUERY_SECONDS,
        "PREFECT_WORKER_WEBSERVER_HOST": "127.0.0.1",
        "PREFECT_WORKER_WEBSERVER_PORT": str(ports.worker_health),
    }


def gateway_env(layout: Layout, ports: Ports) -> dict[str, str]:
    """The gateway: its database role and key, no Prefect, no owner, no signing key."""
    return {
        **base_env(),
        **_governance(layout, ports, "gateway", GATEWAY_ROLE),
        "GOVERNANCE_SECRET_KEY_FILE": str(layout.secrets / GATEWAY_KEY_NAME),
    }


def server_env(layout: Layout, ports: Ports) -> dict[str, str]:
    """The governance server: the application role, the keys, and the Prefect API."""
    urls = ports.urls()
    return {
        **base_env(),
        **_governance(layout, ports, "server", SERVER_ROLE),
        **_keys(layout),
        "GOVERNANCE_GATEWAY_URL": urls["gateway"],
        "PREFECT_HOME": str(layout.home("server")),
        "PREFECT_API_URL": urls["prefect_api"],
        "PREFECT_UI_URL": urls["prefect_ui"],
    }


def person_env(ports: Ports) -> dict[str, str]:
    """All a person's CLI needs."""
    return {"GOVERNANCE_SERVER_URL": ports.urls()["governance_server"]}

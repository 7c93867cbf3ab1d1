"""The team stack's PostgreSQL: deployments/postgres.sh's cluster, with a password per role,
password authentication for every connection, and Prefect's own database."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from pathlib import Path

import psycopg
from psycopg import sql

from deployments.team_env import (
    AUDITOR_ROLE,
    GATEWAY_ROLE,
    GOVERNANCE_DATABASE,
    OWNER_ROLE,
    PREFECT_DATABASE,
    PREFECT_ROLE,
    ROOT,
    SERVER_ROLE,
    SUPERUSER,
    Layout,
    Ports,
    base_env,
    roles,
)
from deployments.team_proc import StackError

POSTGRES_SH = ROOT / "deployments" / "postgres.sh"
# Written over initdb's `trust` rules once every role has a password: a process that knows
# another role's name but not its password cannot log in as it.
HBA = """# deployments/team.py: every connection proves its role's password.
local all all scram-sha-256
host  all all 127.0.0.1/32 scram-sha-256
host  all all ::1/128 scram-sha-256
"""


def server_bindir() -> Path | None:
    """PostgreSQL's server binaries, found as deployments/postgres.sh finds them."""
    if os.environ.get("PG_BINDIR"):
        return Path(os.environ["PG_BINDIR"])
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name or 0)
    )
    if debian and (debian[-1] / "initdb").exists():
        return debian[-1]
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _script(command: str, layout: Layout, ports: Ports, password: str | None) -> str:
    env = {
        # PG_BINDIR is the one setting of the caller's postgres.sh honours here.
        **base_env(),
        **({"PG_BINDIR": os.environ["PG_BINDIR"]} if os.environ.get("PG_BINDIR") else {}),
        "PGPORT_TEST": str(ports.postgres),
        # postgres.sh makes a test database unless it exists: name one that always does.
        "PGDATABASE_TEST": "postgres",
        "GOVERNANCE_OWNER_ROLE": OWNER_ROLE,
        "GOVERNANCE_APP_ROLE": SERVER_ROLE,
        "GOVERNANCE_GATEWAY_ROLE": GATEWAY_ROLE,
        "GOVERNANCE_AUDITOR_ROLE": AUDITOR_ROLE,
        "PGDATABASE_APP": GOVERNANCE_DATABASE,
        "PG_MAX_CONNECTIONS": "100",
    }
    if password:
        # A password file, not PGPASSWORD: the postmaster inherits this environment.
        passfile = layout.secrets / "pgpass"
        passfile.write_text(f"127.0.0.1:{ports.postgres}:*:{SUPERUSER}:{password}\n")
        os.chmod(passfile, 0o600)
        env["PGPASSFILE"] = str(passfile)
    done = subprocess.run(
        ["bash", str(POSTGRES_SH), command, str(layout.pg_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise StackError(f"postgres.sh {command} failed:\n{done.stderr.strip()}")
    return done.stdout


def postmaster_pid(layout: Layout, ports: Ports) -> int:
    """The PID of the cluster's postmaster, from its data directory."""
    pid_file = layout.pg_dir / f"data-{ports.postgres}" / "postmaster.pid"
    return int(pid_file.read_text().split()[0])


def start(layout: Layout, ports: Ports) -> None:
    """Start the cluster (creating it, its roles and databases the first time)."""
    layout.secrets.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(layout.secrets, 0o700)
    first = not (layout.secrets / f"pg-{SUPERUSER}.password").exists()
    if first:
        for role in roles():
            path = layout.secrets / f"pg-{role}.password"
            path.write_text(secrets.token_urlsafe(24) + "\n")
            os.chmod(path, 0o600)
    _script("start", layout, ports, layout.password(SUPERUSER))
    _secure(layout, ports)


def stop(layout: Layout, ports: Ports) -> None:
    """Stop the cluster (fast shutdown)."""
    _script("stop", layout, ports, None)


def _secure(layout: Layout, ports: Ports) -> None:
    """Give every role its password, make Prefect's database, then require passwords.

    Idempotent: a restart (or a first start that failed half-way) runs it again."""
    with psycopg.connect(
        host="127.0.0.1",
        port=ports.postgres,
        user=SUPERUSER,
        password=layout.password(SUPERUSER),
        dbname="postgres",
        autocommit=True,
    ) as conn:
        existing = {row[0] for row in conn.execute("SELECT rolname FROM pg_roles")}
        for role in roles():
            password = sql.Literal(layout.password(role))
            if role not in existing:
                conn.execute(
                    sql.SQL(
                        "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}"
                    ).format(sql.Identifier(role), password)
                )
            else:
                conn.execute(
                    sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), password)
                )
        made = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (PREFECT_DATABASE,)
        ).fetchone()
        if not made:
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(PREFECT_DATABASE), sql.Identifier(PREFECT_ROLE)
                )
            )
        hba = Path(conn.execute("SHOW hba_file").fetchone()[0])
        hba.write_text(HBA)
        conn.execute("SELECT pg_reload_conf()")

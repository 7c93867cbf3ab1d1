"""bench/console.py's setup, never timed: the populated home and the logged-in clients.

A temporary governance home on a durable SQLite file: the models, versions and audit events
of bench/_audit_trail.py, twenty requests reopened for frank's inbox, one signed checkpoint,
heidi, frank and dave enrolled. Console clients log in through the login form; the API
client through `POST /v1/sessions`.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from _audit_trail import populate


def _settings(home: Path):
    """Settings of a fresh home holding its own copy of the example policy."""
    from governance.config import EXAMPLE_POLICY, Settings

    home.mkdir(parents=True)
    policy = home / "governance.yaml"
    shutil.copyfile(EXAMPLE_POLICY, policy)
    return Settings(
        home=home,
        database_url=f"sqlite:///{home / 'governance.db'}",
        secret_key_file=home / "secret.key",
        policy_file=policy,
        artifact_root=home / "artifacts",
    )


def env_of(settings) -> dict[str, str]:
    """The environment `governance server run` needs to serve `settings`."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith("GOVERNANCE_")}
    return keep | {
        "GOVERNANCE_HOME": str(settings.home),
        "GOVERNANCE_DATABASE_URL": settings.database_url,
        "GOVERNANCE_SECRET_KEY_FILE": str(settings.secret_key_file),
        "GOVERNANCE_POLICY_FILE": str(settings.policy_file),
        "GOVERNANCE_ARTIFACT_ROOT": str(settings.artifact_root),
    }


OPEN_REQUESTS = 20


def _open_requests(gov, now: datetime) -> None:
    """Reopen the newest requests for production, so frank's inbox has work (setup only).

    The bulk-loaded requests are all approved; these rows are edited behind the trail's back
    (`audit verify` would name them), which the render time does not depend on.
    """
    import sqlalchemy as sa

    from governance.store import tables

    requests = tables.metadata.tables["approval_requests"]
    newest = sa.select(requests.c.id).order_by(requests.c.id.desc()).limit(OPEN_REQUESTS)
    with gov.engine.begin() as conn:
        ids = [row[0] for row in conn.execute(newest)]
        conn.execute(
            requests.update()
            .where(requests.c.id.in_(ids))
            .values(
                status="open",
                target_stage="production",
                required={"ml_lead": 1, "risk_officer": 1},
                expires_at=now + timedelta(days=7),
                completed_at=None,
            )
        )


def prepare(
    home: Path, models: int, versions_per_model: int, events: int
) -> tuple[object, dict[str, str], dict]:
    """The populated home (never timed); the settings, the enrolled secrets, setup figures."""
    from governance.bootstrap import open_governance
    from governance.keyring import create_secret_key
    from governance.services.trust import audit, identity
    from governance.signing import generate_keypair
    from governance.store.schema import upgrade

    settings = _settings(home)
    create_secret_key(settings.resolved_secret_key_file)
    generate_keypair(settings.resolved_signing_key_file)
    bare = open_governance(settings, check_schema=False)
    upgrade(bare.engine)
    bare.close()
    gov = open_governance(settings)
    begin = time.perf_counter()
    versions = models * versions_per_model
    state_rows = populate(gov, events, models=models, versions=versions)
    populated = time.perf_counter() - begin
    now = datetime.now(UTC)
    _open_requests(gov, now)
    secrets = {
        name: identity.enroll(gov, name, actor="bench-setup", now=now).secret
        for name in ("heidi", "frank", "dave")
    }
    begin = time.perf_counter()
    audit.anchor(gov, now)  # one signed checkpoint for the audit page to list
    anchored = time.perf_counter() - begin
    gov.close()
    setup = {"populate_s": populated, "state_rows": state_rows, "anchor_s": anchored}
    return settings, secrets, setup


def _code(url: str, secret: str) -> str:
    import pyotp

    stamp = httpx.get(f"{url}/v1/health").json()["time"]
    return pyotp.TOTP(secret).at(datetime.fromisoformat(stamp))


def console_client(url: str, name: str, secret: str) -> httpx.Client:
    """A browser-like client logged in through the console's login form."""
    client = httpx.Client(base_url=url, follow_redirects=False, timeout=60)
    form = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    data = {"name": name, "code": _code(url, secret), "next": "/", "csrf": token}
    answer = client.post("/login", data=data)
    if answer.status_code != 303:
        raise RuntimeError(f"console login of {name} answered {answer.status_code}")
    return client


def api_client(url: str, name: str, secret: str) -> httpx.Client:
    """A client with a bearer token from `POST /v1/sessions`."""
    answer = httpx.post(f"{url}/v1/sessions", json={"name": name, "code": _code(url, secret)})
    answer.raise_for_status()
    token = answer.json()["token"]
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)

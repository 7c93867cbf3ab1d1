"""bench/server.py's setup, never timed: a server host, a logged-in person, a production version.

The host is a temporary directory standing in for the server's machine: `governance server
init --admin alice` (schema, keys, alice's authenticator), the example policy, and
`governance server run` on a free port with its database, key, policy and artifact root.
The person is a separate HOME with only `GOVERNANCE_SERVER_URL` and a session file, logged
in with `governance login alice --code CODE` (the code computed from the secret init
printed, as the authenticator app would). Versions are registered through the API as the
benchmark's timed ones are; one is put in production on the host with the internal move
promote-model makes (as bench/promotion.py seeds), since a promotion is not what is measured.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from _http_bench import Server, free_port

REPO = Path(__file__).resolve().parent.parent
GOVERNANCE = Path(sys.executable).parent / "governance"  # the console script of this venv
CARD = REPO / "examples" / "cards" / "churn-classifier.yaml"
MODEL = "churn"
PERSON = "alice"
SEEDED = 10  # versions registered before any clock, so `models list` has rows to show
PRODUCTION_VERSION = "1.0.0"
CLI_WARMUP = 2  # untimed runs of each command first (page cache, .pyc files)


@dataclass
class Envs:
    """The environments and addresses the measurements use."""

    url: str
    host: dict[str, str]  # the server host: database, keys, policy, artifacts
    thin: dict[str, str]  # a person: GOVERNANCE_SERVER_URL and a session file only
    direct: dict[str, str]  # today's CLI: database, key, policy, no server URL
    cwd: Path  # an empty directory: no ./governance.yaml or ./.governance is picked up
    enrolment: str  # how alice's authenticator was made
    auth: dict[str, str] = field(default_factory=dict)  # the person's bearer header


def seeded_version(i: int) -> str:
    """The i-th version registered in setup (1.0.0 is the one put in production)."""
    return f"1.{i}.0"


def timed_version(i: int) -> str:
    """The i-th version registered by a timed loop."""
    return f"2.{i}.0"


def card_yaml(version: str) -> bytes:
    """The complete example card, stating this model and version (the CLI checks both)."""
    text = CARD.read_text()
    text = re.sub(r"(?m)^name: .*$", f"name: {MODEL}", text, count=1)
    text = re.sub(r"(?m)^version: .*$", f"version: {version}", text, count=1)
    return text.encode()


def run_cli(
    argv: list[str], env: dict[str, str], cwd: Path, expect: str = "", program: Path = GOVERNANCE
) -> float:
    """Run `governance ARGV`; its wall time in ms. RuntimeError unless it exits 0 with `expect`."""
    begin = time.perf_counter()
    done = subprocess.run([str(program), *argv], env=env, cwd=cwd, capture_output=True)
    took = (time.perf_counter() - begin) * 1000
    out = done.stdout.decode(errors="replace")
    if done.returncode != 0 or expect not in out:
        err = done.stderr.decode(errors="replace").strip()[-500:]
        ran = " ".join([program.name, *argv])
        raise RuntimeError(f"{ran} exited {done.returncode}: {err or out}")
    return took


def _put_blob(client: httpx.Client, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    answer = client.put(f"/v1/blobs/{digest}", content=data)
    if answer.status_code not in (200, 201):
        raise RuntimeError(f"PUT /v1/blobs answered {answer.status_code}: {answer.text[:300]}")
    return digest


def register_over_api(client: httpx.Client, version: str, artifact: bytes, card: bytes) -> None:
    """What the thin client's `models register` sends: two uploads, then the command."""
    body = {
        "name": MODEL,
        "version": version,
        "card": {"sha256": _put_blob(client, card), "name": "card.yaml"},
        "artifact": {"sha256": _put_blob(client, artifact), "name": "model.skops"},
    }
    answer = client.post("/v1/commands/models/register", json=body)
    if answer.status_code != 200 or answer.json().get("exit_code") != 0:
        raise RuntimeError(f"register {version} answered {answer.status_code}: {answer.text[:400]}")


def _environments(work: Path, url: str) -> tuple[dict, dict, dict]:
    home, person = work / "host", work / "person"
    for path in (home, person / "home", work / "cwd"):
        path.mkdir(parents=True, exist_ok=True)
    base = {"PATH": "/usr/bin:/bin", "HOME": str(person / "home"), "LANG": "C.UTF-8"}
    store = {
        "GOVERNANCE_DATABASE_URL": f"sqlite:///{home / 'governance.db'}",
        "GOVERNANCE_SECRET_KEY_FILE": str(home / "secret.key"),
        "GOVERNANCE_POLICY_FILE": str(home / "governance.yaml"),
        "GOVERNANCE_ARTIFACT_ROOT": str(home / "artifacts"),
    }
    host = base | store | {"GOVERNANCE_HOME": str(home)}
    thin = base | {
        "GOVERNANCE_SERVER_URL": url,
        "GOVERNANCE_SESSION_FILE": str(person / "session.json"),
    }
    return host, thin, base | store


def _host_cli(argv: list[str], host: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    command = [str(GOVERNANCE), *argv]
    return subprocess.run(command, env=host, cwd=cwd, capture_output=True, text=True)


def _init_host(host: dict[str, str], cwd: Path) -> tuple[str, str]:
    """`governance server init --admin alice` with the example policy; (alice's secret, how).

    Where init cannot enrol the first admin yet, the host's own `people enroll alice`
    (the local CLI, with the keys) enrols alice instead; the report says which was used.
    """
    from governance.config import EXAMPLE_POLICY

    Path(host["GOVERNANCE_POLICY_FILE"]).write_text(EXAMPLE_POLICY.read_text())
    attempts = (["server", "init", "--admin", PERSON], ["people", "enroll", PERSON])
    problems = []
    for argv in attempts:
        done = _host_cli(argv, host, cwd)
        found = re.search(r"manual entry: ([A-Z2-7]+)", done.stdout)
        if done.returncode == 0 and found:
            return found.group(1), f"governance {' '.join(argv)} on the host"
        lines = (done.stderr or done.stdout).strip().splitlines()
        problems.append(f"{' '.join(argv)}: {lines[-1] if lines else done.returncode}")
    raise RuntimeError(f"could not enrol {PERSON} on the host: {'; '.join(problems)}")


def _token(session_file: Path, url: str) -> str:
    """The token `governance login` saved (a flat ticket, or tickets keyed by server URL)."""
    data = json.loads(session_file.read_text())
    for ticket in (data, data.get(url), *data.values()):
        if isinstance(ticket, dict) and isinstance(ticket.get("token"), str):
            return ticket["token"]
    raise RuntimeError(f"no token in {session_file}")


def _seed_production(host: dict[str, str]) -> None:
    """Put 1.0.0 in production with the move promote-model makes after its checks."""
    from governance.bootstrap import open_governance
    from governance.config import Settings
    from governance.domain.models import LifecycleStage
    from governance.services.rollout.production import _transition_in as transition_in

    settings = Settings(
        home=Path(host["GOVERNANCE_HOME"]),
        database_url=host["GOVERNANCE_DATABASE_URL"],
        secret_key_file=Path(host["GOVERNANCE_SECRET_KEY_FILE"]),
        policy_file=Path(host["GOVERNANCE_POLICY_FILE"]),
        artifact_root=Path(host["GOVERNANCE_ARTIFACT_ROOT"]),
    )
    gov = open_governance(settings)
    try:
        for stage in (LifecycleStage.staging, LifecycleStage.production):
            with gov.store.write() as tx:
                transition_in(
                    tx, MODEL, PRODUCTION_VERSION, stage, actor="bench-setup", now=datetime.now(UTC)
                )
    finally:
        gov.close()


def prepare(work: Path, workers: int, blobs: list[bytes], stack: ExitStack) -> Envs:
    """Host, running server (stopped by `stack`), logged-in person, versions, production."""
    import pyotp

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    host, thin, direct = _environments(work, url)
    cwd = work / "cwd"
    secret, enrolment = _init_host(host, cwd)
    command = [str(GOVERNANCE), "server", "run", "--host", "127.0.0.1", "--port", str(port)]
    server = stack.enter_context(
        Server([*command, "--workers", str(workers)], host, cwd, work / "server.log")
    )
    server.wait_ready(f"{url}/v1/health")
    run_cli(["login", PERSON, "--code", pyotp.TOTP(secret).now()], thin, cwd, expect=PERSON)
    envs = Envs(url=url, host=host, thin=thin, direct=direct, cwd=cwd, enrolment=enrolment)
    envs.auth = {"Authorization": f"Bearer {_token(Path(thin['GOVERNANCE_SESSION_FILE']), url)}"}
    with api_client(envs) as client:
        for i, blob in enumerate(blobs):
            register_over_api(client, seeded_version(i), blob, card_yaml(seeded_version(i)))
    _seed_production(host)
    return envs


def api_client(envs: Envs) -> httpx.Client:
    """One persistent client with the person's bearer token."""
    return httpx.Client(base_url=envs.url, headers=envs.auth, timeout=30.0)

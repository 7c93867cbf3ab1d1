"""The governance server as the door people use: a real server process on 127.0.0.1.

Each backend gets one server for the module; each test names its own models. People reach it
with only its URL and their session file (the thin client), or with plain HTTP.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pyotp
import pytest
import yaml
from conftest import BACKENDS, EXAMPLE_CARD
from gatewaykit import free_port
from seeding import make_settings
from serverkit import People, person_env, server_process, thin

from governance.bootstrap import open_governance
from governance.keyring import create_secret_key
from governance.services.trust import identity
from governance.signing import generate_keypair
from governance.store.schema import upgrade

UPLOAD_LIMIT = 400_000


class Team:
    """One backend's server, its database (read by the tests directly) and its people."""

    def __init__(self, url, gov, people, tmp) -> None:
        self.url, self.gov, self.people, self.tmp = url, gov, people, tmp
        # One session per person for the module: each login spends a 30-second code step.
        self.laptops: dict[str, dict[str, str]] = {}
        self.tokens: dict[str, str] = {}

    def env(self, name: str) -> dict[str, str]:
        """The environment of `name`'s laptop: the URL and their session file."""
        return person_env(self.url, self.tmp / "laptops" / name)

    def login(self, name: str) -> dict[str, str]:
        """`governance login NAME --code CODE` on their laptop (once); the laptop's environment."""
        if name in self.laptops:
            return self.laptops[name]
        env = self.laptops[name] = self.env(name)
        done = thin(env, "login", name, "--code", self.people.code(name))
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"logged in as {name} on {self.url} until ")
        return env

    def token(self, name: str) -> str:
        """A session token of `name` over plain HTTP (one per person for the module)."""
        if name not in self.tokens:
            self.tokens[name] = self.fresh_token(name)
        return self.tokens[name]

    def fresh_token(self, name: str) -> str:
        """A new session token of `name`, over plain HTTP."""
        answer = httpx.post(
            f"{self.url}/v1/sessions", json={"name": name, "code": self.people.code(name)}
        )
        assert answer.status_code == 201, answer.text
        return answer.json()["token"]

    def events(self, event_type: str) -> list:
        """The trail's events of one type, oldest first."""
        with self.gov.store.read() as tx:
            return tx.audit.query(event_type=event_type)


@pytest.fixture(scope="module", params=BACKENDS)
def team(request, tmp_path_factory):
    """A server process per backend, everyone enrolled on its database beforehand."""
    tmp = tmp_path_factory.mktemp(f"server-{request.param}")
    if request.param == "postgres":
        databases = request.getfixturevalue("postgres_databases")
        url = databases.create()
    else:
        url = f"sqlite:///{tmp / 'governance.db'}"
    settings = make_settings(tmp, url)
    settings.home.mkdir(parents=True, exist_ok=True)
    create_secret_key(settings.resolved_secret_key_file)
    bare = open_governance(settings, check_schema=False)
    upgrade(bare.engine)
    bare.close()
    gov = open_governance(settings)
    when = datetime.now(UTC)
    secrets = {
        name: identity.enroll(gov, name, actor="test-setup", now=when).secret
        # Admins last: once one is enrolled, only an admin enrols.
        for name in sorted(gov.policy.roster, key=lambda n: "admin" in gov.policy.roster[n])
    }
    limit = {"GOVERNANCE_SERVER_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT)}
    with server_process(settings, env=limit) as (base, _process):
        yield Team(base, gov, People(base, secrets), tmp)
    gov.close()
    if request.param == "postgres":
        databases.drop(url)


def _card(tmp: Path, name: str, version: str) -> Path:
    card = yaml.safe_load(EXAMPLE_CARD.read_text())
    card.update(name=name, version=version)
    path = tmp / f"{name}-{version}.yaml"
    path.write_text(yaml.safe_dump(card))
    return path


def _artifact(tmp: Path, model_bytes: list[bytes], name: str) -> Path:
    path = tmp / f"{name}.skops"
    path.write_bytes(model_bytes[0])
    return path


def test_a_person_with_only_the_url_registers_lists_shows_and_gets_files(team, model_bytes):
    env = team.login("alice")
    assert not {"GOVERNANCE_DATABASE_URL", "GOVERNANCE_SECRET_KEY_FILE"} & set(env)
    assert set(env) == {
        "PATH", "HOME", "XDG_CONFIG_HOME", "GOVERNANCE_SERVER_URL", "GOVERNANCE_SESSION_FILE"
    }  # fmt: skip
    card = _card(team.tmp, "srv-reg", "1.0.0")
    artifact = _artifact(team.tmp, model_bytes, "srv-reg")
    done = thin(env, "models", "register", "srv-reg", "1.0.0", "--card", str(card),
                "--artifact", str(artifact))  # fmt: skip
    digest = hashlib.sha256(model_bytes[0]).hexdigest()
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"registered srv-reg@1.0.0 (development) sha256:{digest}"
    [event] = [e for e in team.events("model.version_registered") if e.model == "srv-reg"]
    assert event.actor == "alice" and event.details["artifact_digest"] == digest

    listed = thin(env, "models", "list", "--name", "srv-reg")
    assert listed.returncode == 0 and "srv-reg" in listed.stdout and "alice" in listed.stdout
    out = team.tmp / "laptops" / "alice" / "card.md"
    written = thin(env, "models", "card", "srv-reg", "1.0.0", "--format", "md", "--out", str(out))
    assert written.returncode == 0, written.stderr
    assert out.read_text().startswith("# Model card: srv-reg 1.0.0")
    assert str(out) in written.stdout and "governance-command-" not in written.stdout

    whoami = thin(env, "whoami")
    assert whoami.stdout.startswith(f"alice (ml_engineer) on {team.url} until ")


def test_calls_without_a_live_token_are_401_named_and_recorded(team):
    before = len(team.events("server.call_refused"))
    bare = httpx.post(f"{team.url}/v1/commands/models/list", json={})
    forged = httpx.post(
        f"{team.url}/v1/commands/models/list", json={}, headers={"Authorization": "Bearer xyz"}
    )
    token = team.fresh_token("erin")
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.delete(f"{team.url}/v1/sessions/current", headers=headers).json() == {
        "ended": "erin"
    }
    revoked = httpx.post(f"{team.url}/v1/commands/models/list", json={}, headers=headers)
    for answer in (bare, forged, revoked):
        assert answer.status_code == 401
        assert answer.json()["error"]["type"] == "NotAuthenticated"
    assert bare.json()["error"]["message"].startswith("no bearer token: this call needs")
    assert forged.json()["error"]["message"].startswith("not logged in: the session is unknown")
    assert revoked.json()["error"]["message"].startswith("not logged in: the session of erin ended")
    refused = team.events("server.call_refused")[before:]
    assert [(e.actor, e.details["status"], e.details["path"]) for e in refused] == [
        ("anonymous", 401, "/v1/commands/models/list")
    ] * 3


def test_a_session_past_its_hours_is_refused_by_the_cli_in_one_line(team):
    env = team.env("frank")
    done = thin(env, "login", "frank", "--code", team.people.code("frank"), "--hours", "0.0003")
    assert done.returncode == 0, done.stderr
    time.sleep(1.5)
    late = thin(env, "models", "list")
    assert late.returncode == 1 and late.stdout == ""
    assert late.stderr.startswith("error: not logged in: the session of frank expired at ")
    assert late.stderr.count("\n") == 1 and "Traceback" not in late.stderr
    with team.gov.store.read() as tx:
        assert tx.audit.latest("person.logged_in").actor == "frank"


def test_a_person_outside_their_role_gets_403_naming_it_and_nothing_changes(team):
    token = team.token("alice")
    headers = {"Authorization": f"Bearer {token}"}
    before = len(team.events("server.call_refused"))
    trail = httpx.post(f"{team.url}/v1/commands/audit/log", json={}, headers=headers)
    assert trail.status_code == 403
    assert trail.json()["error"] == {
        "type": "Forbidden",
        "message": "alice does not hold the role auditor: `governance audit log` refused",
    }
    verify = httpx.get(f"{team.url}/v1/audit/verify", headers=headers)
    assert verify.status_code == 403 and "does not hold the role auditor" in verify.text
    flag = httpx.post(
        f"{team.url}/v1/commands/rollback",
        json={"endpoint": "nowhere", "reason": "try"},
        headers=headers,
    )
    assert flag.status_code == 403
    assert flag.json()["error"]["type"] == "RoleNotHeld"
    assert "alice does not hold the role ml_lead" in flag.json()["error"]["message"]
    refused = team.events("server.call_refused")[before:]
    assert [(e.actor, e.details["status"], e.details["error"]) for e in refused] == [
        ("alice", 403, "Forbidden"),
        ("alice", 403, "Forbidden"),
        ("alice", 403, "RoleNotHeld"),
    ]


def test_a_body_naming_another_actor_is_ignored(team, model_bytes):
    env = team.login("alice")
    card = _card(team.tmp, "srv-actor", "1.0.0")
    artifact = _artifact(team.tmp, model_bytes, "srv-actor")
    done = thin(env, "models", "register", "srv-actor", "1.0.0", "--card", str(card),
                "--artifact", str(artifact))  # fmt: skip
    assert done.returncode == 0, done.stderr
    headers = {"Authorization": f"Bearer {team.token('alice')}"}
    answer = httpx.post(
        f"{team.url}/v1/commands/models/alias",
        json={
            "name": "srv-actor",
            "alias": "champion",
            "version": "1.0.0",
            "actor": "carol",
            "approver": "carol",
        },
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["ignored"] == ["actor", "approver"]
    [event] = [e for e in team.events("model.alias_set") if e.model == "srv-actor"]
    assert event.actor == "alice"


def test_an_upload_that_does_not_hash_to_its_digest_is_refused_and_not_kept(team):
    headers = {"Authorization": f"Bearer {team.token('alice')}"}
    claimed = hashlib.sha256(b"the artifact alice meant").hexdigest()
    sent = b"something else"
    answer = httpx.put(f"{team.url}/v1/blobs/{claimed}", content=sent, headers=headers)
    assert answer.status_code == 422
    assert answer.json()["error"] == {
        "type": "UploadDigestMismatch",
        "message": "upload does not match its digest: the bytes hash to "
        f"{hashlib.sha256(sent).hexdigest()}, not {claimed}",
    }
    uploads = team.tmp / "home" / "uploads"
    assert not (uploads / claimed).exists()
    assert [p.name for p in uploads.iterdir() if p.name.startswith(".partial")] == []
    use = httpx.post(
        f"{team.url}/v1/commands/models/revise-card",
        json={"name": "x", "version": "1.0.0", "card": {"sha256": claimed, "name": "c.yaml"}},
        headers=headers,
    )
    assert use.status_code == 422
    assert use.json()["error"]["message"] == (
        f"no upload with digest {claimed}: PUT it to /v1/blobs/{claimed}"
    )


def test_an_oversized_upload_is_413_naming_the_limit(team):
    headers = {"Authorization": f"Bearer {team.token('alice')}"}
    big = b"x" * (UPLOAD_LIMIT + 1)
    digest = hashlib.sha256(big).hexdigest()
    answer = httpx.put(f"{team.url}/v1/blobs/{digest}", content=big, headers=headers)
    assert answer.status_code == 413
    assert answer.json()["error"] == {
        "type": "UploadTooLarge",
        "message": f"upload of {UPLOAD_LIMIT + 1} bytes is over the limit of {UPLOAD_LIMIT} "
        "bytes (GOVERNANCE_SERVER_MAX_UPLOAD_BYTES)",
    }

    def chunks():  # no Content-Length: the limit holds while streaming
        for _ in range(5):
            yield b"y" * (UPLOAD_LIMIT // 4)

    streamed = httpx.put(f"{team.url}/v1/blobs/{'0' * 64}", content=chunks(), headers=headers)
    assert streamed.status_code == 413
    assert streamed.json()["error"]["message"] == (
        f"upload is over the limit of {UPLOAD_LIMIT} bytes (GOVERNANCE_SERVER_MAX_UPLOAD_BYTES)"
    )
    assert not (team.tmp / "home" / "uploads" / digest).exists()


def test_bad_bodies_and_unknown_commands_are_named(team):
    headers = {"Authorization": f"Bearer {team.token('alice')}"}
    login = httpx.post(f"{team.url}/v1/sessions", json={"name": "", "code": "1"})
    assert login.status_code == 422
    assert login.json()["error"]["type"] == "InvalidInput"
    assert login.json()["error"]["message"].startswith("bad request body: name: String should")
    typed = httpx.post(
        f"{team.url}/v1/commands/models/card",
        json={"name": "x", "version": "1.0.0", "revision": "many"},
        headers=headers,
    )
    assert typed.status_code == 422
    assert typed.json()["error"]["type"] == "BadParameters"
    assert typed.json()["error"]["message"] == (
        "Invalid value for '--revision': Input should be a valid integer, unable to parse "
        "string as an integer"
    )
    missing = httpx.post(f"{team.url}/v1/commands/models/show", json={}, headers=headers)
    assert missing.status_code == 422
    assert missing.json()["error"]["message"] == "Missing argument 'ref'."
    listish = httpx.post(f"{team.url}/v1/commands/models/show", content=b"[1]", headers=headers)
    assert listish.status_code == 422
    assert listish.json()["error"]["message"] == (
        "the body must be a JSON object of the command's parameters"
    )
    unknown = httpx.post(f"{team.url}/v1/commands/models/frob", json={}, headers=headers)
    assert unknown.status_code == 404
    assert unknown.json()["error"]["message"] == (
        "no command `governance models frob` is served here"
    )
    host = httpx.post(f"{team.url}/v1/commands/init", json={}, headers=headers)
    assert host.status_code == 404
    assert host.json()["error"]["message"] == (
        "no command `governance init` is served here (it runs on the server host only)"
    )


def test_the_cli_says_in_one_line_when_the_server_is_down(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    env = person_env(url, tmp_path / "laptop")
    done = thin(env, "models", "list")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith(f"error: cannot reach the governance server at {url}: ")
    assert "Connection refused" in done.stderr and done.stderr.count("\n") == 1


def test_host_only_commands_say_where_they_run(team):
    done = thin(team.env("alice"), "init")
    assert done.returncode == 1
    assert done.stderr == (
        "error: `governance init` runs on the server host only (create or upgrade the schema "
        "and the keys): there, leave GOVERNANCE_SERVER_URL unset\n"
    )
    # Moving the flow clock is no person's act: the retirement audit as of a chosen time
    # runs on the host, and the server refuses it whatever the body says.
    clock = thin(team.env("alice"), "audit-retirement", "--now", "--at", "2099-01-01")
    assert clock.returncode == 1
    assert clock.stderr == (
        "error: `governance audit-retirement` runs on the server host only (run the retirement "
        "audit on demand, as of a chosen time): there, leave GOVERNANCE_SERVER_URL unset\n"
    )
    headers = {"Authorization": f"Bearer {team.token('alice')}"}
    served = httpx.post(
        f"{team.url}/v1/commands/audit-retirement",
        json={"run_now": True, "at": "2099-01-01"},
        headers=headers,
    )
    assert served.status_code == 404
    assert served.json()["error"]["message"] == (
        "no command `governance audit-retirement` is served here (it runs on the server host only)"
    )


def test_the_manifest_serves_commands_but_not_host_ones_and_hides_actor_parameters(team):
    manifest = httpx.get(f"{team.url}/v1/commands").json()
    paths = {" ".join(c["path"]) for c in manifest["commands"]}
    assert {"models register", "promote", "approve", "people enroll"} <= paths
    assert not paths & {"init", "serve", "login", "logout", "audit checkpoint", "audit keygen"}
    [approve] = [c for c in manifest["commands"] if c["path"] == ["approve"]]
    assert "approver" not in {p["name"] for p in approve["params"]}
    [enroll] = [c for c in manifest["commands"] if c["path"] == ["people", "enroll"]]
    assert enroll["role"] == "admin"
    json.dumps(manifest)  # JSON all the way down


def test_an_admin_grants_enrols_and_revokes_and_the_sixth_wrong_code_is_locked_out(team):
    def command(who: str, path: str, **body):
        headers = {"Authorization": f"Bearer {team.token(who)}"}
        return httpx.post(f"{team.url}/v1/commands/{path}", json=body, headers=headers)

    refused = command("carol", "people/grant", name="ivan", role="ml_engineer")
    assert refused.status_code == 403
    assert "carol does not hold the role admin" in refused.json()["error"]["message"]
    granted = command("grace", "people/grant", name="Ivan", role="ml_engineer").json()
    assert (granted["exit_code"], granted["output"]) == (0, "granted ml_engineer to ivan\n")
    enrolled = command("grace", "people/enroll", name="ivan")
    assert enrolled.json()["exit_code"] == 0
    [secret] = [
        line.split(": ")[1]
        for line in enrolled.json()["output"].splitlines()
        if line.startswith("secret for")
    ]
    ivan = pyotp.TOTP(secret)
    messages = []
    for _ in range(6):
        wrong = f"{(int(ivan.now()) + 500_000) % 1_000_000:06d}"
        answer = httpx.post(f"{team.url}/v1/sessions", json={"name": "ivan", "code": wrong})
        assert answer.status_code == 401
        messages.append(answer.json()["error"])
    assert [m["message"] for m in messages[:4]] == [
        "one-time code for ivan is wrong or expired"
    ] * 4
    assert messages[4]["message"].startswith(
        "one-time code for ivan is wrong or expired; codes for ivan are locked until "
    )
    assert messages[5]["type"] == "CodesLocked"
    assert messages[5]["message"].startswith("codes for ivan are locked until ")
    assert messages[5]["message"].endswith(": 5 wrong codes in 15 minutes")
    listed = command("grace", "people/list").json()["output"]
    [row] = [line for line in listed.splitlines() if line.startswith("│ ivan ")]
    assert "locked until" in row
    assert [e.details["name"] for e in team.events("person.codes_locked")][-1] == "ivan"

    dave = team.fresh_token("dave")
    revoked = command("grace", "people/revoke-sessions", name="dave")
    assert revoked.json()["exit_code"] == 0 and revoked.json()["output"].startswith("revoked ")
    answer = httpx.post(
        f"{team.url}/v1/commands/models/list", json={}, headers={"Authorization": f"Bearer {dave}"}
    )
    assert answer.status_code == 401
    assert "(revoked by grace)" in answer.json()["error"]["message"]


def test_an_admin_creates_a_client_key_through_the_server_and_no_one_else_does(team):
    body = {"app_name": "checkout", "endpoint": ["*"], "route": ["predict", "outcomes"]}
    path = f"{team.url}/v1/commands/clients/create"
    alice = {"Authorization": f"Bearer {team.token('alice')}"}
    refused = httpx.post(path, json=body, headers=alice)
    assert refused.status_code == 403
    assert refused.json()["error"]["message"].startswith("alice does not hold the role admin")
    grace = {"Authorization": f"Bearer {team.token('grace')}"}
    made = httpx.post(path, json=body, headers=grace)
    assert made.status_code == 200, made.text
    assert made.json()["exit_code"] == 0
    lines = made.json()["output"].splitlines()
    assert lines[0].startswith("created client key ck_") and lines[0].endswith(
        "for checkout: endpoints all; routes predict, outcomes"
    )
    key = lines[-1].removeprefix("key: ")
    # The server keeps only the key's hash; the trail names the key by id, as grace's act.
    [created] = team.events("client.key_created")
    assert (created.actor, created.details["app"]) == ("grace", "checkout")
    assert key.startswith("gk_") and key not in json.dumps(created.details)


def test_an_auditor_takes_a_signed_pack_home_and_checks_it_offline(team, model_bytes):
    alice, heidi = team.login("alice"), team.login("heidi")
    card, artifact = _card(team.tmp, "srv-pack", "1.0.0"), _artifact(team.tmp, model_bytes, "pk")
    assert thin(alice, "models", "register", "srv-pack", "1.0.0", "--card", str(card),
                "--artifact", str(artifact)).returncode == 0  # fmt: skip
    key = team.gov.settings.resolved_signing_key_file
    if not key.exists():
        generate_keypair(key)
    refused_dir = team.tmp / "laptops" / "alice" / "pack"
    refused = thin(alice, "compliance", "pack", "srv-pack", "1.0.0", "--out", str(refused_dir))
    assert refused.returncode == 1 and not refused_dir.exists()
    assert refused.stderr == (
        "error: alice does not hold the role auditor: `governance compliance pack` refused\n"
    )
    out = team.tmp / "laptops" / "heidi" / "pack"
    built = thin(heidi, "compliance", "pack", "srv-pack", "1.0.0", "--out", str(out))
    assert built.returncode == 0, built.stderr
    assert built.stdout.startswith(f"Annex IV pack for srv-pack@1.0.0 written to {out} ")
    assert "governance-command-" not in built.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "items.json", "log.jsonl", "manifest.json", "manifest.sig", "pack.html", "pack.md",
        "signing-key.pub", "timeline.svg",
    ]  # fmt: skip
    [event] = [e for e in team.events("compliance.pack_built") if e.model == "srv-pack"]
    assert event.actor == "heidi"
    # Offline: the verify command runs on the laptop even with a server configured.
    checked = thin(heidi, "compliance", "verify", str(out), "--public-key", f"{key}.pub")
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("pack verified: srv-pack@1.0.0, signature by key ")
    again = thin(heidi, "compliance", "pack", "srv-pack", "1.0.0", "--out", str(out))
    assert again.returncode == 1
    assert again.stderr == f"error: {out} exists and is not an empty directory: nothing written\n"
    assert [e.model for e in team.events("compliance.pack_built")].count("srv-pack") == 1

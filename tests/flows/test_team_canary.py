"""A canary promotion end to end on the team stack, by people whose CLI holds only
GOVERNANCE_SERVER_URL: login with codes, register, promote to staging and production with
approvals, and a canary that bakes on the gateway under client traffic, then is promoted."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
import yaml
from teamkit import (
    ADMIN,
    NEEDS_POSTGRES,
    PEOPLE,
    ROOT,
    Person,
    Traffic,
    enrol_on_host,
    secret_in,
    until,
)

pytestmark = [pytest.mark.sqlite_only, NEEDS_POSTGRES]
RUN = re.compile(r"flow run ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")
CARD = ROOT / "examples" / "cards" / "churn-classifier.yaml"
MODEL = "churn-team"


@pytest.fixture(scope="module")
def people(team_stack, tmp_path_factory) -> dict[str, Person]:
    """Everyone enrolled and logged in, each on a machine of their own."""
    names = ["alice", "bob", "carol", "dave", *PEOPLE]
    server = team_stack["urls"]["governance_server"]
    homes = tmp_path_factory.mktemp("people")
    if ADMIN:
        init_log = Path(team_stack["init_log"]).read_text()
        admin = Person(ADMIN, secret_in(init_log), server, homes / ADMIN)
        admin.ok("login", ADMIN, "--code", admin.code())
        secrets = {name: secret_in(admin.ok("people", "enroll", name)) for name in names}
        found = {ADMIN: admin}
    else:
        secrets, found = enrol_on_host(team_stack, names), {}
    for name in names:
        found[name] = Person(name, secrets[name], server, homes / name)
        out = found[name].ok("login", name, "--code", found[name].code())
        assert out.startswith(f"logged in as {name} on {server} until ")
    return found


def client_key(people: dict[str, Person], endpoint: str) -> dict[str, str]:
    """The headers the client applications send: an admin's client key for the endpoint's
    predictions and outcomes where the server offers client keys, else none."""
    if ADMIN is None or people[ADMIN].run("clients", "--help").returncode != 0:
        return {}
    out = people[ADMIN].ok(
        "clients", "create", "churn-app", "--endpoint", endpoint,
        "--route", "predict", "--route", "outcomes",
    )  # fmt: skip
    [key] = [line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("key:")]
    return {"Authorization": f"Bearer {key}"}


def card(tmp_path, version: str):
    """The example card, for this model and version, at medium risk."""
    data = yaml.safe_load(CARD.read_text())
    data.update(name=MODEL, version=version, risk_level="medium")
    path = tmp_path / f"card-{version}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def promote(alice: Person, version: str, *args: str) -> str:
    """`governance promote --no-wait`; the flow run's id."""
    out = alice.ok("promote", MODEL, version, "--dataset", "holdout", "--no-wait", *args)
    return RUN.search(out).group(1)


def approve(alice: Person, approver: Person, run_id: str, role: str) -> None:
    """Once the run waits for people, `governance approve` as the approver."""
    until(lambda: run_id in alice.ok("approvals", "pending"), 150, f"run {run_id} suspended")
    out = approver.ok(
        "approve", run_id, "--role", role, "--decision", "approve", "--code", approver.code(),
    )  # fmt: skip
    assert out.startswith(f"recorded: approve by {approver.name} as {role} on {MODEL}@"), out


def version_at(alice: Person, stage: str) -> str | None:
    """The version NAME@STAGE resolves to, as `models show` prints it (None if none)."""
    done = alice.run("models", "show", f"{MODEL}@{stage}")
    found = re.search(rf"{MODEL}@(\d+\.\d+\.\d+)", done.stdout)
    return found.group(1) if done.returncode == 0 and found else None


def stage_of(alice: Person, version: str) -> str:
    """The version's stage, as `models show` prints it."""
    out = alice.ok("models", "show", f"{MODEL}@{version}")
    return re.search(r"stage\s*│\s*(\w+)", out).group(1)


def test_a_canary_promotion_end_to_end_through_the_server(team_stack, people, trained, tmp_path):
    alice, p = people["alice"], people
    assert alice.env == {"GOVERNANCE_SERVER_URL": team_stack["urls"]["governance_server"]}
    out = alice.ok("whoami")
    assert out.startswith("alice (ml_engineer) on ")

    alice.ok("datasets", "register", "holdout", str(trained["holdout"]), "--target", "label",
             "--group", "site")  # fmt: skip
    for version, blob in (("1.0.0", "good1.0"), ("1.1.0", "good0.5")):
        artifact = tmp_path / f"{version}.skops"
        artifact.write_bytes(trained[blob])
        out = alice.ok("models", "register", MODEL, version, "--card", str(card(tmp_path, version)),
                       "--artifact", str(artifact), "--description", "team stack")  # fmt: skip
        assert out.startswith(f"registered {MODEL}@{version} (development) sha256:"), out

    # Both to staging at once, one approval each.
    staging = {v: promote(alice, v, "--target", "staging") for v in ("1.0.0", "1.1.0")}
    approve(alice, p["bob"], staging["1.0.0"], "ml_engineer")
    approve(alice, p["jack"], staging["1.1.0"], "ml_engineer")
    staged = ["staging", "staging"]
    until(lambda: [stage_of(alice, v) for v in staging] == staged, 120, "both versions staged")
    # The incumbent by break-glass (an ml_lead's recorded act, which opens a retro-review):
    # the endpoint needs a stable version, and a second gated production promotion would
    # add most of a minute to the suite.
    out = p["carol"].ok("promote", MODEL, "1.0.0", "--break-glass", "--reason", "incumbent")
    assert out.startswith(f"BREAK-GLASS: {MODEL}@1.0.0 is now production (by carol: "), out
    assert version_at(alice, "production") == "1.0.0"
    endpoint = f"{MODEL}-api"
    alice.ok("endpoints", "create", endpoint, "--model", MODEL)
    gateway, headers = team_stack["urls"]["gateway"], client_key(people, endpoint)
    first = {"rows": trained["rows"][:1]}
    predict = f"{gateway}/v1/endpoints/{endpoint}/predict"
    until(
        lambda: httpx.post(predict, json=first, headers=headers).is_success,
        60,
        f"the gateway serving {endpoint}",
    )

    # 1.1.0 by canary: client applications send predictions and outcomes to the gateway.
    with Traffic(gateway, endpoint, trained["rows"], trained["labels"], headers) as t:
        run_id = promote(alice, "1.1.0", "--target", "production", "--strategy", "canary",
                         "--endpoint", endpoint)  # fmt: skip
        approve(alice, p["gina"], run_id, "ml_lead")
        approve(alice, p["hank"], run_id, "risk_officer")
        until(lambda: version_at(alice, "production") == "1.1.0", 150, "1.1.0 promoted by canary")
    assert t.answers and set(t.answers) == {200}

    spec = json.loads(alice.ok("endpoints", "show", endpoint, "--json"))["spec"]
    assert (spec["stable"], spec["canary"], spec["canary_weight"]) == ("1.1.0", None, 0)
    history = alice.ok("endpoints", "history", endpoint)
    for reason in ("created", "canary 1.1.0 at 50%", "1.1.0 promoted"):
        assert reason in history
    assert stage_of(alice, "1.0.0") == "deprecated"

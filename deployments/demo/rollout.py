"""Chapter 4: the gateway routes real traffic: canary, automatic rollback, blue/green, flags, A/B.

A bounded loop on 127.0.0.1 plays client applications: it calls the gateway and reports
each outcome (the true label), and about one request in seven carries a missing value.
"""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime

import httpx
import skops.io as sio
from sklearn.datasets import load_breast_cancer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from deployments.demo.promotion import (
    PRODUCTION,
    RUN_ID,
    STAGING,
    approve,
    finished,
    promote,
    suspended,
)
from deployments.demo.stage import (
    ADMIN,
    MODEL,
    WORK,
    Authenticators,
    client_key,
    governance,
    step,
    write_card,
)

ENDPOINT = "triage-api"
ORGS = ("acme", "globex", "initech")
MAX_REQUESTS = 60_000


class Traffic(threading.Thread):
    """Client applications: one-row predictions by random users, outcomes reported after."""

    def __init__(self, gateway: str, key: str) -> None:
        super().__init__(daemon=True)
        self.headers = {"Authorization": f"Bearer {key}"}
        x, y = load_breast_cancer(return_X_y=True, as_frame=True)
        self.rows = x.to_dict(orient="records")
        self.labels = y.tolist()
        self.url = gateway.rstrip("/")
        self.stop = threading.Event()
        self.sent = self.failed = 0
        self.served: dict[str, int] = {}

    def run(self) -> None:
        """Send requests until stopped or the bound is reached, about 40 a second."""
        rng = random.Random(7)
        with httpx.Client(base_url=self.url, timeout=10, headers=self.headers) as client:
            while not self.stop.is_set() and self.sent < MAX_REQUESTS:
                self.one(client, rng)
                time.sleep(0.02)

    def one(self, client: httpx.Client, rng: random.Random) -> None:
        """One request and, if it was answered, its outcome."""
        i = rng.randrange(len(self.rows))
        row = dict(self.rows[i])
        if rng.random() < 0.15:
            row["mean texture"] = None  # a client that sometimes cannot measure texture
        body = {
            "rows": [row],
            "targeting_key": f"user-{rng.randrange(2000)}",
            "attributes": {"org_id": rng.choice(ORGS)},
        }
        self.sent += 1
        reply = client.post(f"/v1/endpoints/{ENDPOINT}/predict", json=body)
        if reply.status_code != 200:
            self.failed += 1
            return
        [answer] = reply.json()["predictions"]
        self.served[answer["version"]] = self.served.get(answer["version"], 0) + 1
        outcome = {"prediction_id": answer["prediction_id"], "label": self.labels[i]}
        client.post("/v1/outcomes", json=outcome)


def _train(workdir, version: str, c: float, impute: bool):
    """A classifier version; without an imputer it raises on a missing value."""
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    x_train, _, y_train, _ = train_test_split(x, y, test_size=0.3, random_state=7)
    steps = [SimpleImputer()] if impute else []
    model = make_pipeline(*steps, StandardScaler(), LogisticRegression(C=c)).fit(x_train, y_train)
    path = workdir / f"{MODEL}-{version}.skops"
    sio.dump(model, path)
    params = {"C": c, "imputer": "mean" if impute else "none"}
    card = write_card(workdir, version, {"accuracy": 0.97}, params)
    governance("models", "register", MODEL, version, "--artifact", str(path), "--card", str(card))


def _promote_with(people: Authenticators, version: str, strategy: str) -> str:
    """Request production with a strategy; the three approvers decide; return the end state."""
    people.login("alice")
    out = governance(
        "promote", MODEL, version, "--dataset", "holdout", "--strategy", strategy,
        "--endpoint", ENDPOINT, "--no-wait",
    )  # fmt: skip
    run_id = RUN_ID.search(out).group(1)
    key = None
    for who, role in PRODUCTION:
        key = suspended(run_id, key)
        approve(people, run_id, who, role)
    return finished(run_id, timeout=240)


def _when_canary_runs(gateway: str, version: str) -> datetime:
    """Wait until the gateway routes a canary share to `version`; return that time."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        live = httpx.get(f"{gateway}/v1/endpoints/{ENDPOINT}").json()
        if live.get("mode") == "canary" and version in live.get("versions", ()):
            return datetime.now(UTC)
        time.sleep(0.2)
    raise SystemExit(f"demo: no canary of {version} appeared on {ENDPOINT}")


def chapter(people: Authenticators, gateway: str) -> str:
    """Canary pass, canary rollback, blue/green and instant rollback, a flag, an A/B test.

    Returns the client key of the triage application, for the chapters that call it too.
    """
    step(f"14. the gateway serves triage-api; {ADMIN} (admin) gives the client app a key")
    people.login("alice")
    governance("endpoints", "create", ENDPOINT, "--model", MODEL)
    key = client_key(
        people, "triage-app", "--endpoint", ENDPOINT, "--route", "predict", "--route", "outcomes"
    )
    _without_a_key(gateway)
    print("client traffic starts with the key (bounded loop)")
    traffic = Traffic(gateway, key)
    traffic.start()
    try:
        _rollouts(people, gateway, traffic)
    finally:
        traffic.stop.set()
        traffic.join(timeout=15)
    print(
        f"traffic: {traffic.sent} requests; {traffic.failed} answered with a model error "
        "(missing values on 1.2.0 before the imputer, and on the 1.4.0 canary)"
    )
    print(f"served by version: {dict(sorted(traffic.served.items()))}")
    return key


def _without_a_key(gateway: str) -> None:
    """Outcomes steer canaries, A/B tests and retirement: nobody posts one without a key."""
    for what, path, body in (
        ("predict", f"/v1/endpoints/{ENDPOINT}/predict", {"rows": [{}]}),
        ("outcome", "/v1/outcomes", {"prediction_id": "x", "label": 1}),
    ):
        answer = httpx.post(f"{gateway}{path}", json=body, timeout=10)
        print(f"  {what} without a key: {answer.status_code} {answer.json()['error']}")
    for line in httpx.get(f"{gateway}/metrics", timeout=10).text.splitlines():
        if line.startswith("gateway_client_refusals_total"):
            print(f"  /metrics: {line}")


def _rollouts(people: Authenticators, gateway: str, traffic: Traffic) -> None:
    step("15. 1.3.0 adds an imputer: staging, then production by canary (steps pass)")
    people.login("alice")
    _train(WORK, "1.3.0", 1.0, impute=True)
    promote(people, "1.3.0", "staging", STAGING)
    _promote_with(people, "1.3.0", "canary")
    governance("endpoints", "rollouts", ENDPOINT)

    step("16. 1.4.0 drops the imputer: it errors on missing values, and the canary rolls back")
    people.login("alice")
    _train(WORK, "1.4.0", 0.3, impute=False)
    promote(people, "1.4.0", "staging", STAGING)
    watcher = threading.Thread(target=lambda: marks.append(_when_canary_runs(gateway, "1.4.0")))
    marks: list[datetime] = []
    watcher.start()
    state = _promote_with(people, "1.4.0", "canary")
    watcher.join()
    if state != "RolledBack":
        raise SystemExit(f"demo: the bad canary ended {state}, not RolledBack")
    governance("endpoints", "rollouts", ENDPOINT)
    governance("models", "list", "--name", MODEL)

    step("17. 1.5.0 by blue/green: smoke test through the gateway, switch, instant rollback")
    people.login("alice")
    _train(WORK, "1.5.0", 0.5, impute=True)
    promote(people, "1.5.0", "staging", STAGING)
    _promote_with(people, "1.5.0", "blue_green")
    governance("endpoints", "show", ENDPOINT)
    people.login("carol")
    governance("rollback", ENDPOINT, "--reason", "demo: flip back to the warm blue slot")
    governance("endpoints", "show", ENDPOINT)

    step("18. a flag sends org acme to 1.5.0 (approved for production); others stay on 1.3.0")
    governance("flags", "set", ENDPOINT, "acme-early", "--version", "1.5.0", "--orgs", "acme")
    time.sleep(1.0)  # every gateway process obeys a routing change within a second
    for org in ("acme", "globex"):
        body = {"rows": [traffic.rows[0]], "targeting_key": "user-1", "attributes": {"org_id": org}}
        url = f"{gateway}/v1/endpoints/{ENDPOINT}/predict"
        [answer] = httpx.post(url, json=body, headers=traffic.headers).json()["predictions"]
        print(f"  org {org}: served by {answer['version']} as {answer['variant']}")
    _flag_to_a_rejected_version(people)

    step("19. a short A/B test of 1.3.0 against 1.5.0 (the winner would still need promote)")
    _ab_test(people)

    step("20. what served triage-api while the bad canary was at its first step?")
    governance("endpoints", "at", ENDPOINT, "--time", marks[0].isoformat())
    governance("endpoints", "history", ENDPOINT)


def _flag_to_a_rejected_version(people: Authenticators) -> None:
    """dave rejects 1.4.0 for production; carol's flag sending everyone to it is refused."""
    people.login("alice")
    out = governance("promote", MODEL, "1.4.0", "--dataset", "holdout", "--no-wait")
    run_id = RUN_ID.search(out).group(1)
    suspended(run_id)
    with people.laptop("dave"):
        governance(
            "approve", run_id, "--role", "risk_officer", "--decision", "reject",
            "--code", people.code("dave"), "--notes", "demo: it fails on missing values",
        )  # fmt: skip
    if finished(run_id) != "Rejected":
        raise SystemExit("demo: the rejected production request of 1.4.0 did not end Rejected")
    people.login("carol")
    governance(
        "flags", "set", ENDPOINT, "everyone", "--version", "1.4.0", "--percentage", "100",
        expect_failure=True,
    )  # fmt: skip


def _ab_test(people: Authenticators) -> None:
    people.login("carol")
    out = governance(
        "experiments", "start", ENDPOINT, "--variant", "A=1.3.0", "--variant", "B=1.5.0",
        "--split", "50/50", "--until", "400", "--poll-seconds", "2",
    )  # fmt: skip
    run_id = RUN_ID.search(out).group(1)
    finished(run_id, timeout=240)
    experiment = out.split("experiment ", 1)[1].split()[0]
    governance("experiments", "show", experiment)

"""promote-model's canary and blue/green, served for real, with traffic through the gateway.

The session policy bakes a canary step for 3 s (tests/flows/conftest.py ROLLOUTS); a bounded
loop on 127.0.0.1 plays the client applications and reports every outcome.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
from flowkit import actor, now, wait_final, wait_suspended
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment
from prefect.flow_runs import resume_flow_run
from prefect.states import Scheduled
from seeding import seed_stage

from flows import promotion_runs
from governance.cli import run
from governance.domain.approvals import RequestStatus
from governance.domain.errors import InvalidCode
from governance.domain.models import LifecycleStage, RiskLevel
from governance.domain.rollout import RolloutStatus
from governance.services.promotion import approval_requests
from governance.services.registry import versions
from governance.services.registry.versions import VersionSpec
from governance.services.rollout import endpoints, strategies
from governance.services.trust import audit, identity

pytestmark = pytest.mark.sqlite_only


class Traffic(threading.Thread):
    """Clients: one-row predictions by random users, each outcome reported; bounded."""

    def __init__(
        self, url: str, endpoint: str, trained, headers: dict[str, str], missing: float = 0.0
    ) -> None:
        super().__init__(daemon=True)
        self.url, self.endpoint, self.headers = url, endpoint, headers
        self.rows, self.labels = trained["rows"], trained["labels"]
        self.missing = missing
        self.halt = threading.Event()
        self.answers: list[int] = []

    def run(self) -> None:
        """Up to 6,000 requests, about 60 a second, until halted."""
        rng = random.Random(11)
        with httpx.Client(base_url=self.url, timeout=10, headers=self.headers) as client:
            for _ in range(6000):
                if self.halt.is_set():
                    return
                self._one(client, rng)
                time.sleep(0.01)

    def _one(self, client: httpx.Client, rng: random.Random) -> None:
        i = rng.randrange(len(self.rows))
        row = dict(self.rows[i])
        if rng.random() < self.missing:
            row["mean texture"] = None
        body = {"rows": [row], "targeting_key": f"user-{rng.randrange(5000)}"}
        reply = client.post(f"/v1/endpoints/{self.endpoint}/predict", json=body)
        self.answers.append(reply.status_code)
        if reply.status_code == 200:
            [served] = reply.json()["predictions"]
            label = {"prediction_id": served["prediction_id"], "label": self.labels[i]}
            client.post("/v1/outcomes", json=label)

    def __enter__(self) -> Traffic:
        self.start()
        return self

    def __exit__(self, *_) -> None:
        self.halt.set()
        self.join(timeout=30)


def children(pid: int) -> list[int]:
    """The child processes of `pid` (Linux /proc)."""
    found = []
    for listing in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(child) for child in listing.read_text().split()]
    return found


def bind(w) -> str:
    """An endpoint for this test's churn model."""
    name = f"{w.churn}-api"
    endpoints.create(w.gov, name, model=w.churn, actor=actor("alice"), now=now())
    return name


def start(w, version: str, strategy: str, endpoint: str) -> str:
    params = {
        "model": w.churn,
        "version": version,
        "dataset": "holdout",
        "target": "production",
        "strategy": strategy,
        "endpoint": endpoint,
    }
    return str(promotion_runs.submit_promotion(w.gov, actor("alice"), params, now=now()).id)


def approve_all(w, run_id: str) -> None:
    for person, role in (("carol", "ml_lead"), ("dave", "risk_officer")):
        wait_suspended(run_id)
        recorded = promotion_runs.resume_with_decision(
            w.gov, run_id, approver=person, role=role, decision="approve", notes="",
            code=w.codes.code(person),
        )  # fmt: skip
        assert recorded.accepted


def reasons(w, endpoint: str) -> list[str]:
    return [spec.reason for spec in endpoints.history(w.gov, endpoint)]


def test_a_canary_that_holds_up_is_promoted_step_by_step(world, gateway, trained, client_headers):
    w = world
    name = bind(w)
    with Traffic(gateway, name, trained, client_headers):
        run_id = start(w, "1.1.0", "canary", name)
        approve_all(w, run_id)
        state = wait_final(run_id)
    details = [
        m["detail"]
        for e in audit.history(w.gov, event_type="rollout.verdict", model=w.churn)
        for m in e.details["metrics"]
    ]
    assert (state.name, state.message) == (
        "Promoted",
        f"{w.churn}@1.1.0 is now production",
    ), details
    spec = endpoints.show(w.gov, name).spec.spec
    assert (spec.stable, spec.canary, spec.canary_weight) == ("1.1.0", None, 0)
    assert reasons(w, name) == ["created", "canary 1.1.0 at 50%", "1.1.0 promoted"]
    [verdict] = audit.history(w.gov, event_type="rollout.verdict", model=w.churn)
    assert (verdict.details["weight"], verdict.details["verdict"]) == (50, "pass")
    metrics = {m["metric"]: m for m in verdict.details["metrics"]}
    assert set(metrics) == {"error_rate", "latency_p95", "accuracy"}
    assert metrics["error_rate"]["canary_n"] >= 15 and metrics["error_rate"]["stable_n"] >= 15
    [found] = strategies.rollouts_of(w.gov, name)
    assert found.status == RolloutStatus.completed


@pytest.fixture
def imputed(world, example_card, trained):
    """2.0.0 (with an imputer) in production; 2.1.0 (raises on a missing value) in staging."""
    w = world
    for version, blob in (("2.0.0", "imputed"), ("2.1.0", "good0.5")):
        spec = VersionSpec(name=w.churn, version=version, created_by="alice")
        card = example_card.model_copy(update={"risk_level": RiskLevel.medium})
        versions.register_version(w.gov, spec, card, artifact=trained[blob], now=now())
        seed_stage(w.gov, w.churn, version, LifecycleStage.staging)
    seed_stage(w.gov, w.churn, "2.0.0", LifecycleStage.production)
    return w


def test_a_canary_that_errors_on_a_slice_rolls_back_at_once(
    imputed, gateway, trained, client_headers
):
    w = imputed
    name = bind(w)
    with Traffic(gateway, name, trained, client_headers, missing=0.3):
        run_id = start(w, "2.1.0", "canary", name)
        approve_all(w, run_id)
        state = wait_final(run_id)
    assert state.name == "RolledBack"
    assert state.message.startswith(f"{w.churn}@2.1.0 rolled back on {name} at 50%: fail")
    spec = endpoints.show(w.gov, name).spec.spec
    assert (spec.stable, spec.canary, spec.canary_weight) == ("2.0.0", None, 0)
    assert versions.resolve(w.gov, f"{w.churn}@2.1.0").stage == LifecycleStage.staging
    [verdict] = audit.history(w.gov, event_type="rollout.verdict", model=w.churn)
    errors = next(m for m in verdict.details["metrics"] if m["metric"] == "error_rate")
    assert (verdict.details["verdict"], errors["verdict"]) == ("fail", "fail")
    assert errors["canary_value"] > 0.15 and errors["stable_value"] == 0
    [rolled] = audit.history(w.gov, event_type="rollout.rolled_back", model=w.churn)
    request = approval_requests.get_request(w.gov, rolled.details["request_id"])
    assert request.status == RequestStatus.cancelled


def test_blue_green_smoke_tests_the_idle_slot_then_switches(world, gateway):
    w = world
    name = bind(w)
    run_id = start(w, "1.1.0", "blue_green", name)
    approve_all(w, run_id)
    state = wait_final(run_id)
    assert state.name == "Promoted"
    spec = endpoints.show(w.gov, name).spec.spec
    assert (spec.slots, spec.active_slot, spec.stable) == (
        {"blue": "1.0.0", "green": "1.1.0"},
        "green",
        "1.1.0",
    )
    assert reasons(w, name) == ["created", "blue/green: 1.1.0 into the idle slot", "1.1.0 promoted"]
    with w.gov.store.read() as tx:
        smoke = [
            o
            for o in tx.predictions.observations(name, now().replace(year=2000), now())
            if o.variant == "slot:green"
        ]
    assert len(smoke) == 10 and {o.version for o in smoke} == {"1.1.0"}
    run = run_deployment("rollback/rollback", parameters={"endpoint": name}, timeout=0)
    wait_suspended(run.id)
    resume_flow_run(run.id, run_input={"approver": "carol", "code": w.codes.code("carol")})
    flipped = wait_final(str(run.id))
    assert (flipped.name, flipped.message) == ("RolledBack", f"{name} now at spec 4: stable 1.0.0")
    assert endpoints.show(w.gov, name).spec.spec.active_slot == "blue"
    assert versions.resolve(w.gov, f"{w.churn}@production").version == "1.0.0"


def test_sigkill_during_a_bake_then_a_retry_resumes_at_the_same_step(
    world, gateway, trained, served, client_headers
):
    w = world
    name = bind(w)
    with Traffic(gateway, name, trained, client_headers):
        run_id = start(w, "1.1.0", "canary", name)
        approve_all(w, run_id)
        deadline = time.monotonic() + 120
        while endpoints.show(w.gov, name).spec.spec.canary != "1.1.0":
            assert time.monotonic() < deadline, "the canary never started"
            time.sleep(0.1)
        # The runner executes each flow run in a child process: kill both, the run first.
        flow_processes = children(served.process.pid)
        assert flow_processes, "the served runner has no flow-run process"
        for pid in flow_processes:
            os.kill(pid, signal.SIGKILL)
        os.kill(served.process.pid, signal.SIGKILL)
        assert served.process.wait(timeout=10) == -signal.SIGKILL
        [stuck] = strategies.rollouts_of(w.gov, name)
        assert (stuck.status, stuck.weight, stuck.verdicts) == (RolloutStatus.running, 50, [])
        served.restart()
        # What the UI's retry does: the same flow run, scheduled again, runs from the top.
        with get_client(sync_client=True) as client:
            client.set_flow_run_state(run_id, Scheduled(), force=True)
        state = wait_final(run_id)
    assert (state.name, state.message) == ("Promoted", f"{w.churn}@1.1.0 is now production")
    [found] = strategies.rollouts_of(w.gov, name)
    assert found.id == stuck.id and found.status == RolloutStatus.completed
    assert len(audit.history(w.gov, event_type="rollout.started", model=w.churn)) == 1
    verdicts = audit.history(w.gov, event_type="rollout.verdict", model=w.churn)
    assert [(e.details["weight"], e.details["verdict"]) for e in verdicts] == [(50, "pass")]
    assert audit.verify(w.gov).state_rows > 0


def test_insufficient_data_extends_the_bake_then_holds_for_a_verified_lead(world, gateway, capsys):
    w = world
    name = bind(w)
    run_id = start(w, "1.1.0", "canary", name)  # no traffic at all: never enough data
    approve_all(w, run_id)
    extensions = 4  # ROLLOUTS["canary"]["max_extensions"]
    assert wait_suspended(run_id, after_answers=extensions + 1).startswith("canary-hold-")
    [held] = strategies.rollouts_of(w.gov, name)
    assert held.status == RolloutStatus.holding
    assert [v["verdict"] for v in held.verdicts] == ["insufficient data"] * (extensions + 1)
    assert endpoints.show(w.gov, name).spec.spec.canary_weight == 50  # held, not rolled back
    capsys.readouterr()
    assert run(["approvals", "pending"]) == 0
    listed = [line for line in capsys.readouterr().out.splitlines() if run_id in line]
    assert "canary held at 50% (insufficient data)" in listed[0]

    def answer(person: str, decision: str) -> None:
        resume_flow_run(
            run_id,
            run_input={
                "approver": person,
                "decision": decision,
                "code": w.codes.code(person),
                "notes": "",
            },
        )

    answer("bob", "continue")  # bob is no ml_lead: refused, recorded, asked again
    wait_suspended(run_id, after_answers=extensions + 2)
    [refused] = audit.history(w.gov, event_type="rollout.refused", model=w.churn)
    assert (refused.details["by"], refused.details["reason"]) == (
        "bob",
        "bob does not hold the role ml_lead: a canary decision refused",
    )
    answer("carol", "continue")
    state = wait_final(run_id)
    assert (state.name, state.message) == ("Promoted", f"{w.churn}@1.1.0 is now production")
    [decided] = audit.history(w.gov, event_type="rollout.decided", model=w.churn)
    assert (decided.details["by"], decided.details["decision"]) == ("carol", "continue")


def test_the_rollback_deployment_takes_the_code_in_a_form_and_spends_it(world):
    w = world
    name = bind(w)
    with get_client(sync_client=True) as client:
        schema = client.read_deployment_by_name("rollback/rollback").parameter_openapi_schema
    assert sorted(schema["properties"]) == ["endpoint", "reason", "to"]
    run = run_deployment("rollback/rollback", parameters={"endpoint": name}, timeout=0)
    wait_suspended(run.id)
    code = w.codes.code("dave")
    # dave is a risk officer, not an ml_lead: refused, and his code is spent all the same.
    resume_flow_run(run.id, run_input={"approver": "dave", "code": code})
    state = wait_final(run.id)
    assert (state.name, state.message) == (
        "Refused",
        "dave does not hold the role ml_lead: endpoint rollback refused",
    )
    with pytest.raises(InvalidCode) as spent:
        identity.login(w.gov, "dave", code, now=now())
    assert str(spent.value) == "one-time code for dave was already used"
    with get_client(sync_client=True) as client:
        left = client.filter_flow_run_input(run.id, "suspended-rollback-identity", 10, set())
    assert sorted(i.key for i in left) == [
        "suspended-rollback-identity-description",
        "suspended-rollback-identity-schema",
    ]
    assert [s.number for s in endpoints.history(w.gov, name)] == [1]

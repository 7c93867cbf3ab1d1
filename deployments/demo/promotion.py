"""Chapter 2: promotions through the door: gate, verified approvals, refusals, break-glass."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import numpy as np
import skops.io as sio
from sklearn.datasets import load_breast_cancer
from sklearn.dummy import DummyClassifier
from sklearn.model_selection import train_test_split

from deployments.demo.stage import HOME, MODEL, WORK, Authenticators, governance, step, write_card
from deployments.local_stack import LocalStack, free_port

RUN_ID = re.compile(r"flow run ([0-9a-f-]{36})")
STAGING = [("bob", "ml_engineer")]
PRODUCTION = [("carol", "ml_lead"), ("dave", "risk_officer"), ("erin", "legal")]


def start_stack(gateway_port: int) -> LocalStack:
    """A private Prefect server (with UI), the served deployments, the gateway and the
    governance server; people's commands then go to the governance server's URL."""
    stack = LocalStack(home=HOME.resolve() / "stack", port=free_port())
    # Set before this process first imports Prefect (the CLI imports it lazily), and before
    # the served flows start: blue/green smoke tests call this gateway.
    os.environ.update(
        PREFECT_API_URL=stack.api_url,
        PREFECT_UI_URL=stack.ui_url,
        GOVERNANCE_GATEWAY_URL=f"http://127.0.0.1:{gateway_port}",
    )
    stack.start_server()
    stack.start_serve()
    stack.start_gateway(gateway_port)
    server_port = free_port()
    stack.start_governance_server(server_port)
    os.environ["GOVERNANCE_SERVER_URL"] = f"http://127.0.0.1:{server_port}"
    return stack


def holdout_csv(workdir: Path) -> Path:
    """The held-out split of the demo data, with a site column for the fairness check."""
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    _, x_test, _, y_test = train_test_split(x, y, test_size=0.3, random_state=7)
    frame = x_test.assign(label=y_test.to_numpy())
    frame["site"] = np.where(np.arange(len(frame)) % 2 == 0, "north", "south")
    path = workdir / "holdout.csv"
    frame.to_csv(path, index=False)
    return path


def suspended(run_id: str, after: str | None = None, timeout: float = 90) -> str:
    """Wait until the run is suspended for an approval at a new key; return the key."""
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            state = client.read_flow_run(run_id).state
            if state.is_final():
                raise SystemExit(f"demo: run {run_id} ended as {state.name}: {state.message}")
            key = state.state_details.pause_key if state.is_paused() else None
            if key and key != after:
                return key
            time.sleep(0.3)
    raise SystemExit(f"demo: run {run_id} never waited for approval")


def finished(run_id: str, timeout: float = 90) -> str:
    """Wait for the run's end and print it; return the state name."""
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            state = client.read_flow_run(run_id).state
            if state.is_final():
                print(f"run {run_id}: {state.name}: {state.message}")
                return state.name
            time.sleep(0.3)
    raise SystemExit(f"demo: run {run_id} did not finish")


def approve(people: Authenticators, run_id: str, who: str, role: str) -> None:
    """`who` approves on their laptop with their current code; prints what was recorded."""
    with people.laptop(who):
        governance(
            "approve",
            run_id,
            "--role",
            role,
            "--decision",
            "approve",
            "--code",
            people.code(who),
            "--notes",
            f"demo approval as {role}",
        )


def promote(people: Authenticators, version: str, target: str, approvers) -> None:
    """Request a promotion as the logged-in person; the approvers decide one role at a time."""
    out = governance(
        "promote", MODEL, version, "--dataset", "holdout", "--target", target, "--no-wait"
    )
    run_id = RUN_ID.search(out).group(1)
    key = None
    for who, role in approvers:
        key = suspended(run_id, key)
        approve(people, run_id, who, role)
    if finished(run_id) != "Promoted":
        raise SystemExit(f"demo: {MODEL}@{version} was not promoted to {target}")


def refusals_then_production(people: Authenticators) -> None:
    """frank asks for 1.1.0 in production; his own approval and a wrong code are refused."""
    people.login("frank")
    out = governance("promote", MODEL, "1.1.0", "--dataset", "holdout", "--no-wait")
    run_id = RUN_ID.search(out).group(1)
    key = suspended(run_id)
    governance("approvals", "pending")
    step("9. a self-approval is refused and recorded: frank asked for this promotion")
    governance(
        "approve",
        run_id,
        "--role",
        "ml_lead",
        "--decision",
        "approve",
        "--code",
        people.code("frank"),
        expect_failure=True,
    )
    step("10. a wrong one-time code is refused and recorded")
    key = suspended(run_id, key)
    with people.laptop("carol"):
        governance(
            "approve",
            run_id,
            "--role",
            "ml_lead",
            "--decision",
            "approve",
            "--code",
            "000000",
            expect_failure=True,
        )
    step("11. the approvers decide with their codes, one suspended role at a time")
    for who, role in PRODUCTION:
        key = suspended(run_id, key)
        approve(people, run_id, who, role)
    finished(run_id)


def gate_failure_and_break_glass(people: Authenticators) -> None:
    """A bad model stops at the gate; then carol breaks glass for a hotfix, openly."""
    step("12. a deliberately bad model stops at the evaluation gate: no approval is asked")
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    path = WORK / f"{MODEL}-9.0.0.skops"
    sio.dump(DummyClassifier(strategy="most_frequent").fit(x, y), path)
    card = write_card(WORK, "9.0.0", {"accuracy": 0.63}, {"strategy": "most_frequent"})
    people.login("alice")
    governance("models", "register", MODEL, "9.0.0", "--artifact", str(path), "--card", str(card))
    governance(
        "promote",
        MODEL,
        "9.0.0",
        "--dataset",
        "holdout",
        "--target",
        "staging",
        expect_failure=True,
    )
    step("13. break-glass: carol (ml_lead) puts the staged 1.2.0 hotfix live, with a reason")
    promote(people, "1.2.0", "staging", STAGING)
    people.login("carol")
    governance(
        "promote", MODEL, "1.2.0", "--break-glass", "--reason", "hotfix for a pipeline outage"
    )
    governance("approvals", "pending")
    governance("models", "list", "--name", MODEL)


def chapter(people: Authenticators, stack: LocalStack) -> None:
    """Run the promotion chapter against the demo's private Prefect server."""
    step("6. a local Prefect server (UI included) serves the deployments")
    print(f"Prefect UI at {stack.ui_url} (logs in {stack.home})")
    step("7. register the evaluation dataset; promote 1.0.0 through staging and production")
    governance(
        "datasets",
        "register",
        "holdout",
        str(holdout_csv(WORK)),
        "--target",
        "label",
        "--group",
        "site",
    )
    promote(people, "1.0.0", "staging", STAGING)
    promote(people, "1.0.0", "production", PRODUCTION)
    step("8. 1.1.0 to staging (bob approves alice's request), then frank asks for production")
    promote(people, "1.1.0", "staging", STAGING)
    refusals_then_production(people)
    gate_failure_and_break_glass(people)

"""The promotion half of `make demo`: a local Prefect server, the gate, approvals, refusals."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import skops.io as sio
from sklearn.datasets import load_breast_cancer
from sklearn.dummy import DummyClassifier
from sklearn.model_selection import train_test_split

from deployments.demo import MODEL, governance, step, write_card
from deployments.local_stack import LocalStack, free_port

APPROVERS = [("carol", "ml_lead"), ("dave", "risk_officer"), ("erin", "legal")]


def start_stack(home: Path) -> LocalStack:
    """A private Prefect server (with UI) and the served deployments, on a free port."""
    stack = LocalStack(home=home.resolve() / "stack", port=free_port())
    stack.start_server()
    stack.start_serve()
    # Set before this process first imports Prefect (the CLI imports it lazily).
    os.environ.update(PREFECT_API_URL=stack.api_url, PREFECT_UI_URL=stack.ui_url)
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


def register_bad_model(workdir: Path) -> None:
    """A version that predicts the majority class: it must stop at the gate."""
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    path = workdir / f"{MODEL}-9.0.0.skops"
    sio.dump(DummyClassifier(strategy="most_frequent").fit(x, y), path)
    card = write_card(workdir, "9.0.0", {"accuracy": 0.63}, {"strategy": "most_frequent"})
    governance(
        "models",
        "register",
        MODEL,
        "9.0.0",
        "--artifact",
        str(path),
        "--card",
        str(card),
        "--by",
        "alice",
    )
    governance("models", "transition", MODEL, "9.0.0", "staging", "--by", "bob")


def wait_for_pause(run_id: str, timeout: float = 60) -> None:
    """Wait until the run is paused for an approval (what an approver would see as pending)."""
    from flows import promotion_runs
    from governance.bootstrap import open_governance

    gov = open_governance()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(str(p.flow_run.id) == run_id for p in promotion_runs.paused_approvals(gov)):
            return
        time.sleep(0.3)
    raise SystemExit(f"demo: run {run_id} never paused for approval")


def promote_with_approvals() -> None:
    """Promote 1.1.0 to production: frank's self-approval is refused, then three roles approve."""
    from flows import promotion_runs

    run = promotion_runs.submit_promotion(
        {
            "model": MODEL,
            "version": "1.1.0",
            "dataset": "holdout",
            "requested_by": "frank",
            "target": "production",
        }
    )
    print(f"flow run {run.id}: {promotion_runs.ui_link(run.id)}")
    run_id = str(run.id)
    wait_for_pause(run_id)
    governance("approvals", "pending")
    step("self-approval is refused: frank asked for this promotion")
    governance(
        "approve",
        run_id,
        "--approver",
        "frank",
        "--role",
        "ml_lead",
        "--decision",
        "approve",
        expect_failure=True,
    )
    step("the approvers named in the roster approve, one paused role at a time")
    for approver, role in APPROVERS:
        wait_for_pause(run_id)
        governance(
            "approve",
            run_id,
            "--approver",
            approver,
            "--role",
            role,
            "--decision",
            "approve",
            "--notes",
            f"demo approval as {role}",
        )
    final = promotion_runs.wait_for_end(run.id, poll_seconds=0.3)
    print(f"{MODEL}@1.1.0: {final.state.name}: {final.state.message}")


def promotion_tour(workdir: Path, home: Path) -> None:
    """Gate, pause, approve and promote through a real Prefect server; then a gate failure."""
    step("8. start a local Prefect server (UI included) and serve the promote-model deployment")
    stack = start_stack(home)
    print(f"Prefect UI at {stack.ui_url} (logs in {stack.home})")
    try:
        step("9. register the evaluation dataset and stage the candidate")
        governance(
            "datasets",
            "register",
            "holdout",
            str(holdout_csv(workdir)),
            "--target",
            "label",
            "--group",
            "site",
            "--by",
            "alice",
        )
        governance("models", "transition", MODEL, "1.1.0", "staging", "--by", "bob")
        step("10. promote 1.1.0 to production through promote-model")
        promote_with_approvals()
        governance("models", "list", "--name", MODEL)
        step("11. a deliberately bad model stops at the evaluation gate: no pause, no approval")
        register_bad_model(workdir)
        governance(
            "promote", MODEL, "9.0.0", "--dataset", "holdout", "--by", "alice", expect_failure=True
        )
    finally:
        stack.stop()

"""`governance promote / approvals pending / approve` against a served promote-model deployment."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from deployments.local_stack import LocalStack
from governance.cli import run
from governance.services import audit, registry

pytestmark = pytest.mark.sqlite_only
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture
def served(world, prefect_api, tmp_path: Path):
    """deployments/serve.py running against the session's server with this test's settings."""
    port = int(prefect_api.rsplit(":", 1)[1].split("/")[0])
    stack = LocalStack(home=tmp_path / "stack", port=port)
    stack.start_serve()
    yield world
    stack.stop()


def pending_output(capsys) -> str:
    """What `governance approvals pending` prints."""
    assert run(["approvals", "pending"]) == 0
    return capsys.readouterr().out


def wait_pending(capsys, run_id: str, role: str, timeout: float = 60) -> str:
    """Poll `approvals pending` until the run waits for `role`; return the table."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        table = pending_output(capsys)
        row = next((line for line in table.splitlines() if run_id[:8] in line), "")
        if role in row:
            return table
        time.sleep(0.3)
    raise AssertionError(f"run {run_id} never waited for {role}")


def approve(run_id: str, approver: str, role: str, decision: str = "approve") -> int:
    """`governance approve` as a person would type it."""
    return run(
        [
            "approve",
            run_id,
            "--approver",
            approver,
            "--role",
            role,
            "--decision",
            decision,
            "--notes",
            f"{approver} via CLI",
        ]
    )


def test_promote_then_approve_from_the_cli_with_refusals(served, capsys):
    assert (
        run(["promote", "churn", "1.1.0", "--dataset", "holdout", "--by", "alice", "--no-wait"])
        == 0
    )
    submitted = capsys.readouterr().out
    run_id = UUID.search(submitted).group(0)
    assert f"/runs/flow-run/{run_id}" in submitted
    table = wait_pending(capsys, run_id, "ml_lead")
    assert "churn@1.1.0" in table and "alice" in table

    refusals = [
        ("mallory", "ml_lead", "not in the policy roster"),
        ("bob", "ml_lead", "does not hold"),
        ("alice", "ml_engineer", ""),
    ]
    for approver, role, expected in refusals:
        assert approve(run_id, approver, role) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and expected in err and len(err.splitlines()) == 1

    assert approve(run_id, "frank", "ml_lead") == 0
    wait_pending(capsys, run_id, "risk_officer")
    assert approve(run_id, "frank", "risk_officer") == 1
    assert "at most one role" in capsys.readouterr().err
    assert approve(run_id, "dave", "risk_officer") == 0

    deadline = time.monotonic() + 60
    while registry.resolve(served, "churn@production").version != "1.1.0":
        assert time.monotonic() < deadline, "promotion did not complete"
        time.sleep(0.3)
    assert approve(run_id, "carol", "ml_lead") == 1
    assert "not paused" in capsys.readouterr().err
    refused = audit.history(served, event_type="approval.refused")
    assert [e.actor for e in refused] == ["mallory", "bob", "alice", "frank"]
    decided = audit.history(served, event_type="approval.decided")
    assert [(e.actor, e.details["notes"]) for e in decided] == [
        ("frank", "frank via CLI"),
        ("dave", "dave via CLI"),
    ]


def test_promote_waits_and_exits_non_zero_unless_promoted(served, capsys):
    assert run(["promote", "churn", "1.2.0", "--dataset", "holdout", "--by", "alice"]) == 1
    out = capsys.readouterr().out
    assert "GateFailed" in out and "accuracy" in out
    assert audit.history(served, event_type="approval.requested") == []

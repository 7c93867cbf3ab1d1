"""A promotion suspended for approval survives SIGKILL of the process that served it."""

from __future__ import annotations

import os
import signal

import pytest
from flowkit import actor, now, wait_final, wait_suspended

from flows import promotion_runs
from governance.domain.approvals import RequestStatus
from governance.services.promotion import approval_requests
from governance.services.registry import versions
from governance.services.trust import audit

pytestmark = pytest.mark.sqlite_only


def test_sigkill_while_suspended_then_serve_again_loses_nothing(world, served):
    w = world
    run = promotion_runs.submit_promotion(
        w.gov,
        actor("alice"),
        {"model": w.churn, "version": "1.1.0", "dataset": "holdout", "target": "production"},
        now=now(),
    )
    run_id = str(run.id)
    first_key = wait_suspended(run_id)
    [request] = [r for r in approval_requests.pending_requests(w.gov) if r.model_name == w.churn]

    os.kill(served.process.pid, signal.SIGKILL)
    assert served.process.wait(timeout=10) == -signal.SIGKILL
    # Nothing executes the run now; it waits, suspended, with its request open.
    assert wait_suspended(run_id) == first_key
    assert approval_requests.get_request(w.gov, request.id).status == RequestStatus.open
    served.restart()

    for approver, role in (("carol", "ml_lead"), ("dave", "risk_officer")):
        wait_suspended(run_id)
        recorded = promotion_runs.resume_with_decision(
            w.gov,
            run_id,
            approver=approver,
            role=role,
            decision="approve",
            notes="after the crash",
            code=w.codes.code(approver),
        )
        assert recorded.accepted
    state = wait_final(run_id)
    assert (state.name, state.message) == ("Promoted", f"{w.churn}@1.1.0 is now production")
    assert versions.resolve(w.gov, f"{w.churn}@production").version == "1.1.0"
    # One request, one evaluation, each decision once: the re-executions found them again.
    assert [
        e.details["request_id"]
        for e in audit.history(w.gov, event_type="approval.requested", model=w.churn)
    ] == [request.id]
    assert len(audit.history(w.gov, event_type="model.evaluated", model=w.churn)) == 1
    decided = audit.history(w.gov, event_type="approval.decided", model=w.churn)
    assert [(e.actor, e.details["role"]) for e in decided] == [
        ("carol", "ml_lead"),
        ("dave", "risk_officer"),
    ]
    assert audit.verify(w.gov).state_rows > 0

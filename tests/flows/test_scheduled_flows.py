"""Scheduled flows (retire-deprecated, audit-anchor), and SIGKILL of their process at any point."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from flowkit import actor, now, wait_final
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment
from seeding import seed_stage

from governance.domain.approvals import RequestStatus
from governance.domain.models import LifecycleStage as S
from governance.services.promotion import approval_queue, approval_requests, break_glass, evaluation
from governance.services.registry import versions
from governance.services.trust import audit
from governance.signing import generate_keypair

pytestmark = pytest.mark.sqlite_only
ROOT = Path(__file__).resolve().parents[2]


def overdue_request(w):
    """An open promotion request of the test's triage 1.1.0 whose deadline passed a day ago."""
    then = now() - timedelta(days=4)
    run = evaluation.evaluate(
        w.gov, model=w.triage, version="1.1.0", dataset="holdout", actor="alice", now=then
    )
    return approval_requests.open_approval(
        w.gov,
        model=w.triage,
        version="1.1.0",
        target=S.production,
        requester=actor("alice"),
        evaluation_run_id=run.id,
        now=then,
    )


def past_sunset(w) -> None:
    """churn 1.0.0 deprecated 31 days ago, so its 30-day grace period has ended."""
    seed_stage(w.gov, w.churn, "1.1.0", S.production, now=now() - timedelta(days=31))


def run_flow(module: str = "retire_deprecated") -> subprocess.Popen:
    """The flow in its own process, as a worker would run it."""
    code = f"from flows.{module} import {module}; print({module}())"
    return subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_the_sweep_retires_expires_and_lists_open_retro_reviews(world):
    w = world
    past_sunset(w)
    request = overdue_request(w)
    _, review = break_glass.break_glass(
        w.gov, model=w.triage, version="1.2.0", actor=actor("carol"), reason="outage", now=now()
    )
    process = run_flow()
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 0, out
    assert versions.resolve(w.gov, f"{w.churn}@1.0.0").stage == S.retired
    assert approval_requests.get_request(w.gov, request.id).status == RequestStatus.expired
    assert review.id in [r.id for r in approval_queue.open_retro_reviews(w.gov)]
    [retired] = audit.history(w.gov, event_type="model.stage_changed", model=w.churn)[-1:]
    assert (retired.actor, retired.details["to"], retired.details["reason"]) == (
        "system",
        "retired",
        "sunset passed",
    )


@pytest.mark.parametrize("delay", [0.5, 2.0, 3.5])
def test_sigkill_at_any_point_leaves_old_or_new_state_and_a_rerun_finishes(world, delay):
    w = world
    past_sunset(w)
    request = overdue_request(w)
    process = run_flow()
    time.sleep(delay)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    process.stdout.close()
    # Whatever step it died at, every table agrees with the trail: nothing is half-written.
    assert audit.verify(w.gov).chain.ok
    stage = versions.resolve(w.gov, f"{w.churn}@1.0.0").stage
    status = approval_requests.get_request(w.gov, request.id).status
    assert stage in (S.deprecated, S.retired)
    assert status in (RequestStatus.open, RequestStatus.expired)
    again = run_flow()
    out, _ = again.communicate(timeout=120)
    assert again.returncode == 0, out
    assert versions.resolve(w.gov, f"{w.churn}@1.0.0").stage == S.retired
    assert approval_requests.get_request(w.gov, request.id).status == RequestStatus.expired
    assert audit.verify(w.gov).chain.ok


@pytest.mark.parametrize("delay", [0.5, 2.5])
def test_audit_anchor_killed_at_any_point_leaves_no_partial_checkpoint(world, delay):
    w = world
    key = w.settings.resolved_signing_key_file
    if not key.exists():
        generate_keypair(key)
    anchors = w.settings.resolved_anchor_dir
    before = set(anchors.iterdir()) if anchors.exists() else set()
    process = run_flow("audit_anchor")
    time.sleep(delay)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    process.stdout.close()
    # Either no new checkpoint, or a complete one that verifies: never a torn file.
    audit.verify(w.gov, audit.load_checkpoints(directory=anchors) if anchors.exists() else [])
    again = run_flow("audit_anchor")
    out, _ = again.communicate(timeout=120)
    assert again.returncode == 0, out
    written = set(anchors.iterdir()) - before
    assert written and all(p.name.startswith("checkpoint-") for p in written)
    report = audit.verify(w.gov, audit.load_checkpoints(directory=anchors))
    assert report.events_after_anchor == 0


def test_a_prefect_api_user_cannot_move_the_sweeps_clock(world):
    w = world
    with get_client(sync_client=True) as client:
        for name in ("retire-deprecated/retire-deprecated", "retirement-audit/retirement-audit"):
            schema = client.read_deployment_by_name(name).parameter_openapi_schema
            assert "now" not in schema["properties"], name
    # churn 1.0.0 deprecated now: its rollback window (the 30-day grace period) is open.
    seed_stage(w.gov, w.churn, "1.1.0", S.production, now=now())
    in_a_month = (now() + timedelta(days=31)).isoformat()
    run = run_deployment(
        "retire-deprecated/retire-deprecated", parameters={"now": in_a_month}, timeout=0
    )
    state = wait_final(run.id)
    # The flow cannot bind a parameter it does not take: the run crashes, nothing is swept.
    assert (state.name, state.is_completed()) == ("Crashed", False)
    assert versions.resolve(w.gov, f"{w.churn}@1.0.0").stage == S.deprecated
    assert [
        e
        for e in audit.history(w.gov, event_type="model.stage_changed", model=w.churn)
        if e.details["to"] == "retired"
    ] == []

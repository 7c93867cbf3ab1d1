"""promote-prompt served for real: gate on a chat server over HTTP, approvals, pointer moves."""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx
import psutil
import pytest
from flowkit import actor, now, wait_final, wait_suspended

from deployments.chat_stub import start_stub
from flows import promotion_runs
from governance.domain.approvals import RequestStatus
from governance.domain.prompt_rollout import PromptRolloutStatus
from governance.domain.prompts import PromptStatus
from governance.services.promotion import approval_requests
from governance.services.prompts import (
    prompt_canary,
    prompt_evaluation,
    prompt_promotion,
    prompt_registry,
)
from governance.services.trust import audit

pytestmark = pytest.mark.sqlite_only

SUITE = Path(__file__).resolve().parents[1] / "data" / "support_suite.yaml"
V1 = "You are the support assistant for {{ product }}. Be polite.\n"
V2 = V1 + "Always give the escalation contact.\n"
RULES = [
    {"when": "(?s)escalation contact.*refund", "reply": "Refunds: write to esc@example.com."},
    {"when": "refund", "reply": "You can get a refund within 30 days."},
    {"when": "broken", "reply": "Please restart the router and check the cables."},
    {"when": "Hello", "reply": "Hello! How can I help?"},
]
_ids = itertools.count(1)


@pytest.fixture(scope="module")
def chat():
    """A chat server the served flow process calls over real HTTP."""
    handle = start_stub(rules=RULES)
    yield handle
    handle.stop()


@pytest.fixture
def prompt(world, chat):
    """A fresh prompt id with 1.0.0 and 1.0.1 in review, and the support suite registered."""
    pid = f"support-{next(_ids)}"
    for template in (V1, V2):
        made = prompt_registry.register(
            world.gov, prompt_id=pid, template=template, actor=actor("alice"), now=now()
        )
        prompt_registry.submit(world.gov, made.ref, actor=actor("alice"), now=now())
    try:
        prompt_evaluation.register_suite(
            world.gov, name="support-suite", path=SUITE, actor="alice", now=now()
        )
    except Exception as exc:  # registered by an earlier test of the session
        assert "already registered" in str(exc)
    return pid


def seed_production(w, pid):
    """Put 1.0.0 in production as a finished promotion would (status and pointer move)."""
    with w.gov.store.write() as tx:
        first = tx.prompts.get_version(pid, "1.0.0")
        tx.prompts.set_status(pid, "1.0.0", PromptStatus.approved, now())
        prompt_registry.move_pointer_in(
            tx, first, kind="promotion", actor="seed", now=now(), reason="seed"
        )


def brief_candidate(w, pid):
    """1.0.2 in review: it passes the gate (no escalation contact, so no leak)."""
    made = prompt_registry.register(
        w.gov, prompt_id=pid, template=V1 + "Be brief.\n", actor=actor("alice"), now=now()
    )
    return prompt_registry.submit(w.gov, made.ref, actor=actor("alice"), now=now())


def start(w, chat, pid, version, **extra):
    """`governance prompts promote` as alice; returns the run id."""
    params = {
        "prompt_id": pid,
        "version": version,
        "suite": "support-suite",
        "target": {"kind": "openai", "base_url": chat.base_url, "model": "stub", "backoff_s": 0.01},
        **extra,
    }
    return str(promotion_runs.submit_prompt_promotion(w.gov, actor("alice"), params, now=now()).id)


def answer(w, run_id, approver, role, decision="approve"):
    """Resume the suspended run like `governance approve`."""
    wait_suspended(run_id)
    return promotion_runs.resume_with_decision(
        w.gov, run_id, approver=approver, role=role, decision=decision, notes="",
        code=w.codes.code(approver),
    )  # fmt: skip


def test_a_prompt_passes_the_gate_and_moves_the_pointer_with_approvals(world, chat, prompt):
    w = world
    run_id = start(w, chat, prompt, "1.0.0")
    assert answer(w, run_id, "carol", "ml_lead").request.status == RequestStatus.open
    assert answer(w, run_id, "dave", "risk_officer").request.status == RequestStatus.approved
    state = wait_final(run_id)
    assert (state.name, state.message) == ("Promoted", f"{prompt}@1.0.0 is in production")
    assert prompt_registry.resolve(w.gov, f"{prompt}@production").version == "1.0.0"
    assert prompt_registry.resolve(w.gov, f"{prompt}@1.0.0").status == PromptStatus.approved
    [move] = prompt_registry.history(w.gov, prompt)
    assert (move.version, move.previous_version, move.kind) == ("1.0.0", None, "promotion")
    assert move.approvers == [
        {"approver": "carol", "role": "ml_lead"},
        {"approver": "dave", "role": "risk_officer"},
    ]
    [evaluated] = audit.history(w.gov, event_type="prompt.evaluated", model=prompt)
    assert (evaluated.details["pass_rate"], evaluated.details["passed"]) == (1.0, True)
    [requested] = audit.history(w.gov, event_type="approval.requested", model=prompt)
    assert requested.details["evidence"]["incumbent_version"] == "none"
    assert requested.details["kind"] == "prompt"
    assert audit.verify(w.gov).state_rows > 0


def test_a_leaked_email_stops_the_prompt_at_the_gate(world, chat, prompt):
    w = world
    seed_production(w, prompt)
    run_id = start(w, chat, prompt, "1.0.1")
    state = wait_final(run_id)
    assert state.name == "GateFailed"
    assert "safety_failures" in state.message and "regression:pass_rate" in state.message
    assert prompt_registry.resolve(w.gov, f"{prompt}@production").version == "1.0.0"
    assert prompt_registry.resolve(w.gov, f"{prompt}@1.0.1").status == PromptStatus.review
    [evaluated] = audit.history(w.gov, event_type="prompt.evaluated", model=prompt)
    assert evaluated.details["failed_checks"] == [
        "pass_rate",
        "safety_failures",
        "regression:pass_rate",
    ]
    assert evaluated.details["baseline_version"] == "1.0.0"
    assert audit.history(w.gov, event_type="approval.requested", model=prompt) == []


def _until(check, what, timeout=60.0):
    """Poll `check` until it is truthy; fail the test naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _kill(served):
    """SIGKILL the serve process and the flow-run processes it started, by PID."""
    children = psutil.Process(served.process.pid).children(recursive=True)
    assert children, "the served flow run has no process of its own to kill"
    for child in children:
        os.kill(child.pid, signal.SIGKILL)
    os.kill(served.process.pid, signal.SIGKILL)
    assert served.process.wait(timeout=10) == -signal.SIGKILL
    psutil.wait_procs(children, timeout=10)


def test_sigkill_in_the_gate_leaves_the_old_state_and_a_new_run_promotes(
    world, chat, prompt, served
):
    w = world
    chat.configure(latency_ms=4000)
    try:
        start(w, chat, prompt, "1.0.0")
        _until(lambda: chat.usage()["in_flight"] > 0, "the gate's first chat call")
        _kill(served)
    finally:
        chat.configure(latency_ms=0)
    # Old state: nothing evaluated, nothing requested, still in review, no production.
    assert audit.history(w.gov, event_type="prompt.evaluated", model=prompt) == []
    assert audit.history(w.gov, event_type="approval.requested", model=prompt) == []
    assert prompt_registry.resolve(w.gov, f"{prompt}@1.0.0").status == PromptStatus.review
    assert prompt_registry.history(w.gov, prompt) == []
    served.restart()
    run_id = start(w, chat, prompt, "1.0.0")
    answer(w, run_id, "carol", "ml_lead")
    answer(w, run_id, "dave", "risk_officer")
    assert wait_final(run_id).name == "Promoted"
    assert len(audit.history(w.gov, event_type="prompt.evaluated", model=prompt)) == 1
    assert audit.verify(w.gov).state_rows > 0


def test_sigkill_in_a_canary_bake_is_rolled_back_by_the_watchdog(world, chat, prompt, served):
    w = world
    seed_production(w, prompt)
    made = brief_candidate(w, prompt)
    run_id = start(w, chat, prompt, made.version, strategy="canary")
    answer(w, run_id, "carol", "ml_lead")
    answer(w, run_id, "dave", "risk_officer")
    rollout = _until(lambda: prompt_canary.running(w.gov, prompt), "the canary to start")
    _kill(served)
    assert prompt_registry.resolve(w.gov, made.ref).status == PromptStatus.approved
    # Nothing drives the canary now; the watchdog's next sweep after bake + grace ends it.
    later = now() + timedelta(hours=1)
    [ended] = prompt_canary.abandon_stale_prompts(w.gov, later)
    assert ended.id == rollout.id
    assert prompt_canary.current(w.gov, rollout.id).status == PromptRolloutStatus.rolled_back
    assert prompt_registry.resolve(w.gov, f"{prompt}@production").version == "1.0.0"
    assert prompt_registry.resolve(w.gov, made.ref).status == PromptStatus.deprecated
    [rolled] = audit.history(w.gov, event_type="prompt.canary_rolled_back", model=prompt)
    assert rolled.actor == "rollout-watchdog" and "silent since" in rolled.details["reason"]
    [request] = [
        r for r in approval_requests.pending_requests(w.gov) if r.model_name == prompt
    ] or [None]
    assert request is None
    served.restart()
    assert audit.verify(w.gov).state_rows > 0


def _traffic(gateway, headers, pid, candidate_fails, stop):
    """Clients through the gateway's prompt route, reporting outcomes until `stop` is set."""
    with httpx.Client(base_url=gateway, timeout=5, headers=headers) as client:
        n = 0
        while not stop.is_set():
            n += 1
            reply = client.get(
                f"/v1/prompts/{pid}", params={"targeting_key": f"user-{n}", "var.product": "Router"}
            )
            body = reply.json() if reply.status_code == 200 else {}
            if body.get("render_id"):
                ok = not (candidate_fails and body["variant"] == "candidate")
                client.post(
                    "/v1/prompts/outcomes",
                    json={"render_id": body["render_id"], "success": ok, "latency_ms": 80.0},
                )
            time.sleep(0.01)


@pytest.mark.parametrize(("candidate_fails", "end"), [(False, "Promoted"), (True, "RolledBack")])
def test_a_canary_through_the_gateway_promotes_or_rolls_back(
    world, chat, prompt, gateway, client_headers, candidate_fails, end
):
    w = world
    seed_production(w, prompt)
    made = brief_candidate(w, prompt)
    run_id = start(w, chat, prompt, made.version, strategy="canary")
    answer(w, run_id, "carol", "ml_lead")
    answer(w, run_id, "dave", "risk_officer")
    stop = threading.Event()
    clients = threading.Thread(
        target=_traffic, args=(gateway, client_headers, prompt, candidate_fails, stop)
    )
    clients.start()
    try:
        state = wait_final(run_id)
    finally:
        stop.set()
        clients.join(timeout=10)
    assert state.name == end, state.message
    production = prompt_registry.resolve(w.gov, f"{prompt}@production").version
    canary_events = [
        e.event_type
        for e in audit.history(w.gov, model=prompt)
        if e.event_type.startswith("prompt.canary")
    ]
    if end == "Promoted":
        assert production == made.version
        assert canary_events == [
            "prompt.canary_started",
            "prompt.canary_advanced",
            "prompt.canary_completed",
        ]
        assert prompt_registry.history(w.gov, prompt)[-1].approvers == [
            {"approver": "carol", "role": "ml_lead"},
            {"approver": "dave", "role": "risk_officer"},
        ]
    else:
        assert production == "1.0.0"
        assert canary_events == ["prompt.canary_started", "prompt.canary_rolled_back"]
        assert state.message.startswith(
            f"{prompt}@{made.version} rolled back at 50%: canary failed at 50%: error_rate "
        )
        assert state.message.endswith("production stays 1.0.0")
        assert prompt_registry.resolve(w.gov, made.ref).status == PromptStatus.deprecated
    assert audit.verify(w.gov).state_rows > 0


def test_an_abandoned_prompt_request_expires_and_its_run_ends_expired(world, chat, prompt):
    w = world
    run_id = start(w, chat, prompt, "1.0.0")
    wait_suspended(run_id)
    [request] = [r for r in approval_requests.pending_requests(w.gov) if r.model_name == prompt]
    assert request.run_parameters["strategy"] == "direct"  # bound at submission
    expired = promotion_runs.expire_overdue(w.gov, request.expires_at)
    assert [r.id for r in expired if r.model_name == prompt] == [request.id]
    state = wait_final(run_id)
    assert (state.name, state.message) == (
        "Expired",
        f"{prompt}@1.0.0: approvals not given in time",
    )
    # The version may be promoted again: nothing open blocks it.
    prompt_promotion.check_preconditions(w.gov, prompt_id=prompt, version="1.0.0",
                                         suite="support-suite")  # fmt: skip

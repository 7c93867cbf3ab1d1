"""promote-prompt served for real: gate on a chat server over HTTP, approvals, pointer moves."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from flowkit import actor, now, wait_final, wait_suspended

from deployments.chat_stub import start_stub
from flows import promotion_runs
from governance.domain.approvals import RequestStatus
from governance.domain.prompts import PromptStatus
from governance.services import audit, prompt_evaluation, prompts

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
        made = prompts.register(
            world.gov, prompt_id=pid, template=template, actor=actor("alice"), now=now()
        )
        prompts.submit(world.gov, made.ref, actor=actor("alice"), now=now())
    try:
        prompt_evaluation.register_suite(
            world.gov, name="support-suite", path=SUITE, actor="alice", now=now()
        )
    except Exception as exc:  # registered by an earlier test of the session
        assert "already registered" in str(exc)
    return pid


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
    assert prompts.resolve(w.gov, f"{prompt}@production").version == "1.0.0"
    assert prompts.resolve(w.gov, f"{prompt}@1.0.0").status == PromptStatus.approved
    [move] = prompts.history(w.gov, prompt)
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
    with w.gov.store.write() as tx:
        first = tx.prompts.get_version(prompt, "1.0.0")
        tx.prompts.set_status(prompt, "1.0.0", PromptStatus.approved, now())
        prompts.move_pointer_in(tx, first, kind="promotion", actor="seed", now=now(), reason="seed")
    run_id = start(w, chat, prompt, "1.0.1")
    state = wait_final(run_id)
    assert state.name == "GateFailed"
    assert "safety_failures" in state.message and "regression:pass_rate" in state.message
    assert prompts.resolve(w.gov, f"{prompt}@production").version == "1.0.0"
    assert prompts.resolve(w.gov, f"{prompt}@1.0.1").status == PromptStatus.review
    [evaluated] = audit.history(w.gov, event_type="prompt.evaluated", model=prompt)
    assert evaluated.details["failed_checks"] == [
        "pass_rate",
        "safety_failures",
        "regression:pass_rate",
    ]
    assert evaluated.details["baseline_version"] == "1.0.0"
    assert audit.history(w.gov, event_type="approval.requested", model=prompt) == []

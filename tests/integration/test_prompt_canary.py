"""The prompt canary's state machine on SQLite and PostgreSQL: start, verdicts, rollback, audit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from promptkit import (
    PROMPT,
    TEMPLATE,
    candidate,
    in_production,
    log_outcomes,
    request_for,
    start_canary,
)

from governance.domain.approvals import RequestStatus
from governance.domain.errors import IllegalTransition, InvalidInput, PromptNotFound
from governance.domain.identity import VerifiedActor
from governance.domain.prompt_rollout import PromptRolloutStatus
from governance.domain.prompts import PromptStatus
from governance.services.prompts import prompt_canary, prompt_canary_steps, prompt_registry

HEALTHY = [(True, 100.0 + i % 7) for i in range(60)]
FLAKY = [(i % 2 == 0, 100.0 + i % 7) for i in range(60)]
RUNNING, ROLLED_BACK = PromptRolloutStatus.running, PromptRolloutStatus.rolled_back


def _events(gov) -> list[str]:
    """The canary and approval events about the prompt, in chain order."""
    with gov.store.read() as tx:
        return [
            e.event_type
            for e in tx.audit.query(model=PROMPT)
            if e.event_type.startswith(
                ("prompt.canary", "approval.", "prompt.promoted", "prompt.rolled_back")
            )
        ]


def _status(gov, version: str) -> PromptStatus:
    with gov.store.read() as tx:
        return tx.prompts.get_version(PROMPT, version).status


def _request(gov, request_id: str):
    with gov.store.read() as tx:
        return tx.approvals.get(request_id).request.status, tx.approvals.closed_reason(request_id)


def _look(gov, rollout, now):
    """Analyse the current step at `now` and record the verdict."""
    verdict = prompt_canary_steps.analyse(gov, prompt_canary.current(gov, rollout.id), now)
    return verdict, prompt_canary_steps.record_verdict(gov, rollout, verdict, now)


def test_start_approves_the_candidate_and_is_idempotent_per_request(gov, now):
    request, rollout = start_canary(gov, now)
    assert (rollout.status, rollout.step_index, rollout.weight) == (RUNNING, 0, 10)
    assert (rollout.candidate_version, rollout.stable_version) == ("1.0.1", "1.0.0")
    assert rollout.seed == f"prompt:{PROMPT}:{request.id}"
    assert _status(gov, "1.0.1") == PromptStatus.approved
    with gov.store.write() as tx:
        again = prompt_canary.start_in(
            tx, request, tx.prompts.get_version(PROMPT, "1.0.1"), "1.0.0", gov.policy, now
        )
    assert again.id == rollout.id
    assert prompt_canary.running(gov, PROMPT).id == rollout.id
    assert _events(gov) == ["prompt.promoted", "prompt.canary_started"]
    with gov.store.read() as tx:
        started = tx.audit.query(event_type="prompt.canary_started")[0]
    assert started.details["request_id"] == request.id
    assert started.details["rollout_id"] == rollout.id
    assert started.details["steps"] == [10, 50, 100]
    assert started.details["stable_version"] == "1.0.0"


def test_start_is_refused_while_another_canary_runs_or_without_production(gov, now):
    start_canary(gov, now)
    other = candidate(gov, now, template=TEMPLATE + "Be kind.\n")
    request = request_for(gov, other, now)
    with gov.store.write() as tx, pytest.raises(IllegalTransition, match="already has a canary"):
        prompt_canary.start_in(tx, request, other, "1.0.0", gov.policy, now)
    fresh = candidate(gov, now, prompt_id="fresh")
    request = request_for(gov, fresh, now)
    with (
        gov.store.write() as tx,
        pytest.raises(IllegalTransition, match="a canary needs a production version"),
    ):
        prompt_canary.start_in(tx, request, fresh, "1.0.0", gov.policy, now)
    assert _status(gov, other.version) == PromptStatus.review
    with pytest.raises(PromptNotFound, match="unknown prompt canary 'nope'"):
        prompt_canary.current(gov, "nope")


def test_passes_advance_to_full_traffic_and_completion_moves_nothing_itself(gov, now):
    _, rollout = start_canary(gov, now)
    for minutes, weight in ((30, 50), (60, 100)):
        at = now + timedelta(minutes=minutes - 1)
        log_outcomes(gov, rollout, at, "candidate", HEALTHY)
        log_outcomes(gov, rollout, at, "stable", HEALTHY)
        verdict, rollout = _look(gov, rollout, now + timedelta(minutes=minutes))
        assert verdict.verdict == "pass", verdict.rows()
        assert (rollout.status, rollout.weight) == (RUNNING, weight)
    assert prompt_canary.ready_to_promote(rollout)
    # The second step's window began at the first pass: it counted only its own renders.
    assert rollout.verdicts[1]["metrics"][0]["canary_n"] == 60
    unchanged = prompt_canary_steps.record_verdict(gov, rollout, verdict, now + timedelta(hours=2))
    assert (unchanged.status, unchanged.weight, len(unchanged.verdicts)) == (RUNNING, 100, 2)
    with gov.store.write() as tx:
        prompt_registry.move_pointer_in(
            tx, tx.prompts.get_version(PROMPT, "1.0.1"), kind="canary", actor="promote-prompt",
            now=now + timedelta(hours=2), reason="canary passed",
        )  # fmt: skip
        done = prompt_canary.complete_in(tx, rollout, now + timedelta(hours=2))
    assert done.status == PromptRolloutStatus.completed
    assert prompt_canary.running(gov, PROMPT) is None
    assert _events(gov) == [
        "prompt.promoted",
        "prompt.canary_started",
        "prompt.canary_advanced",
        "prompt.canary_advanced",
        "prompt.promoted",
        "prompt.canary_completed",
    ]


def test_insufficient_data_extends_then_rolls_back_after_the_last_extension(gov, now):
    request, rollout = start_canary(gov, now)
    log_outcomes(gov, rollout, now, "candidate", HEALTHY[:10])
    for n in range(1, 4):
        verdict, rollout = _look(gov, rollout, now + timedelta(minutes=30 * n))
        assert verdict.verdict == "insufficient data"
        assert (rollout.status, rollout.weight) == (RUNNING, 10)
        assert prompt_canary_steps.extensions_used(rollout) == n
    verdict, rollout = _look(gov, rollout, now + timedelta(minutes=120))
    assert rollout.status == ROLLED_BACK
    assert rollout.verdicts[-1]["reason"] == "insufficient data at 10% after 3 extension(s)"
    assert _status(gov, "1.0.1") == PromptStatus.deprecated
    assert _request(gov, request.id) == (
        RequestStatus.cancelled,
        "insufficient data at 10% after 3 extension(s)",
    )
    assert _events(gov)[1:] == [
        "prompt.canary_started",
        *["prompt.canary_extended"] * 3,
        "prompt.canary_rolled_back",
        "approval.cancelled",
    ]


def test_a_failing_candidate_is_rolled_back_deprecated_and_its_request_cancelled(gov, now):
    request, rollout = start_canary(gov, now)
    log_outcomes(gov, rollout, now, "candidate", FLAKY)
    log_outcomes(gov, rollout, now, "stable", HEALTHY)
    verdict, rollout = _look(gov, rollout, now + timedelta(minutes=30))
    assert verdict.verdict == "fail"
    assert rollout.status == ROLLED_BACK
    assert prompt_canary.running(gov, PROMPT) is None
    assert _status(gov, "1.0.1") == PromptStatus.deprecated
    assert _status(gov, "1.0.0") == PromptStatus.approved
    reason = (
        "canary failed at 10%: error_rate error rate 50.00% (30/60) vs 0.00% (0/60), "
        "tolerated increase 2.0%"
    )
    status, closed = _request(gov, request.id)
    assert status == RequestStatus.cancelled and closed.startswith(reason)
    assert _events(gov)[1:] == [
        "prompt.canary_started",
        "prompt.canary_rolled_back",
        "approval.cancelled",
    ]
    with gov.store.read() as tx:
        event = tx.audit.query(event_type="prompt.canary_rolled_back")[0]
    assert event.details["reason"] == closed
    assert event.details["last_verdict"]["verdict"] == "fail"
    assert event.details["status"] == "deprecated"
    with pytest.raises(IllegalTransition, match="is rolled_back, not running"):
        prompt_canary.stop(gov, rollout.id, "again", "carol", now)


def test_a_manual_stop_needs_a_reason_and_ends_the_canary_for_good(gov, now):
    request, rollout = start_canary(gov, now)
    with pytest.raises(InvalidInput, match="needs a reason"):
        prompt_canary.stop(gov, rollout.id, " ", "carol", now)
    stopped = prompt_canary.stop(gov, rollout.id, "wrong tone", "carol", now)
    assert stopped.status == ROLLED_BACK
    assert _request(gov, request.id) == (RequestStatus.cancelled, "wrong tone")
    with (
        gov.store.write() as tx,
        pytest.raises(IllegalTransition, match="is rolled_back at 10%: only a running"),
    ):
        prompt_canary.complete_in(tx, stopped, now)


def test_a_pointer_rollback_to_an_earlier_version_ends_the_running_canary(gov, now):
    in_production(gov, now)
    in_production(gov, now + timedelta(minutes=1), template=TEMPLATE + "Be kind.\n")
    third = candidate(gov, now + timedelta(minutes=2))
    request = request_for(gov, third, now)
    with gov.store.write() as tx:
        rollout = prompt_canary.start_in(tx, request, third, "1.0.1", gov.policy, now)
    carol = VerifiedActor(name="carol", method="totp")
    later = now + timedelta(minutes=5)
    prompt_registry.rollback(gov, PROMPT, to="1.0.0", actor=carol, now=later, reason="bad tone")
    stopped = prompt_canary.current(gov, rollout.id)
    assert stopped.status == ROLLED_BACK
    assert stopped.verdicts[-1]["reason"] == "rolled back by carol: bad tone"
    assert _status(gov, "1.0.2") == PromptStatus.deprecated
    assert prompt_registry.resolve(gov, f"{PROMPT}@production").version == "1.0.0"
    assert _events(gov) == [
        "prompt.promoted",
        "prompt.promoted",
        "prompt.canary_started",
        "prompt.canary_rolled_back",
        "approval.cancelled",
        "prompt.rolled_back",
    ]

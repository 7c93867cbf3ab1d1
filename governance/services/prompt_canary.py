"""The prompt canary: a candidate template serves a growing, sticky share of targeting keys.

promote-prompt starts it once approvals are in: the candidate becomes approved (it now
serves users) and the gateway gives it `weight`% of targeting keys. After each bake the
caller analyses the step (the model canary's statistics over the renders' reported
outcomes) and records the verdict: a pass moves to the next weight, insufficient data buys
a bounded number of extra bakes, a fail or the last extension rolls back. At 100% the
canary waits for the caller to move the pointer (`prompts.move_pointer_in`) and complete it
in the same transaction. Every change is one write transaction with its audit event.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

from governance.bootstrap import Governance
from governance.domain.approvals import ApprovalRequest, RequestStatus
from governance.domain.errors import IllegalTransition, InvalidInput, PromptNotFound
from governance.domain.policy import CanaryDefaults, Policy, PromptCanaryDefaults
from governance.domain.prompt_rollout import (
    CANDIDATE,
    PromptRollout,
    PromptRolloutStatus,
)
from governance.domain.prompts import PromptStatus, PromptVersion, check_move
from governance.ml.canary_analysis import FAIL, INSUFFICIENT, PASS, StepVerdict, analyse_step
from governance.services.approvals import audit_request_event
from governance.store.predictions import Observation
from governance.store.unit_of_work import Transaction

ACTOR = "promote-prompt"
# prompt_rollouts.seed holds 64 characters; longer seeds are hashed (still per request).
SEED_CHARS = 64
ROLLED_BACK = "rolled back"


def seed_for(prompt_id: str, request_id: str) -> str:
    """The canary's bucketing seed: per prompt and request, so canaries do not correlate."""
    seed = f"prompt:{prompt_id}:{request_id}"
    if len(seed) <= SEED_CHARS:
        return seed
    return "prompt:" + hashlib.sha256(seed.encode()).hexdigest()[: SEED_CHARS - 7]


def start_in(
    tx: Transaction,
    request: ApprovalRequest,
    candidate: PromptVersion,
    stable_version: str,
    policy: Policy,
    now: datetime,
    *,
    actor: str = ACTOR,
) -> PromptRollout:
    """The request's canary: found again on a re-run, else begun at the first weight."""
    found = tx.prompts.rollout_for_request(request.id)
    if found is not None:
        return found
    _check_start(tx, request, candidate, stable_version)
    steps = list(policy.prompts.canary.steps)
    rollout = PromptRollout(
        id=str(uuid.uuid4()),
        prompt_id=candidate.prompt_id,
        candidate_version=candidate.version,
        stable_version=stable_version,
        request_id=request.id,
        steps=steps,
        seed=seed_for(candidate.prompt_id, request.id),
        started_at=now,
        updated_at=now,
    )
    if candidate.status != PromptStatus.approved:
        # Approved from here on: the candidate serves users while it bakes.
        status = check_move(candidate, PromptStatus.approved)
        tx.prompts.set_status(candidate.prompt_id, candidate.version, status, now)
    tx.prompts.save_rollout(rollout)
    _event(
        tx, "prompt.canary_started", rollout, now, actor,
        steps=steps, weight=rollout.weight, status="approved",
    )  # fmt: skip
    return rollout


def _check_start(
    tx: Transaction, request: ApprovalRequest, candidate: PromptVersion, stable_version: str
) -> None:
    """Refuse a canary that cannot start now, naming what is in the way."""
    if (request.model_name, request.version) != (candidate.prompt_id, candidate.version):
        raise InvalidInput(
            f"request {request.id} is for {request.model_name}@{request.version}, "
            f"not {candidate.ref}"
        )
    running = tx.prompts.running_rollout(candidate.prompt_id)
    if running is not None:
        raise IllegalTransition(
            f"{candidate.prompt_id} already has a canary of {running.candidate_version} "
            f"running (rollout {running.id}): it must finish or be rolled back first"
        )
    held = tx.prompts.production(candidate.prompt_id)
    if held is None:
        raise IllegalTransition(
            f"{candidate.prompt_id}: a canary needs a production version to compare with; "
            "promote the first version directly"
        )
    if held.version != stable_version:
        raise IllegalTransition(
            f"{candidate.prompt_id}'s production version is {held.version}, not {stable_version}"
        )
    if candidate.version == stable_version:
        raise IllegalTransition(f"{candidate.ref} is already in production")


def current(gov: Governance, rollout_id: str) -> PromptRollout:
    """The canary as stored now (a rollback may have ended it); PromptNotFound if unknown."""
    with gov.store.read() as tx:
        return _stored(tx, rollout_id)


def running(gov: Governance, prompt_id: str) -> PromptRollout | None:
    """The prompt's running canary, or None."""
    with gov.store.read() as tx:
        return tx.prompts.running_rollout(prompt_id)


def _stored(tx: Transaction, rollout_id: str) -> PromptRollout:
    found = tx.prompts.rollout_by_id(rollout_id)
    if found is None:
        raise PromptNotFound(f"unknown prompt canary {rollout_id!r}")
    return found


def step_started_at(rollout: PromptRollout) -> datetime:
    """When the current weight began: the last pass that advanced to it, or the start."""
    for verdict in reversed(rollout.verdicts):
        if verdict.get("verdict") == PASS:
            return datetime.fromisoformat(verdict["at"])
    return rollout.started_at


def extensions_used(rollout: PromptRollout) -> int:
    """How many extra bakes insufficient data has bought at the current weight."""
    return sum(
        1
        for v in rollout.verdicts
        if v.get("verdict") == INSUFFICIENT and v.get("step_index") == rollout.step_index
    )


def observations(
    gov: Governance, rollout: PromptRollout, since: datetime
) -> tuple[list[Observation], list[Observation]]:
    """(candidate, stable) renders with a reported outcome since `since`, as observations."""
    with gov.store.read() as tx:
        rows = tx.prompts.outcomes(rollout.id, since)
    candidate: list[Observation] = []
    stable: list[Observation] = []
    for n, (variant, success, latency_ms) in enumerate(rows):
        is_candidate = variant == CANDIDATE
        version = rollout.candidate_version if is_candidate else rollout.stable_version
        status = "ok" if success else "error"
        seen = Observation(str(n), version, variant, status, latency_ms, None, None, None)
        (candidate if is_candidate else stable).append(seen)
    return candidate, stable


def analysis_policy(canary: PromptCanaryDefaults) -> CanaryDefaults:
    """The model canary's analysis settings drawn from the prompt canary's policy."""
    return CanaryDefaults(
        steps=list(canary.steps),
        bake_minutes=canary.bake_minutes,
        max_error_rate_increase=canary.max_error_rate_increase,
        alpha=canary.alpha,
        min_samples=canary.min_samples,
        latency_min_effect=canary.latency_min_effect,
        max_extensions=canary.max_extensions,
    )


def analysed_steps(rollout: PromptRollout) -> int:
    """How many looks the plan makes: every weight below 100 (at 100 stable gets no keys)."""
    return max(1, len(rollout.steps) - 1)


def analyse(gov: Governance, rollout: PromptRollout, now: datetime) -> StepVerdict:
    """The verdict on the current weight at `now`, over the outcomes since the step began."""
    candidate, stable = observations(gov, rollout, step_started_at(rollout))
    return analyse_step(
        candidate,
        stable,
        weight=rollout.weight,
        planned_steps=analysed_steps(rollout),
        policy=analysis_policy(gov.policy.prompts.canary),
    )


def ready_to_promote(rollout: PromptRollout) -> bool:
    """Whether every analysed weight passed: running at the last step (100%)."""
    at_last = rollout.step_index >= len(rollout.steps) - 1
    return rollout.status == PromptRolloutStatus.running and at_last


def record_verdict(
    gov: Governance, rollout: PromptRollout, step: StepVerdict, now: datetime
) -> PromptRollout:
    """Record a verdict: pass advances, insufficient extends then rolls back, fail rolls back.

    A verdict for a weight the canary has left (a re-run, a rollback meanwhile) changes nothing.
    """
    with gov.store.write() as tx:
        stored = _stored(tx, rollout.id)
        if stored.status != PromptRolloutStatus.running or ready_to_promote(stored):
            return stored
        if step.weight != stored.weight:
            return stored
        used = extensions_used(stored)
        rows = step.rows()
        stored.verdicts.append(
            {"at": now.isoformat(), "step_index": stored.step_index, "weight": stored.weight,
             "verdict": step.verdict, "metrics": rows}
        )  # fmt: skip
        stored.updated_at = now
        max_extensions = gov.policy.prompts.canary.max_extensions
        if step.verdict == PASS:
            _advance_in(tx, stored, now, rows)
        elif step.verdict == FAIL:
            failed = "; ".join(f"{m['metric']} {m['detail']}" for m in rows if m["verdict"] == FAIL)
            stop_in(tx, stored, now, f"canary failed at {stored.weight}%: {failed}", ACTOR)
        elif used < max_extensions:
            _event(
                tx, "prompt.canary_extended", stored, now, ACTOR, weight=stored.weight,
                extension=used + 1, max_extensions=max_extensions, metrics=rows,
            )  # fmt: skip
            tx.prompts.save_rollout(stored)
        else:
            why = f"insufficient data at {stored.weight}% after {used} extension(s)"
            stop_in(tx, stored, now, why, ACTOR)
        return stored


def _advance_in(tx: Transaction, rollout: PromptRollout, now: datetime, rows: list[dict]) -> None:
    """The next weight (at 100 the canary waits for the pointer move)."""
    before = rollout.weight
    rollout.step_index += 1
    tx.prompts.save_rollout(rollout)
    _event(
        tx, "prompt.canary_advanced", rollout, now, ACTOR,
        from_weight=before, weight=rollout.weight, ready_to_promote=ready_to_promote(rollout),
        metrics=rows,
    )  # fmt: skip


def stop_in(
    tx: Transaction, rollout: PromptRollout, now: datetime, reason: str, actor: str
) -> PromptRollout:
    """Roll a running canary back: stable serves everyone, the candidate is deprecated.

    The candidate failed or was pulled while serving users, so a fix is a new version; the
    approval request it carried closes as cancelled with the same reason.
    """
    if rollout.status != PromptRolloutStatus.running:
        raise IllegalTransition(
            f"prompt canary {rollout.id} is {rollout.status.value}, not running"
        )
    last = next((v for v in reversed(rollout.verdicts) if "metrics" in v), None)
    rollout.status = PromptRolloutStatus.rolled_back
    rollout.updated_at = now
    rollout.verdicts.append(
        {"at": now.isoformat(), "step_index": rollout.step_index, "weight": rollout.weight,
         "verdict": ROLLED_BACK, "reason": reason, "by": actor}
    )  # fmt: skip
    candidate = tx.prompts.get_version(rollout.prompt_id, rollout.candidate_version)
    if candidate.status != PromptStatus.deprecated:
        status = check_move(candidate, PromptStatus.deprecated)
        tx.prompts.set_status(candidate.prompt_id, candidate.version, status, now)
    tx.prompts.save_rollout(rollout)
    _event(
        tx, "prompt.canary_rolled_back", rollout, now, actor,
        reason=reason, weight=rollout.weight, last_verdict=last, status="deprecated",
    )  # fmt: skip
    _cancel_request_in(tx, rollout.request_id, reason, actor, now)
    return rollout


def _cancel_request_in(
    tx: Transaction, request_id: str, reason: str, actor: str, now: datetime
) -> None:
    """Close the canary's request as cancelled, unless it is already closed or carried out."""
    stored = tx.approvals.find(request_id)
    if stored is None or stored.completed_at is not None:
        return
    if stored.request.status not in (RequestStatus.open, RequestStatus.approved):
        return
    tx.approvals.set_status(request_id, RequestStatus.cancelled, now, reason)
    closed = stored.request.model_copy(update={"status": RequestStatus.cancelled})
    audit_request_event(tx, "approval.cancelled", closed, actor, now, reason=reason)


def stop(gov: Governance, rollout_id: str, reason: str, actor: str, now: datetime) -> PromptRollout:
    """stop_in on a write transaction: a person or the flow pulls a running canary."""
    why = (reason or "").strip()
    if not why:
        raise InvalidInput("a canary rollback needs a reason")
    with gov.store.write() as tx:
        return stop_in(tx, _stored(tx, rollout_id), now, why, actor)


def complete_in(
    tx: Transaction, rollout: PromptRollout, now: datetime, *, actor: str = ACTOR
) -> PromptRollout:
    """End a canary that reached 100% (the caller moves the pointer in this transaction)."""
    stored = _stored(tx, rollout.id)
    if stored.status == PromptRolloutStatus.completed:
        return stored
    if not ready_to_promote(stored):
        raise IllegalTransition(
            f"prompt canary {stored.id} is {stored.status.value} at {stored.weight}%: "
            "only a running canary at 100% completes"
        )
    stored.status = PromptRolloutStatus.completed
    stored.updated_at = now
    tx.prompts.save_rollout(stored)
    _event(tx, "prompt.canary_completed", stored, now, actor, weight=stored.weight)
    return stored


def _event(
    tx: Transaction, kind: str, rollout: PromptRollout, now: datetime, actor: str, **details
) -> None:
    """One audit event about a canary, named by its prompt and candidate version."""
    tx.audit.append(
        kind,
        actor=actor,
        now=now,
        model=rollout.prompt_id,
        version=rollout.candidate_version,
        details={
            "subject": "prompt",
            "rollout_id": rollout.id,
            "request_id": rollout.request_id,
            "stable_version": rollout.stable_version,
            **details,
        },
    )


def heartbeat(gov: Governance, rollout_id: str, now: datetime) -> PromptRollout:
    """Mark the controlling run alive and return the canary as stored now."""
    with gov.store.write() as tx:
        tx.prompts.touch(rollout_id, now)
        return _stored(tx, rollout_id)

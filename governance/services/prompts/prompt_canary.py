"""The prompt canary: a candidate template serves a growing, sticky share of targeting keys.

promote-prompt starts it once approvals are in: the candidate becomes approved (it now
serves users) and the gateway gives it `weight`% of targeting keys. Each step's verdict
(`prompt_canary_steps`) moves it to the next weight or rolls it back. At 100% the
canary waits for the caller to move the pointer (`prompt_registry.move_pointer_in`) and complete it
in the same transaction. Every change is one write transaction with its audit event.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta

from governance.bootstrap import Governance
from governance.domain.approvals import ApprovalRequest, RequestStatus
from governance.domain.errors import IllegalTransition, InvalidInput, PromptNotFound
from governance.domain.policy import Policy
from governance.domain.prompt_rollout import (
    PromptRollout,
    PromptRolloutStatus,
)
from governance.domain.prompts import PromptStatus, PromptVersion, check_move
from governance.services.trust.request_events import audit_request_event
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
    canary_event(
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
        return stored_in(tx, rollout_id)


def running(gov: Governance, prompt_id: str) -> PromptRollout | None:
    """The prompt's running canary, or None."""
    with gov.store.read() as tx:
        return tx.prompts.running_rollout(prompt_id)


def stored_in(tx: Transaction, rollout_id: str) -> PromptRollout:
    """The canary as stored in this transaction, or PromptNotFound."""
    found = tx.prompts.rollout_by_id(rollout_id)
    if found is None:
        raise PromptNotFound(f"unknown prompt canary {rollout_id!r}")
    return found


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
    canary_event(
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
        return stop_in(tx, stored_in(tx, rollout_id), now, why, actor)


def complete_in(
    tx: Transaction, rollout: PromptRollout, now: datetime, *, actor: str = ACTOR
) -> PromptRollout:
    """End a canary that reached 100% (the caller moves the pointer in this transaction)."""
    stored = stored_in(tx, rollout.id)
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
    canary_event(tx, "prompt.canary_completed", stored, now, actor, weight=stored.weight)
    return stored


def canary_event(
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
        return stored_in(tx, rollout_id)


def abandon_stale_prompts(gov: Governance, now: datetime) -> list[PromptRollout]:
    """Roll back prompt canaries whose run has been silent past a bake plus the grace."""
    bake = timedelta(minutes=gov.policy.prompts.canary.bake_minutes)
    grace = timedelta(minutes=gov.policy.canary.watchdog_grace_minutes)
    ended = []
    with gov.store.write() as tx:
        for rollout in tx.prompts.running_rollouts():
            if rollout.updated_at + bake + grace < now:
                since = rollout.updated_at.isoformat(timespec="seconds")
                why = f"abandoned: its promote-prompt run has been silent since {since}"
                stop_in(tx, rollout, now, why, "rollout-watchdog")
                ended.append(rollout)
    return ended


def ready_to_promote(rollout: PromptRollout) -> bool:
    """Whether every analysed weight passed: running at the last step (100%)."""
    at_last = rollout.step_index >= len(rollout.steps) - 1
    return rollout.status == PromptRolloutStatus.running and at_last

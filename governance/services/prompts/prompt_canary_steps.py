"""A prompt canary's steps: each weight's outcomes analysed, and the verdict that moves it.

After each bake the caller analyses the step (the model canary's statistics over the
renders' reported outcomes) and records the verdict: a pass moves to the next weight,
insufficient data buys a bounded number of extra bakes, a fail or the last extension rolls
back through `prompt_canary.stop_in`.
"""

from __future__ import annotations

from datetime import datetime

from governance.bootstrap import Governance
from governance.domain.policy_sections import CanaryDefaults, PromptCanaryDefaults
from governance.domain.predictions import Observation
from governance.domain.prompt_rollout import CANDIDATE, PromptRollout, PromptRolloutStatus
from governance.ml.canary_analysis import FAIL, INSUFFICIENT, PASS, StepVerdict, analyse_step
from governance.services.prompts.prompt_canary import (
    ACTOR,
    canary_event,
    ready_to_promote,
    stop_in,
    stored_in,
)
from governance.store.unit_of_work import Transaction


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


def record_verdict(
    gov: Governance, rollout: PromptRollout, step: StepVerdict, now: datetime
) -> PromptRollout:
    """Record a verdict: pass advances, insufficient extends then rolls back, fail rolls back.

    A verdict for a weight the canary has left (a re-run, a rollback meanwhile) changes nothing.
    """
    with gov.store.write() as tx:
        stored = stored_in(tx, rollout.id)
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
            canary_event(
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
    canary_event(
        tx, "prompt.canary_advanced", rollout, now, ACTOR,
        from_weight=before, weight=rollout.weight, ready_to_promote=ready_to_promote(rollout),
        metrics=rows,
    )  # fmt: skip

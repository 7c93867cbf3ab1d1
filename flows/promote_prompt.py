"""promote-prompt: requester check, preconditions, the prompt gate, approvals, pointer move.

The one door to a prompt's production pointer (a rollback by a verified ml_lead is the only
other move, and only to an earlier approved version). Waits on people suspend the run;
after each resume it runs again from the top and finds its evaluation and request again.
With `strategy="canary"` the gateway serves the candidate to a growing, sticky share of
targeting keys, and logged outcomes decide each step before the pointer moves.
Ends Promoted, PreconditionFailed, GateFailed, Rejected, Expired, Voided or RolledBack.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, Literal

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.states import Completed, Failed, State

from flows import run_parameters
from flows.approval import request_approval, spend_unread_answers
from flows.promote_model import _ENDED, _rejection, artifact_key
from governance.bootstrap import Governance, open_governance
from governance.domain.approvals import ApprovalRequest, RequestStatus, active_approvals
from governance.domain.errors import EvidenceChanged, GovernanceError, ParametersChanged
from governance.domain.identity import VerifiedActor
from governance.domain.prompt_gate import PromptGateDecision, prompt_gate_markdown
from governance.domain.prompt_rollout import PromptRollout, PromptRolloutStatus
from governance.domain.prompts import PointerMove, PromptEvaluation, PromptVersion
from governance.domain.run_parameters import check_unchanged
from governance.reports.prompt_form import prompt_form_markdown
from governance.services.promotion import approval_queue
from governance.services.prompts import (
    prompt_canary,
    prompt_canary_steps,
    prompt_evaluation,
    prompt_promotion,
    prompt_registry,
)

HEARTBEAT_SECONDS = 2.0


def _now() -> datetime:
    return datetime.now(UTC)


@task(name="prompt-preconditions", cache_policy=NO_CACHE)
def check_preconditions(
    gov: Governance, prompt_id: str, version: str, suite: str, own_request: str | None = None
) -> tuple[PromptVersion, Any]:
    """In review, a registered suite, no other request or canary under way."""
    return prompt_promotion.check_preconditions(
        gov, prompt_id=prompt_id, version=version, suite=suite, own_request=own_request
    )


@task(name="prompt-gate", cache_policy=NO_CACHE)
def prompt_gate(
    gov: Governance, found: PromptVersion, suite_row, target: dict | None,
    llm_model: str | None, actor: str, run_id: str,
) -> PromptEvaluation:  # fmt: skip
    """Run the suite on the candidate and production; publish the gate report."""
    config = prompt_evaluation.resolve_target(gov, target, llm_model)
    done = prompt_promotion.evaluate(
        gov, version=found, suite_row=suite_row, target=config, actor=actor, now=_now(),
        flow_run_id=run_id,
    )  # fmt: skip
    decision, (candidate, production) = _decision(done), prompt_evaluation.results_of(done)
    create_markdown_artifact(
        prompt_gate_markdown(decision, candidate, production),
        key=artifact_key("prompt-gate", found.prompt_id, found.version),
        description=f"Prompt gate for {found.ref}: {decision.summary()}",
    )
    return done


def _decision(done: PromptEvaluation) -> PromptGateDecision:
    return PromptGateDecision.model_validate(done.decision)


def _form(gov: Governance, found: PromptVersion, done: PromptEvaluation):
    with gov.store.read() as tx:
        held = tx.prompts.production(found.prompt_id)
        base = tx.prompts.get_version(found.prompt_id, held.version) if held else None
    diff = prompt_registry.unified_diff(base, found)
    candidate, production = prompt_evaluation.results_of(done)
    decision = _decision(done)

    def render(request: ApprovalRequest, refusal: str) -> str:
        return prompt_form_markdown(request, diff, decision, candidate, production, refusal=refusal)

    return render


@task(name="move-prompt-pointer", cache_policy=NO_CACHE)
def move_pointer(gov: Governance, request_id: str, actor: str) -> PointerMove:
    """Re-check the evidence, then mark the version approved and move the pointer."""
    gov.reload_policy()
    return prompt_promotion.complete(gov, request_id=request_id, actor=actor, now=_now())


@flow(name="promote-prompt", persist_result=True)
def promote_prompt(
    prompt_id: str,
    version: str,
    suite: str,
    target: dict[str, Any] | None = None,
    llm_model: str | None = None,
    strategy: Literal["direct", "canary"] = "direct",
    request_token: str = "",
    requested_by: str = "",
) -> State:
    """Gate, approve and move a prompt's production pointer; ends in a named state."""
    gov = open_governance()
    run_id = str(FlowRunContext.get().flow_run.id)
    # Read back from the API: someone may have changed them while the run was suspended.
    submitted = run_parameters.current(promote_prompt)
    try:
        requester = prompt_promotion.verify_requester(
            gov, token=request_token, requested_by=requested_by, prompt_id=prompt_id,
            version=version, flow_run_id=run_id, now=_now(), run_parameters=submitted,
        )  # fmt: skip
    except ParametersChanged as exc:
        try:
            return _close(gov, run_id, exc)
        finally:
            gov.close()
    except GovernanceError as exc:
        gov.close()
        return Failed(name="PreconditionFailed", message=str(exc))
    try:
        return _promote(
            gov, run_id, requester, prompt_id, version, suite, target, llm_model, strategy,
            submitted,
        )  # fmt: skip
    except GovernanceError as exc:
        return _close(gov, run_id, exc)
    finally:
        gov.close()


def _close(gov: Governance, run_id: str, exc: GovernanceError) -> State:
    """End in a named state and close this run's request and canary, so nothing stays open."""
    name = "Voided" if isinstance(exc, EvidenceChanged) else "PreconditionFailed"
    # The resume that brought the run here may carry a code it will now never record.
    spend_unread_answers(gov)
    stored = approval_queue.request_for_run(gov, run_id)
    if stored is not None:
        with gov.store.read() as tx:
            running = tx.prompts.rollout_for_request(stored.request.id)
        if running is not None and running.status == PromptRolloutStatus.running:
            prompt_canary.stop(gov, running.id, f"{name}: {exc}", "system", _now())
        approval_queue.cancel_request(gov, stored.request.id, f"{name}: {exc}", _now())
    return Failed(name=name, message=str(exc))


def _promote(
    gov: Governance, run_id: str, requester: VerifiedActor, prompt_id: str, version: str,
    suite: str, target: dict | None, llm_model: str | None, strategy: str, submitted: dict,
) -> State:  # fmt: skip
    stored = approval_queue.request_for_run(gov, run_id)
    if stored is None:
        found, suite_row = check_preconditions(gov, prompt_id, version, suite)
        done = prompt_gate(gov, found, suite_row, target, llm_model, requester.name, run_id)
        if not done.passed:
            decision = _decision(done)
            why = "; ".join(f"{c.name}: {c.reason}" for c in decision.failures)
            return Failed(name="GateFailed", message=f"{decision.summary()}: {why}")
        request = prompt_promotion.open_request(
            gov, version=found, evaluation=done, requester=requester, flow_run_id=run_id,
            now=_now(), run_parameters=submitted,
        )  # fmt: skip
        get_run_logger().info("approval request %s needs %s", request.id, dict(request.required))
    else:
        request = stored.request
        if stored.completed_at is not None:
            return Completed(name="Promoted", message=f"{prompt_id}@{version} is in production")
        if request.run_parameters is not None:
            # Every resume: the parameters must still be those the approvals are for.
            check_unchanged(request.run_parameters, submitted, "the request was made")
        found = prompt_registry.resolve(gov, f"{prompt_id}@{version}")
        if request.status == RequestStatus.open:
            check_preconditions(gov, prompt_id, version, suite, own_request=request.id)
        done = prompt_evaluation.load_evaluation(
            gov, request.evidence["evaluation_run_id"], found.ref
        )
    request = request_approval(gov, request, _form(gov, found, done))
    if request.status != RequestStatus.approved:
        if request.status == RequestStatus.rejected:
            return Failed(name="Rejected", message=_rejection(request))
        reason = approval_queue.closed_reason(gov, request.id)
        return Failed(name=_ENDED[request.status], message=reason or request.status.value)
    if strategy == "canary":
        ended = _canary(gov, request, found, requester.name)
        if ended is not None:
            return ended
    else:
        try:
            move_pointer(gov, request.id, requester.name)
        except EvidenceChanged as exc:
            return Failed(name="Voided", message=str(exc))
    _summary(request, found, done)
    return Completed(name="Promoted", message=f"{found.ref} is in production")


def _canary(
    gov: Governance, request: ApprovalRequest, found: PromptVersion, actor: str
) -> State | None:
    """Drive the canary; None once the pointer moved, else the end state."""
    with gov.store.write() as tx:
        held = tx.prompts.production(found.prompt_id)
        voided = prompt_promotion.recheck_in(tx, gov, request, "system", _now())
        if voided is None:
            rollout = prompt_canary.start_in(
                tx, request, found, held.version if held else "", gov.policy, _now()
            )
    if voided is not None:
        return Failed(name="Voided", message=str(voided))
    while True:
        rollout = prompt_canary.current(gov, rollout.id)
        if rollout.status == PromptRolloutStatus.completed:
            return None
        if rollout.status == PromptRolloutStatus.rolled_back:
            return _rolled_back(rollout)
        if prompt_canary.ready_to_promote(rollout):
            return _finish(gov, request, rollout, actor)
        if _bake(gov, rollout):
            _analyse(gov, rollout)


def _bake(gov: Governance, rollout: PromptRollout) -> bool:
    """Sleep out the step's bake; False if the canary ended meanwhile (a rollback)."""
    deadline = time.time() + gov.policy.prompts.canary.bake_minutes * 60
    while (left := deadline - time.time()) > 0:
        time.sleep(min(left, HEARTBEAT_SECONDS))
        # The watchdog rolls back a canary whose run stops beating (killed, lost).
        if prompt_canary.heartbeat(gov, rollout.id, _now()).status != PromptRolloutStatus.running:
            return False
    return True


@task(name="prompt-canary-analysis", cache_policy=NO_CACHE)
def _analyse(gov: Governance, rollout: PromptRollout) -> str:
    """Compare the candidate's logged outcomes with stable's; record and publish the verdict."""
    step = prompt_canary_steps.analyse(gov, rollout, _now())
    create_table_artifact(
        step.rows(),
        key=artifact_key("prompt-canary", rollout.prompt_id, rollout.candidate_version,
                         str(rollout.weight), str(len(rollout.verdicts))),
        description=(
            f"Prompt canary {rollout.prompt_id}@{rollout.candidate_version} at "
            f"{rollout.weight}%: {step.verdict}"
        ),
    )  # fmt: skip
    get_run_logger().info("prompt canary at %s%%: %s", rollout.weight, step.verdict)
    prompt_canary_steps.record_verdict(gov, rollout, step, _now())
    return step.verdict


def _finish(
    gov: Governance, request: ApprovalRequest, rollout: PromptRollout, actor: str
) -> State | None:
    """At 100% and passed: the pointer moves and the canary completes in one transaction."""
    with gov.store.write() as tx:
        voided = prompt_promotion.recheck_in(tx, gov, request, "system", _now())
        if voided is None:
            prompt_canary.complete_in(tx, rollout, _now())
            prompt_promotion.complete_in(tx, request, actor, _now())
    if voided is not None:
        prompt_canary.stop(gov, rollout.id, f"Voided: {voided}", "system", _now())
        return Failed(name="Voided", message=str(voided))
    return None


def _rolled_back(rollout: PromptRollout) -> State:
    last = rollout.verdicts[-1] if rollout.verdicts else {}
    return Failed(
        name="RolledBack",
        message=(
            f"{rollout.prompt_id}@{rollout.candidate_version} rolled back at {rollout.weight}%: "
            f"{last.get('reason') or last.get('verdict', 'stopped')}; "
            f"production stays {rollout.stable_version}"
        ),
    )


def _summary(request: ApprovalRequest, found: PromptVersion, done: PromptEvaluation) -> None:
    rows = [
        {"fact": "prompt", "value": found.ref},
        {"fact": "template digest", "value": found.template_digest},
        {"fact": "evaluation", "value": f"{done.id} ({_decision(done).summary()})"},
        {"fact": "evidence digest", "value": request.evidence_digest},
        {"fact": "requested by", "value": request.requested_by},
        *(
            {"fact": f"approved as {a.role}", "value": a.approver}
            for a in active_approvals(request)
        ),
    ]
    create_table_artifact(
        rows,
        key=artifact_key("prompt-promotion", found.prompt_id, found.version),
        description=f"{found.ref} is in production",
    )

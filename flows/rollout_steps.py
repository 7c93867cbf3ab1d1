"""promote-model's rollout strategies: canary steps with analysis, and blue/green switches.

Progress lives in the Rollout record, so a re-executed run (after a resume, a crash or a
retry) picks up at the step it was on. A held canary suspends for a verified lead's answer.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Literal

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.flow_runs import suspend_flow_run
from prefect.input import RunInput
from prefect.states import Failed, State
from pydantic import Field

from governance.bootstrap import Governance
from governance.domain.approvals import ApprovalRequest
from governance.domain.errors import GovernanceError
from governance.domain.identity import CODE_PATTERN, MAX_NAME, NAME_PATTERN
from governance.domain.rollout import Rollout, RolloutStatus
from governance.ml.canary_analysis import analyse_step
from governance.services.rollout import stopping, strategies
from governance.services.rollout.smoke import smoke_test
from governance.services.trust import identity
from governance.services.trust.roles import LEAD_ROLE, require_role

HEARTBEAT_SECONDS = 5.0
_ENDED = (RolloutStatus.rolled_back, RolloutStatus.abandoned)


def _now() -> datetime:
    return datetime.now(UTC)


def _key(*parts: object) -> str:
    """Prefect keys allow only lower-case letters, digits and dashes (semver has '+' too)."""
    return re.sub(r"[^a-z0-9-]+", "-", "-".join(str(p) for p in parts).lower()).strip("-")


class CanaryHoldInput(RunInput):
    """The form a held canary shows: a verified ml_lead continues it or rolls it back."""

    approver: str = Field(
        title="Your name",
        min_length=1,
        max_length=MAX_NAME,
        pattern=NAME_PATTERN,
        description="Your name as it appears in the roster; you must hold ml_lead.",
    )
    decision: Literal["continue", "roll back"] = Field(
        title="Decision", description="Continue to the next weight step, or roll back now."
    )
    code: str = Field(
        title="One-time code",
        pattern=CODE_PATTERN,
        description="The 6-digit code your authenticator app shows now (each is accepted once).",
    )
    notes: str = Field(
        default="", title="Notes", max_length=4000, description="Recorded in the audit trail."
    )


def run_strategy(
    gov: Governance,
    request: ApprovalRequest,
    *,
    strategy: str,
    endpoint: str | None,
    dataset: str,
    flow_run_id: str,
) -> State | None:
    """Drive the rollout; None when promote-and-archive may go ahead, else the end state."""
    try:
        found = strategies.start(
            gov, request, strategy=strategy, endpoint=endpoint, flow_run_id=flow_run_id, now=_now()
        )
    except GovernanceError as exc:
        # The routing moved while people decided: the approved request cannot be carried out.
        stopping.close_request(gov, request.id, f"rollout could not start: {exc}", _now())
        return Failed(name="PreconditionFailed", message=f"rollout could not start: {exc}")
    if strategy == "canary":
        return _canary(gov, found)
    return _blue_green(gov, found, dataset)


def _rolled_back(found: Rollout) -> State:
    last = found.verdicts[-1] if found.verdicts else {"verdict": found.status.value}
    return Failed(
        name="RolledBack",
        message=(
            f"{found.model_name}@{found.version} rolled back on {found.endpoint} at "
            f"{found.weight}%: {last.get('verdict')}; it stays in staging"
        ),
    )


def _canary(gov: Governance, found: Rollout) -> State | None:
    while True:
        found = strategies.current(gov, found.id)
        if found.status in _ENDED:
            return _rolled_back(found)
        if found.status == RolloutStatus.holding:
            _ask_lead(gov, found)
            continue
        if strategies.ready_to_promote(found):
            return None
        if _bake(gov, found):
            _analyse(gov, found)


def _bake(gov: Governance, found: Rollout) -> bool:
    """Sleep out the step's bake (extended by insufficient data); False if it ended early."""
    deadline = found.step_started_at.timestamp() + found.bake_seconds * (1 + found.extensions)
    while (left := deadline - time.time()) > 0:
        time.sleep(min(left, HEARTBEAT_SECONDS))
        found = strategies.heartbeat(gov, found, _now())
        if found.status != RolloutStatus.running:
            return False
    return True


@task(name="canary-analysis", cache_policy=NO_CACHE)
def _analyse(gov: Governance, found: Rollout) -> str:
    """Compare canary against stable over the step's window; record and publish the verdict."""
    now = _now()
    canary, stable = strategies.window(gov, found, now)
    step = analyse_step(
        canary,
        stable,
        weight=found.weight,
        planned_steps=strategies.analysed_steps(found),
        policy=gov.policy.canary,
    )
    rows = step.rows()
    create_table_artifact(
        rows,
        key=_key("canary", found.endpoint, found.version, found.weight, len(found.verdicts)),
        description=(
            f"Canary {found.model_name}@{found.version} on {found.endpoint} at "
            f"{found.weight}%: {step.verdict}"
        ),
    )
    get_run_logger().info("canary at %s%%: %s", found.weight, step.verdict)
    strategies.record_verdict(gov, found, rows, step.verdict, now)
    return step.verdict


def _ask_lead(gov: Governance, found: Rollout) -> None:
    """Suspend for a verified ml_lead: continue to the next step, or roll back."""
    last = found.verdicts[-1] if found.verdicts else {}
    following = found.steps[found.step_index + 1]
    after = "promotion to production" if following == 100 else f"the {following}% step"
    description = (
        f"## Canary held: {found.model_name} {found.version} on {found.endpoint}\n\n"
        f"At {found.weight}% the analysis had **insufficient data** after "
        f"{found.extensions} extended bakes. Continue to {after}, or roll back "
        "(weight 0; the version stays in staging).\n\n"
        + "\n".join(
            f"- {m['metric']}: {m['verdict']} (canary n={m['canary_n']}, stable n={m['stable_n']})"
            for m in last.get("metrics", [])
        )
    )
    form = CanaryHoldInput.with_initial_data(description=description, decision="roll back")
    answer = suspend_flow_run(
        wait_for_input=form, key=_key("canary-hold", found.id, len(found.verdicts))
    )
    try:
        person = identity.verify_code(gov, answer.approver, answer.code, now=_now())
        require_role(gov, person, LEAD_ROLE, "a canary decision")
    except GovernanceError as exc:
        get_run_logger().warning("canary hold answer refused: %s", exc)
        strategies.refuse_hold(gov, found, answer.approver, str(exc), _now())
        return
    strategies.decide_hold(gov, found, answer.decision, person.name, _now())


def _blue_green(gov: Governance, found: Rollout, dataset: str) -> State | None:
    """Smoke-test the idle slot through the gateway; a mismatch takes the candidate out."""
    found = strategies.current(gov, found.id)
    if found.status in _ENDED:
        return _rolled_back(found)
    problem = smoke_test(gov, found, dataset, _now())
    if problem:
        strategies.record_verdict(
            gov, found, [{"metric": "smoke", "detail": problem}], "fail", _now()
        )
        return _rolled_back(strategies.current(gov, found.id))
    return None

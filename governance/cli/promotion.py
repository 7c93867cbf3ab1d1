"""`governance promote`, `governance approvals pending` and `governance approve`.

These talk to Prefect through flows.promotion_runs; the import is deferred so the rest of
the CLI starts without loading Prefect.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table

from governance.cli.context import (
    console,
    current_actor,
    governance,
    handed_to_client,
    now,
)
from governance.domain.identity import NOT_VERIFIED

approvals_app = typer.Typer(help="Approval requests waiting on people.", no_args_is_help=True)


class Target(StrEnum):
    """Stages a promotion can aim at."""

    staging = "staging"
    production = "production"


class Strategy(StrEnum):
    """Rollout strategies."""

    direct = "direct"
    canary = "canary"
    blue_green = "blue_green"


class Role(StrEnum):
    """Approver roles."""

    ml_engineer = "ml_engineer"
    ml_lead = "ml_lead"
    risk_officer = "risk_officer"
    legal = "legal"


class Decision(StrEnum):
    """What an approver decides."""

    approve = "approve"
    reject = "reject"


def promote(
    name: str,
    version: str,
    dataset: Annotated[str | None, typer.Option(help="registered evaluation dataset")] = None,
    target: Annotated[Target, typer.Option(help="target stage")] = Target.production,
    strategy: Annotated[Strategy, typer.Option(help="rollout strategy")] = Strategy.direct,
    endpoint: Annotated[
        str | None, typer.Option(help="endpoint a canary or blue/green runs on")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="wait for the end")] = True,
    timeout: Annotated[
        float | None, typer.Option(help="seconds the approvals may take (at most the policy's)")
    ] = None,
    break_glass: Annotated[
        bool, typer.Option("--break-glass", help="emergency: skip gate and approvals (recorded)")
    ] = False,
    reason: Annotated[str, typer.Option(help="why (required with --break-glass)")] = "",
) -> int:
    """Start promote-model as the logged-in person; wait for the end unless --no-wait."""
    gov = governance()
    actor = current_actor(gov)
    if break_glass:
        return _break_glass(gov, actor, name, version, target, reason)
    from flows import promotion_runs
    from governance.domain.errors import InvalidInput

    if not dataset:
        raise InvalidInput("--dataset is required: name the registered evaluation dataset")
    if timeout is not None and timeout <= 0:
        raise InvalidInput(f"--timeout must be positive, got {timeout}")
    parameters = {
        "model": name,
        "version": version,
        "dataset": dataset,
        "target": target.value,
        "strategy": strategy.value,
        "endpoint": endpoint,
        "approval_timeout_seconds": timeout,
    }
    run = promotion_runs.submit_promotion(gov, actor, parameters, now=now())
    console.print(f"flow run {run.id} ({run.name}): {promotion_runs.ui_link(run.id)}")
    if not wait or handed_to_client(run.id, f"{name}@{version}", "Promoted"):
        return 0
    final = promotion_runs.wait_for_end(run.id)
    message = f": {final.state.message}" if final.state.message else ""
    console.print(f"{name}@{version}: {final.state.name}{message}")
    return 0 if final.state.name == "Promoted" else 1


def _break_glass(gov, actor, name: str, version: str, target: Target, reason: str) -> int:
    from governance.domain.errors import BreakGlassRefused
    from governance.services.promotion import break_glass

    if target != Target.production:
        raise BreakGlassRefused("break-glass promotes to production only")
    promoted, review = break_glass.break_glass(
        gov, model=name, version=version, actor=actor, reason=reason, now=now()
    )
    why = reason.strip()
    console.print(f"BREAK-GLASS: {promoted.ref} is now production (by {actor.name}: {why})")
    roles = ", ".join(review.required)
    console.print(
        f"retro-review {review.id} opened: needs {roles}; see `governance approvals pending`"
    )
    return 0


@approvals_app.command("pending")
def pending() -> None:
    """Suspended promotions and retirement reviews, held canaries, open and escalated
    retro-reviews, and versions the retirement audit asks their owners to re-validate."""
    from flows import promotion_runs
    from governance.services.monitoring import retirement_review
    from governance.services.promotion import approval_queue, retro_review
    from governance.services.rollout import strategies

    gov = governance()
    table = Table(title="approvals pending")
    # Ids are what people copy into `governance approve`: they must never wrap.
    table.add_column("id", no_wrap=True, min_width=36)
    table.add_column("waiting", no_wrap=True)
    for name in ("version", "target", "requested by", "waiting for", "expires"):
        table.add_column(name)
    table.add_column("identities")
    links = []
    for item in promotion_runs.paused_approvals(gov):
        r = item.request
        table.add_row(
            str(item.flow_run.id),
            "retirement review run" if r.kind == "retirement" else "promotion run",
            f"{r.model_name}@{r.version}",
            r.target_stage.value,
            r.requested_by,
            promotion_runs.waiting_roles(r),
            f"{r.expires_at:%Y-%m-%d %H:%M}",
            _identities(r),
        )
        links.append(f"{item.flow_run.id}: {item.link}")
    for r in approval_queue.open_retro_reviews(gov):
        table.add_row(
            r.id,
            "retro-review (break-glass)",
            f"{r.model_name}@{r.version}",
            r.target_stage.value,
            r.requested_by,
            promotion_runs.waiting_roles(r),
            "until closed",
            _identities(r),
        )
    for r in retro_review.escalated(gov):
        table.add_row(
            r.id,
            "retro-review rejected, escalated (break-glass)",
            f"{r.model_name}@{r.version}",
            r.target_stage.value,
            r.requested_by,
            f"ml_lead: {approval_queue.closed_reason(gov, r.id) or 'roll back'}",
            "until a lead acts",
            _identities(r),
        )
    for held in strategies.held(gov):
        table.add_row(
            held.flow_run_id,
            f"canary held at {held.weight}% (insufficient data)",
            f"{held.model_name}@{held.version}",
            f"production via {held.endpoint}",
            "promote-model",
            "ml_lead: continue or roll back",
            "until decided",
            "verified",
        )
        links.append(f"{held.flow_run_id}: {promotion_runs.ui_link(held.flow_run_id)}")
    for row, owner in retirement_review.revalidations(gov):
        table.add_row(
            row.id,
            "re-validate (retirement audit)",
            f"{row.model_name}@{row.version}",
            "-",
            "retirement-audit",
            f"its owner {owner}: {row.reason}",
            "next audit",
            "-",
        )
    console.print(table)
    for link in links:
        console.print(f"  {link}", soft_wrap=True)


def _identities(request) -> str:
    return NOT_VERIFIED if request.identity == "none" else "verified"


def approve(
    run_id: Annotated[str, typer.Argument(help="the suspended flow run id (or a retro-review id)")],
    approver: Annotated[str, typer.Option(help="your name as in the roster")],
    role: Annotated[Role, typer.Option(help="the role you decide in")],
    decision: Annotated[Decision, typer.Option(help="approve or reject")],
    code: Annotated[str, typer.Option(help="the one-time code from your authenticator")] = "",
    notes: Annotated[str, typer.Option(help="why (recorded)")] = "",
) -> None:
    """Answer a suspended promotion (or a retro-review); prints what was recorded."""
    from flows import promotion_runs
    from governance.services.promotion import approval_queue, decisions

    gov = governance()
    review = approval_queue.find_retro_review(gov, run_id)
    if review is not None:
        request = decisions.decide(
            gov,
            request_id=review.id,
            approver=approver,
            role=role.value,
            decision=decision.value,
            notes=notes,
            code=code,
            now=now(),
        )
        console.print(f"recorded: retro-review {review.id} is {request.status.value}")
        enacted = approval_queue.closed_reason(gov, review.id)
        if request.status.value == "rejected" and enacted:
            console.print(f"break_glass_rejection: {enacted}")
        return
    recorded = promotion_runs.resume_with_decision(
        gov,
        run_id,
        approver=approver,
        role=role.value,
        decision=decision.value,
        notes=notes,
        code=code,
    )
    if not recorded.accepted:
        promotion_runs.raise_refusal(recorded, gov)
    request = recorded.request
    waiting = promotion_runs.waiting_roles(request) or "nothing more"
    console.print(
        f"recorded: {decision.value} by {request.approvals[-1].approver} as {role.value} on "
        f"{request.model_name}@{request.version} -> {request.target_stage.value}; "
        f"request {request.status.value}, still needs {waiting}"
    )

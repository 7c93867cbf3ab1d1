"""`governance promote`, `governance approvals pending` and `governance approve`.

These talk to Prefect through flows.promotion_runs; the import is deferred so the rest of
the CLI starts without loading Prefect.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table

from governance.cli.context import console, governance

approvals_app = typer.Typer(help="Approval requests waiting on people.", no_args_is_help=True)


class Target(StrEnum):
    """Stages a promotion can aim at."""

    staging = "staging"
    production = "production"


class Strategy(StrEnum):
    """Rollout strategies."""

    direct = "direct"


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
    by: Annotated[str, typer.Option("--by", help="who requests the promotion")],
    dataset: Annotated[str, typer.Option(help="registered evaluation dataset")],
    target: Annotated[Target, typer.Option(help="target stage")] = Target.production,
    strategy: Annotated[Strategy, typer.Option(help="rollout strategy")] = Strategy.direct,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="wait for the end")] = True,
) -> int:
    """Start promote-model on the deployment; wait for the end unless --no-wait."""
    from flows import promotion_runs

    run = promotion_runs.submit_promotion(
        {
            "model": name,
            "version": version,
            "dataset": dataset,
            "requested_by": by,
            "target": target.value,
            "strategy": strategy.value,
        }
    )
    console.print(f"flow run {run.id} ({run.name}): {promotion_runs.ui_link(run.id)}")
    if not wait:
        return 0
    final = promotion_runs.wait_for_end(run.id)
    message = f": {final.state.message}" if final.state.message else ""
    console.print(f"{name}@{version}: {final.state.name}{message}")
    return 0 if final.state.name == "Promoted" else 1


@approvals_app.command("pending")
def pending() -> None:
    """Paused promotion runs, the roles they wait for, and their UI links."""
    from flows import promotion_runs

    table = Table(
        "flow run",
        "version",
        "target",
        "requested by",
        "waiting for",
        "expires",
        "UI",
        title="approvals pending",
    )
    for item in promotion_runs.paused_approvals(governance()):
        r = item.request
        table.add_row(
            str(item.flow_run.id),
            f"{r.model_name}@{r.version}",
            r.target_stage.value,
            r.requested_by,
            promotion_runs.waiting_roles(r),
            f"{r.expires_at:%Y-%m-%d %H:%M}",
            item.link,
        )
    console.print(table)


def approve(
    run_id: Annotated[str, typer.Argument(help="the paused flow run id")],
    approver: Annotated[str, typer.Option(help="your name as in the roster")],
    role: Annotated[Role, typer.Option(help="the role you decide in")],
    decision: Annotated[Decision, typer.Option(help="approve or reject")],
    notes: Annotated[str, typer.Option(help="why (recorded)")] = "",
) -> None:
    """Resume a paused promotion with a decision, validated exactly like the UI form."""
    from flows import promotion_runs

    request = promotion_runs.resume_with_decision(
        governance(),
        run_id,
        approver=approver,
        role=role.value,
        decision=decision.value,
        notes=notes,
    )
    console.print(
        f"{decision.value} by {approver} as {role.value} sent to run {run_id} "
        f"({request.model_name}@{request.version} -> {request.target_stage.value})"
    )

"""`governance endpoints|flags|rollback`: what clients call, and every change to its routing."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from governance.cli.context import console, current_actor, governance, now
from governance.domain.errors import InvalidInput
from governance.domain.rollout import FlagRule, RoutingSpec, SpecVersion
from governance.services.rollout import endpoint_rollback, endpoints, provenance, strategies

app = typer.Typer(help="Endpoints: bind to a model, read routing and its history.")
flags_app = typer.Typer(help="Feature flags: send matching requests to a promoted version.")


def _spec_line(spec: RoutingSpec) -> str:
    """The routing on one line: versions with weights, slots, flags, A/B split."""
    parts = [f"{v} {w}%" for v, w in spec.versions().items() if w]
    if spec.active_slot:
        slots = ", ".join(f"{s}={v or '-'}" for s, v in spec.slots.items())
        parts.append(f"slots {slots} (active {spec.active_slot})")
    parts += [f"flag {f.name}->{f.version}" for f in spec.flags]
    if spec.ab:
        parts.append(f"A/B {spec.ab.experiment_id[:8]}")
    return "; ".join(parts) or "nothing to serve yet"


def _print_spec(name: str, spec: SpecVersion) -> None:
    console.print(
        f"{name} spec {spec.number} ({spec.created_at.isoformat(timespec='seconds')}, "
        f"by {spec.actor}: {spec.reason}): {_spec_line(spec.spec)}"
    )


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Endpoint name, used in URLs.")],
    model: Annotated[str, typer.Option(help="The registered model it serves.")],
) -> None:
    """Bind a new endpoint to a model; it serves the model's production version."""
    gov = governance()
    spec = endpoints.create(gov, name, model=model, actor=current_actor(gov), now=now())
    _print_spec(name, spec)


@app.command("list")
def list_endpoints() -> None:
    """Every endpoint with its live routing."""
    table = Table("endpoint", "model", "spec", "routing")
    for view in endpoints.list_endpoints(governance()):
        table.add_row(
            view.endpoint.name,
            view.endpoint.model_name,
            str(view.spec.number),
            _spec_line(view.spec.spec),
        )
    console.print(table)


@app.command("show")
def show(
    name: str,
    as_json: Annotated[bool, typer.Option("--json", help="The spec as JSON.")] = False,
) -> None:
    """The endpoint's live routing spec."""
    view = endpoints.show(governance(), name)
    if as_json:
        doc = {
            "endpoint": name,
            "model": view.endpoint.model_name,
            "spec_number": view.spec.number,
            "spec": view.spec.spec.model_dump(mode="json"),
        }
        print(json.dumps(doc, indent=2))
        return
    console.print(f"{name} -> model {view.endpoint.model_name}")
    _print_spec(name, view.spec)


@app.command("history")
def history(name: str) -> None:
    """Every routing spec of the endpoint, oldest first."""
    table = Table("spec", "time", "actor", "reason", "routing")
    for spec in endpoints.history(governance(), name):
        table.add_row(
            str(spec.number),
            spec.created_at.isoformat(timespec="seconds"),
            spec.actor,
            spec.reason,
            _spec_line(spec.spec),
        )
    console.print(table)


@app.command("rollouts")
def rollouts(name: str) -> None:
    """The endpoint's rollouts: strategy, status, and every step's verdict with its figures."""
    table = Table("rollout", "version", "strategy", "status", "step", "verdict", "figures")
    for found in strategies.rollouts_of(governance(), name):
        for verdict in found.verdicts or [{"weight": found.weight, "verdict": "-"}]:
            figures = "; ".join(_figures(m) for m in verdict.get("metrics", []))
            table.add_row(
                found.id[:8],
                found.version,
                found.strategy,
                found.status.value,
                f"{verdict.get('weight')}%",
                str(verdict.get("verdict")),
                figures,
            )
    console.print(table)


def _number(value) -> str:
    return "-" if value is None else f"{value:.4g}"


def _figures(metric: dict) -> str:
    """One metric's verdict with canary and stable values, counts and p-value."""
    if "verdict" not in metric:
        return f"{metric['metric']}: {metric.get('detail', '')}"
    return (
        f"{metric['metric']} {metric['verdict']}: canary {_number(metric.get('canary_value'))} "
        f"vs stable {_number(metric.get('stable_value'))} "
        f"(n={metric.get('canary_n')}/{metric.get('stable_n')}, "
        f"p={_number(metric.get('p_value'))})"
    )


def _parse_time(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"--time {text!r} is not an ISO 8601 time") from None


@app.command("at")
def served_at(
    name: str,
    time: Annotated[str, typer.Option("--time", help="ISO 8601 time with a zone.")],
) -> None:
    """What served the endpoint at a time: versions, weights, approvers, policy, spec id."""
    answer = provenance.served_at(governance(), name, _parse_time(time))
    spec = answer.spec
    console.print(
        f"{name} at {answer.when.isoformat()}: spec {spec.number} (id {spec.id}), set "
        f"{spec.created_at.isoformat(timespec='seconds')} by {spec.actor}: {spec.reason}"
    )
    table = Table("version", "weight", "serves as", "approved by", "policy")
    for served in answer.versions:
        approvers = "; ".join(
            f"{a.target_stage}: " + ", ".join(f"{p} ({r})" for p, r in a.approvers)
            for a in served.approvals
        )
        policies = ", ".join(sorted({a.policy_version[:12] for a in served.approvals}))
        table.add_row(
            served.version,
            f"{served.weight}%",
            ", ".join(served.roles),
            approvers or "no approved promotion",
            policies or "-",
        )
    console.print(table)


def _csv(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _attributes(pairs: list[str]) -> dict[str, str]:
    found = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--attribute {pair!r} is not KEY=VALUE")
        found[key] = value
    return found


@flags_app.command("set")
def set_flag(
    endpoint: str,
    flag: Annotated[str, typer.Argument(help="Flag name.")],
    version: Annotated[str, typer.Option(help="Version matching requests go to.")],
    users: Annotated[str | None, typer.Option(help="Comma-separated user ids.")] = None,
    orgs: Annotated[str | None, typer.Option(help="Comma-separated org ids.")] = None,
    attribute: Annotated[list[str], typer.Option(help="KEY=VALUE that must match.")] = [],  # noqa: B006
    percentage: Annotated[float | None, typer.Option(help="Share of matching keys.")] = None,
) -> None:
    """Add or replace a flag rule (verified ml_lead).

    A version approved for production may be flagged to anyone; one that only passed
    staging to named --users, or to --orgs with a --percentage up to the policy's
    flags.max_unapproved_percentage; one whose production request was rejected, not at all.
    """
    try:
        rule = FlagRule(
            name=flag,
            version=version,
            user_ids=_csv(users),
            org_ids=_csv(orgs),
            attributes=_attributes(attribute),
            percentage=percentage,
        )
    except ValueError as exc:
        raise InvalidInput(f"flag {flag!r}: {exc.errors()[0]['msg']}") from None  # type: ignore[attr-defined]
    gov = governance()
    spec = endpoints.set_flag(gov, endpoint, rule, actor=current_actor(gov), now=now())
    _print_spec(endpoint, spec)


@flags_app.command("clear")
def clear_flag(endpoint: str, flag: str) -> None:
    """Remove a flag rule (verified ml_lead)."""
    gov = governance()
    spec = endpoints.clear_flag(gov, endpoint, flag, actor=current_actor(gov), now=now())
    _print_spec(endpoint, spec)


def rollback(
    endpoint: str,
    to: Annotated[str | None, typer.Option(help="A deprecated version in its grace.")] = None,
    reason: Annotated[str, typer.Option(help="Why; recorded in the audit trail.")] = "",
) -> None:
    """Roll an endpoint back at once: stop its canary, restore its previous spec, or --to."""
    gov = governance()
    spec = endpoint_rollback.rollback_endpoint(
        gov, endpoint, to=to, actor=current_actor(gov), reason=reason, now=now()
    )
    _print_spec(endpoint, spec)

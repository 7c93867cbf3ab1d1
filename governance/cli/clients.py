"""`governance clients create|list|revoke`: the gateway's client applications and their keys."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from governance.cli.context import console, current_actor, governance, now
from governance.domain.clients import ALL_ENDPOINTS, ROUTES
from governance.services.rollout import client_keys

app = typer.Typer(
    help="Client applications of the gateway: keys scoped to endpoints and routes.",
    no_args_is_help=True,
)


def _at(ts: datetime | None) -> str:
    return "-" if ts is None else f"{ts:%Y-%m-%d %H:%M} UTC"


def _endpoints(names: tuple[str, ...] | list[str]) -> str:
    if ALL_ENDPOINTS in names:
        return "all"
    return ", ".join(names) or "-"


@app.command("create")
def create(
    app_name: Annotated[str, typer.Argument(metavar="APP", help="The client application.")],
    endpoint: Annotated[
        list[str] | None,
        typer.Option(
            "--endpoint",
            help=f"an endpoint the key may call (repeatable); {ALL_ENDPOINTS!r} for every one",
        ),
    ] = None,
    route: Annotated[
        list[str] | None,
        typer.Option("--route", help=f"a route the key may call (repeatable): {', '.join(ROUTES)}"),
    ] = None,
) -> None:
    """Create a client key for APP (an admin's act); the key is shown once, only here."""
    gov = governance()
    issued = client_keys.create(
        gov,
        app_name,
        endpoints=list(endpoint or []),
        routes=list(route or []),
        actor=current_actor(gov),
        now=now(),
    )
    console.out(
        f"created client key {issued.id} for {issued.app}: endpoints"
        f" {_endpoints(issued.endpoints)}; routes {', '.join(issued.routes)}",
        highlight=False,
    )
    console.out(
        "the key is shown once (the gateway keeps only its sha256); send it as"
        " `Authorization: Bearer KEY` or `X-API-Key: KEY`:",
        highlight=False,
    )
    console.out(f"key: {issued.key}", highlight=False)


@app.command("list")
def list_keys() -> None:
    """Every client key: application, scope, who created it, and whether it opens anything."""
    table = Table("key id", "app", "endpoints", "routes", "status", "created", "revoked")
    for record in client_keys.keys(governance()):
        key = record.key
        table.add_row(
            key.id,
            key.app,
            _endpoints(key.endpoints),
            ", ".join(key.routes) or "-",
            record.status,
            f"{_at(key.created_at)} by {key.created_by}",
            "-" if key.revoked_at is None else f"{_at(key.revoked_at)} by {key.revoked_by}",
        )
    console.print(table)


@app.command("revoke")
def revoke(
    target: Annotated[
        str, typer.Argument(metavar="APP|KEY_ID", help="An application (all its keys) or a key id.")
    ],
) -> None:
    """Revoke a client key, or every live key of an application (an admin's act)."""
    gov = governance()
    revoked = client_keys.revoke(gov, target, actor=current_actor(gov), now=now())
    poll = gov.settings.gateway_key_poll_seconds
    console.out(
        f"revoked {', '.join(revoked)}; gateways refuse it within one key poll"
        f" (GOVERNANCE_GATEWAY_KEY_POLL_SECONDS, {poll:g} s here)",
        highlight=False,
    )
